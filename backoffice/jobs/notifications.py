"""RQ jobs that send the batch notifications (see services/notifications.py)."""

from __future__ import annotations

import logging

from backoffice.extensions import db
from backoffice.jobs import queue
from backoffice.models.batches import Batch
from backoffice.services import notifications
from backoffice.services.mail import send_email

log = logging.getLogger(__name__)


def notify_batch(kind: str, batch_id: int) -> int:
    """Write one message per recipient and queue each as its own job (a failed send is
    retried alone, so nobody receives the same message twice). Returns the number queued."""
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        log.warning("notification %s: batch %s does not exist", kind, batch_id)
        return 0
    queued = 0
    for user in notifications.recipients(kind, batch):
        subject, body = notifications.compose(kind, batch, user)
        queue.enqueue(send_mail, user.email, subject, body, retry=notifications.retry_policy(), job_timeout=60)
        queued += 1
    db.session.commit()  # end the read transaction; the worker's session stays usable
    return queued


def send_mail(to: str, subject: str, body: str) -> None:
    """One email through SMTP (or the development outbox); an error makes RQ retry it."""
    send_email(to, subject, body)
