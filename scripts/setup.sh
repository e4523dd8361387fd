#!/usr/bin/env bash
# Idempotent set-up: a virtualenv in .venv with the project installed (editable).
# Re-installs only when pyproject.toml changed. Usage: scripts/setup.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON=$candidate
      break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "Cần Python 3.11 trở lên / Python 3.11 or newer is required." >&2
  exit 1
fi

extras=""
[ "${1:-}" = "dev" ] && extras="[dev]"
stamp=".venv/.setup-stamp"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)$extras"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
have="$(cat "$stamp" 2>/dev/null || true)"
# A dev install is a superset: ./run.sh after ./test.sh installs nothing more.
if [ "$have" != "$want" ] && [ "$have" != "${want%\[dev\]}[dev]" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".$extras"
  echo "$want" > "$stamp"
fi
