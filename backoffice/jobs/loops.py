"""The background loops every worker runs beside its RQ jobs: one design, one list.

Each loop is a function that does one round of work, run once when the worker starts (so a
restarted worker at once takes over what a killed one left behind), then every few seconds
in a daemon thread. A loop with a `lock` does its later rounds on one worker at a time: the
first worker to set the Redis key for the interval does the round, the others skip it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask

from backoffice.extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loop:
    name: str
    interval_setting: str  # config key, in seconds
    round: Callable[[], object]  # one round; a truthy answer with `until_idle` means "more to do"
    lock: str | None = None
    until_idle: bool = False


def worker_loops() -> list[Loop]:
    """Every loop a worker starts, in one readable list."""
    from backoffice.jobs import batches, fines, webhooks

    return [
        Loop("batch-sweeper", "BATCH_SWEEP_SECONDS", batches.sweep),
        Loop("fines-dispatcher", "FINES_DISPATCH_SECONDS", fines.dispatch, until_idle=True),
        Loop("fines-sweeper", "FINES_SWEEP_SECONDS", fines.sweep, lock=fines.SWEEP_LOCK),
        Loop("webhooks", "WEBHOOK_DELIVERY_SECONDS", webhooks.deliver_round, until_idle=True),
    ]


def start_worker_loops(app: Flask, loops: list[Loop] | None = None) -> threading.Event:
    """Start each loop in a daemon thread; setting the returned event stops them all."""
    stop = threading.Event()
    for loop in worker_loops() if loops is None else loops:
        threading.Thread(target=_run_forever, args=(app, loop, stop), name=loop.name, daemon=True).start()
    return stop


def _run_forever(app: Flask, loop: Loop, stop: threading.Event) -> None:
    interval = float(app.config[loop.interval_setting])
    first = True
    while True:
        _one_round(app, loop, interval, locked=not first)
        first = False
        if stop.wait(interval):
            return


def _one_round(app: Flask, loop: Loop, interval: float, locked: bool) -> None:
    """One round inside the app context; an error is logged and the next round retries."""
    with app.app_context():
        try:
            if locked and loop.lock and not _take_lock(app, loop.lock, interval):
                return
            report = loop.round()
            while loop.until_idle and report:
                report = loop.round()
            if not loop.until_idle and _worth_logging(report):
                log.info("%s: %s", loop.name, report)
        except Exception:  # noqa: BLE001 - keep looping; the next round retries
            log.exception("%s failed", loop.name)
        finally:
            db.session.remove()


def _worth_logging(report: object) -> bool:
    """A round that did something: a count above zero, or a report with one."""
    if isinstance(report, dict):
        return any(report.values())
    return bool(report)


def _take_lock(app: Flask, key: str, interval: float) -> bool:
    """One round per interval across all workers: the first to set the key does it."""
    owner = f"{os.uname().nodename}:{os.getpid()}"
    return bool(app.get_queue().connection.set(key, owner, nx=True, px=int(interval * 900)))
