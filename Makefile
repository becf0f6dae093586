# The two commands of the README, and a few helpers.
.PHONY: run test setup lint bench real-peer

run:  ## install, migrate, seed, start Redis, simulators, worker and web on :8080
	scripts/setup.sh
	.venv/bin/python scripts/run.py

test:  ## the whole test suite (PostgreSQL, then SQLite)
	scripts/test.sh

setup:
	scripts/setup.sh --dev

lint:
	.venv/bin/ruff check backoffice tests scripts

real-peer:  ## separate CI stage: one batch through the real Mojaloop SDK adapter and Testing Toolkit (npm)
	scripts/real_peer.sh
