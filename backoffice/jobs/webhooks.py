"""Webhooks in the worker: one loop round reads new events and sends the deliveries that are due."""

from __future__ import annotations

from backoffice.services import webhooks


def deliver_round() -> int:
    """Read new batch and fines events, then POST what is due (retries included)."""
    return webhooks.run_round()
