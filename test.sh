#!/usr/bin/env bash
# Set up (first time only) and run the whole check: lint, format, types, every test tier.
# PostgreSQL tests use THIDUA_TEST_PG_URL (default: postgres@127.0.0.1:5432/test); outside
# CI they skip when it is unreachable, in CI (CI=true) they must run.
# Extra arguments go to pytest, e.g. ./test.sh -k invites
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
