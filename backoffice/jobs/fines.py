"""RQ entry points of the fines saga: take ids, call the saga service, re-enqueue themselves.

Waiting strategy: a job sleeps inline only for short waits (FINES_INLINE_WAIT_SECONDS);
a longer wait (status checks with backoff after a 504, a late partner write) is handed to
RQ's scheduler with `enqueue_in`, so no worker is parked for 10 s × many on one payment.
`flask worker` runs with_scheduler=True. A periodic sweep re-enqueues payments whose job
was lost (worker killed, Redis emptied): their lease has expired and their next attempt
is overdue.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from flask import Flask, current_app

from backoffice.services import fines_saga

log = logging.getLogger(__name__)

JOB_TIMEOUT = 900
SWEEP_KEY = "fines:sweep-chain"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue_payment(payment_id: str, delay: float | None = None) -> None:
    """Queue the saga of one payment, now or after `delay` seconds."""
    queue = current_app.get_queue()
    if delay and delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), run_payment, payment_id, job_timeout=JOB_TIMEOUT)
    else:
        queue.enqueue(run_payment, payment_id, job_timeout=JOB_TIMEOUT)


def run_payment(payment_id: str) -> None:
    """Advance one payment; come back later if it is waiting on a partner."""
    wait = fines_saga.advance(payment_id, _owner())
    if wait is not None:
        enqueue_payment(payment_id, wait)
    run_callback(payment_id)


def run_callback(payment_id: str) -> None:
    """Send the client's callback if one is due; retried with backoff by RQ's scheduler."""
    delay = fines_saga.send_callback(payment_id)
    if delay is not None:
        current_app.get_queue().enqueue_in(timedelta(seconds=delay), run_callback, payment_id)


def sweep(chain_token: str | None = None) -> int:
    """Re-enqueue payments and callbacks that nobody is working on; keeps its own periodic chain."""
    config = current_app.config
    interval = config["FINES_SWEEP_SECONDS"]
    queue = current_app.get_queue()
    payment_ids = fines_saga.overdue_payments(grace_seconds=interval)
    for payment_id in payment_ids:
        queue.enqueue(run_payment, payment_id, job_timeout=JOB_TIMEOUT)
    fines_saga.mark_requeued(payment_ids, config["FINES_LEASE_SECONDS"])
    for payment_id in fines_saga.overdue_callbacks(grace_seconds=interval):
        queue.enqueue(run_callback, payment_id)
    if payment_ids:
        log.info("fines sweep: %d payment(s) re-enqueued", len(payment_ids))
    if chain_token is not None:
        # Only the chain whose token is in Redis goes on, so there is one chain at a time.
        redis = queue.connection
        current = redis.get(SWEEP_KEY)
        if current is not None and current.decode() == chain_token:
            redis.set(SWEEP_KEY, chain_token, ex=int(interval * 4) + 5)
            queue.enqueue_in(timedelta(seconds=interval), sweep, chain_token)
    return len(payment_ids)


def on_worker_startup(app: Flask) -> None:
    """Before a worker starts: pick up payments left behind, and make sure the sweep chain runs."""
    with app.app_context():
        sweep()
        queue = app.get_queue()
        token = uuid.uuid4().hex
        interval = app.config["FINES_SWEEP_SECONDS"]
        if queue.connection.set(SWEEP_KEY, token, nx=True, ex=int(interval * 4) + 5):
            queue.enqueue_in(timedelta(seconds=interval), sweep, token)
