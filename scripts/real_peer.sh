#!/usr/bin/env bash
# Real-peer stage: install the real Mojaloop SDK scheme adapter and Testing Toolkit from npm
# (cached), then pay one small batch through them (both accept modes): COMPLETED rows and one
# 3204 failure. Separate from `make test` because the first install takes several minutes.
# Usage: scripts/real_peer.sh   (REAL_PEER_CACHE overrides the cache folder)
set -euo pipefail
cd "$(dirname "$0")/.."
export REAL_PEER_CACHE="${REAL_PEER_CACHE:-$HOME/.cache/backoffice-real-peer}"
scripts/real_peer_install.sh
export REAL_PEER_DIR="$REAL_PEER_CACHE"
TEST_DB="${TEST_DB:-postgres}" .venv/bin/python -m pytest -q -p no:randomly tests/test_mojaloop_real_peer.py -rs "$@"
