"""RQ entry points of the fines saga: take ids, call services/fines, re-enqueue themselves.

Waiting strategy: a job sleeps inline only for short waits (FINES_INLINE_WAIT_SECONDS);
a longer wait (status checks with backoff after a 504, a late partner write) is handed to
RQ's scheduler with `enqueue_in`, so no worker is parked for 10 s × many on one payment.
`flask worker` runs with_scheduler=True.

Two of the worker loops (jobs/loops.py) find work in the database:
- the dispatcher (every FINES_DISPATCH_SECONDS) hands new payments to RQ: the API request
  only stores a payment, so its answer never waits on Redis, and a payment accepted while
  Redis is down is dispatched once it is back (a transactional outbox);
- the sweeper (every FINES_SWEEP_SECONDS) re-enqueues payments whose job was lost (worker
  killed, Redis emptied, scheduler stalled): their lease has expired and their next
  attempt is overdue.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from flask import current_app

from backoffice.services.fines import callbacks, saga
from backoffice.services.fines import dispatch as fines_dispatch

log = logging.getLogger(__name__)

JOB_TIMEOUT = 900
SWEEP_LOCK = "fines:sweep-lock"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue_payment(payment_id: str, delay: float | None = None) -> None:
    """Queue the saga of one payment, now or after `delay` seconds."""
    queue = current_app.get_queue()
    if delay and delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), run_payment, payment_id, job_timeout=JOB_TIMEOUT)
    else:
        queue.enqueue(run_payment, payment_id, job_timeout=JOB_TIMEOUT)


def dispatch() -> int:
    """Hand the payments the API stored since the last round to RQ (one Redis round trip)."""
    payment_ids = fines_dispatch.take_new_payments()
    # Taken but not enqueued (Redis down right now): the sweep enqueues them once overdue.
    _enqueue_payments(payment_ids)
    return len(payment_ids)


def _enqueue_payments(payment_ids: list[str]) -> None:
    """Queue the saga of each payment, all in one Redis round trip."""
    if not payment_ids:
        return
    queue = current_app.get_queue()
    with queue.connection.pipeline() as pipe:
        for payment_id in payment_ids:
            queue.enqueue(run_payment, payment_id, job_timeout=JOB_TIMEOUT, pipeline=pipe)
        pipe.execute()


def run_payment(payment_id: str) -> None:
    """Advance one payment; come back later if it is waiting on a partner."""
    wait = saga.advance(payment_id, _owner())
    if wait is not None:
        enqueue_payment(payment_id, wait)
    run_callback(payment_id)


def run_callback(payment_id: str) -> None:
    """Send the client's callback if one is due; retried with backoff by RQ's scheduler."""
    delay = callbacks.send_callback(payment_id)
    if delay is not None:
        current_app.get_queue().enqueue_in(timedelta(seconds=delay), run_callback, payment_id)


def sweep() -> int:
    """Re-enqueue payments and callbacks that nobody is working on (their job was lost)."""
    config = current_app.config
    interval = config["FINES_SWEEP_SECONDS"]
    queue = current_app.get_queue()
    # Overdue by three sweep intervals: a job that is merely queued behind others is left alone.
    payment_ids = fines_dispatch.overdue_payments(grace_seconds=3 * interval)
    fines_dispatch.mark_requeued(payment_ids)
    _enqueue_payments(payment_ids)
    for payment_id in fines_dispatch.overdue_callbacks(grace_seconds=3 * interval):
        queue.enqueue(run_callback, payment_id)
    if payment_ids:
        log.info("fines sweep: %d payment(s) re-enqueued", len(payment_ids))
    return len(payment_ids)
