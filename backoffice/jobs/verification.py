"""RQ entry point of payee verification: takes a batch id and calls the service."""

from __future__ import annotations

from backoffice.services.bulk import verification


def verify_batch(batch_id: int) -> dict:
    """Look up every valid row of a draft through GET /parties (restartable: done rows are kept)."""
    return verification.run_verification(batch_id)
