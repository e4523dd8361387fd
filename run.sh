#!/usr/bin/env bash
# Set up (first time only) and start the bot on its default SQLite file ./thidua.db.
# Needs THIDUA_TELEGRAM__TOKEN in the environment. Extra arguments go to `thidua run`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/thidua run "$@"
