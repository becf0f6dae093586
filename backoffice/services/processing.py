"""Paying an approved batch's rows through the Mojaloop SDK adapter (chunks, leases, settlement)."""

from __future__ import annotations


def start_processing(batch_id: int) -> None:
    """Queue the processing of an approved batch; called after the approval is committed."""
