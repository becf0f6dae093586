"""RQ entry points for bulk payments: they take ids and call the bulk services."""

from __future__ import annotations

from backoffice.services.bulk import chunks
from backoffice.services.bulk import sweep as bulk_sweep


def process_chunk(batch_id: int, first_id: int, last_id: int) -> dict:
    """Pay one chunk of a batch (rows first_id..last_id that are still PENDING)."""
    return chunks.process_chunk(batch_id, first_id, last_id)


def settle_batch(batch_id: int) -> None:
    """Settle a batch's UNKNOWN rows that no job holds (queued by the sweep)."""
    chunks.settle_batch(batch_id)


def sweep() -> dict:
    """Take over dead jobs' rows and re-queue lost chunks (also every worker's batch-sweeper loop)."""
    return bulk_sweep.sweep()
