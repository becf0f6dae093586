#!/usr/bin/env bash
# The whole test suite: on PostgreSQL (a throw-away cluster), then on SQLite.
# Usage: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
echo "== PostgreSQL"
TEST_DB=postgres python -m pytest "$@"
echo "== SQLite"
TEST_DB=sqlite python -m pytest -m "not browser and not slow" "$@"
