"""Email notifications about batches, sent from RQ jobs so that no request waits on SMTP.

Each function is called by a service AFTER its transaction is committed.
"""

from __future__ import annotations


def batch_submitted(batch_id: int) -> None:
    """Tell the organisation's other gestionnaires that a batch waits for their approval."""


def batch_approved(batch_id: int) -> None:
    """Tell the uploader that their batch was approved."""


def batch_rejected(batch_id: int) -> None:
    """Tell the uploader that their batch was rejected, with the reason."""


def batch_finished(batch_id: int) -> None:
    """Tell the uploader that their batch is finished, with its counts."""
