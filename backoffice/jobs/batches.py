"""RQ entry points for bulk payments: they take ids and call the services of services/bulk/."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from backoffice.extensions import db
from backoffice.services.bulk import chunks
from backoffice.services.bulk import sweep as bulk_sweep

log = logging.getLogger(__name__)


def process_chunk(batch_id: int, first_id: int, last_id: int) -> dict:
    """Pay one chunk of a batch (rows first_id..last_id that are still PENDING)."""
    return chunks.process_chunk(batch_id, first_id, last_id)


def settle_batch(batch_id: int) -> None:
    """Settle a batch's UNKNOWN rows that no job holds (queued by the sweep)."""
    chunks.settle_batch(batch_id)


def sweep() -> dict:
    """Take over dead jobs' rows and re-queue lost chunks (also run by every worker's timer)."""
    return bulk_sweep.sweep()


def start_sweeper(app: Flask) -> threading.Thread:
    """A worker startup hook: sweep now, then every BATCH_SWEEP_SECONDS, in a daemon thread.

    Running it at startup is what makes a restarted worker finish a batch that a killed
    one left behind.
    """

    def loop() -> None:
        interval = float(app.config["BATCH_SWEEP_SECONDS"])
        while True:
            with app.app_context():
                try:
                    report = bulk_sweep.sweep()
                    if any(report.values()):
                        log.info("sweep: %s", report)
                except Exception:
                    log.exception("sweep failed")
                finally:
                    db.session.remove()
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="batch-sweeper", daemon=True)
    thread.start()
    return thread
