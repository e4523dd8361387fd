#!/usr/bin/env bash
# Set up (first time only) and run the whole check: lint, format, types, every test tier
# (unit, services, handlers, e2e over real HTTP).
# PostgreSQL tests use THIDUA_TEST_PG_URL (default: postgres@127.0.0.1:5432/test); outside
# CI they skip when it is unreachable, in CI (CI=true) they must run.
# Extra arguments go to pytest, e.g. ./test.sh -k invites
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh dev
# The e2e tier runs the Bot API emulator (npm telegram-test-api, pinned in tests/e2e with its
# lock file); installed again only when the lock file changes. Without Node the e2e tests
# skip, saying why; in CI they must run.
if command -v npm >/dev/null 2>&1; then
  lock=tests/e2e/package-lock.json
  stamp=tests/e2e/node_modules/.thidua-stamp
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
  fi
elif [ "${CI:-}" = "true" ]; then
  echo "CI runs the e2e tier: Node.js and npm are required." >&2
  exit 1
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
