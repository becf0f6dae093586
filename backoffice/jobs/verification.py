"""RQ entry points of payee verification: take a batch id (and a chunk) and call the service."""

from __future__ import annotations

from backoffice.services.bulk import verification


def verify_chunk(batch_id: int, first_id: int, last_id: int) -> dict:
    """Look up a chunk of a draft's valid rows through GET /parties (restartable: done rows are kept)."""
    return verification.run_verification(batch_id, first_id, last_id)


def verify_batch(batch_id: int) -> dict:
    """The whole draft in one job (jobs queued before verification was cut into chunks)."""
    return verification.run_verification(batch_id)


def verify_retries(batch_id: int, rows: list) -> dict:
    """Rows a verification job left waiting for their next try: [(row id, deadline, wait)]."""
    return verification.run_verification(batch_id, retry=[tuple(r) for r in rows])
