"""Leases: which job holds which rows, kept alive in Redis while the job lives.

A job claims rows under its owner name and keeps `backoffice:lease:<owner>` alive; when
its process dies the key expires, and the sweep treats the rows it held as abandoned. The
owner name also says where the job runs (host, PID namespace, pid): a sweep running there
sees at once that the process is gone, without waiting for the key to expire.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import update

from backoffice.extensions import db
from backoffice.jobs import queue
from backoffice.models.base import utcnow
from backoffice.models.batches import RowStatus
from backoffice.services.bulk.outcomes import ROWS

log = logging.getLogger(__name__)

LEASE_PREFIX = "backoffice:lease:"


class LeaseKeeper:
    """Keeps the Redis lease keys of the jobs running in this process alive.

    A key lives BATCH_LEASE_SECONDS and is refreshed every third of that; when the process
    dies (kill -9) its keys expire and the sweep takes its rows over.
    """

    def __init__(self) -> None:
        self._owners: dict[str, tuple] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, owner: str, redis, seconds: float) -> None:
        redis.set(LEASE_PREFIX + owner, "1", px=int(seconds * 1000))
        with self._lock:
            self._owners[owner] = (redis, seconds)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._refresh, name="lease-keeper", daemon=True)
                self._thread.start()

    def drop(self, owner: str) -> None:
        with self._lock:
            held = self._owners.pop(owner, None)
        if held:
            held[0].delete(LEASE_PREFIX + owner)

    def _refresh(self) -> None:
        while True:
            with self._lock:
                owners = list(self._owners.items())
            interval = min((s for _, (_, s) in owners), default=3.0) / 3
            for owner, (redis, seconds) in owners:
                try:
                    redis.set(LEASE_PREFIX + owner, "1", px=int(seconds * 1000))
                except Exception:  # Redis hiccup: the next round retries
                    log.exception("lease refresh failed for %s", owner)
            time.sleep(max(interval, 0.2))


lease_keeper = LeaseKeeper()


def new_owner() -> str:
    """A lease owner name: the RQ job (if any), a nonce, where it runs and its process."""
    from rq import get_current_job

    job = get_current_job()
    base = job.id if job is not None else "inline"
    return f"{base}.{uuid.uuid4().hex[:8]}@{_place()}:{os.getpid()}"


@functools.cache
def _place() -> str:
    """This host and PID namespace: where a pid names one process (containers share hosts'
    names less than their namespaces)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]")
    except OSError:  # no /proc: pids are not looked at
        namespace = "-"
    return f"{socket.gethostname()[:40]}/{namespace}"


def _process_gone(owner: str) -> bool:
    """Whether the owner ran here (same host and PID namespace) in a process that is gone
    (no such pid, or a zombie). Anything uncertain is "not gone": the key's expiry decides."""
    where, _, pid = owner.rpartition(":")
    place = where.rpartition("@")[2]
    if not pid.isdigit() or place.endswith("/-") or place != _place():
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")  # killed, not yet reaped


def hold(owner: str) -> None:
    """Take the lease (kept alive by this process) and note it on the running RQ job."""
    lease_keeper.hold(owner, queue.connection(), float(current_app.config["BATCH_LEASE_SECONDS"]))
    _note_owner(owner)


def _note_owner(owner: str) -> None:
    """Remember the lease owner on the RQ job so the sweep can tell if the job is alive."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta["owner"] = owner
        job.save_meta()


def live_owners(owners: Iterable[str]) -> set[str]:
    """The owners whose lease key still exists (one Redis round trip) and whose process, if
    it ran on this machine, is still there.

    A Redis younger than a lease (restarted, or failed over to a replica without the keys)
    lost keys that had not expired: a missing key then says nothing, and only a process seen
    gone on this machine is dead. Their keepers put the keys back within a third of a lease."""
    owners = [o for o in owners if o and not _process_gone(o)]
    if not owners:
        return set()
    pipe = queue.connection().pipeline()
    pipe.info("server")
    for owner in owners:
        pipe.exists(LEASE_PREFIX + owner)
    server, *keys = pipe.execute(raise_on_error=False)  # one round trip
    for answer in keys:
        if isinstance(answer, Exception):
            raise answer
    if _redis_uptime(server) < float(current_app.config["BATCH_LEASE_SECONDS"]):
        return set(owners)
    return {owner for owner, alive in zip(owners, keys, strict=True) if alive}


def _redis_uptime(server) -> float:
    """Seconds since the Redis server started, from its INFO answer (infinite when INFO was
    refused, as a managed Redis may: the keys are then trusted as they are)."""
    if not isinstance(server, dict):
        return float("inf")
    return float(server.get("uptime_in_seconds", float("inf")))


def job_alive(job_id: str | None) -> bool:
    """Whether an RQ job is waiting to run, or running under a live lease."""
    if not job_id:
        return False
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        job = Job.fetch(job_id, connection=queue.connection())
        status = job.get_status()
    except NoSuchJobError:
        return False
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED):
        return True
    if status == JobStatus.STARTED:
        owner = job.meta.get("owner")
        if owner:
            return bool(live_owners([owner]))
        started = job.started_at
        grace = float(current_app.config["BATCH_LEASE_SECONDS"])
        return started is None or (time.time() - started.timestamp()) < grace
    return False


def give_up_rows(owner: str) -> None:
    """After a crash inside a job: rows we were sending have an unknown outcome."""
    try:
        now = utcnow()
        db.session.execute(
            update(ROWS)
            .where(ROWS.c.lease_owner == owner, ROWS.c.status == RowStatus.SENDING.value)
            .values(status=RowStatus.UNKNOWN.value, next_check_at=now, updated_at=now)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not mark the rows of %s unknown (the sweep will)", owner)


def release(owner: str) -> None:
    """Let go of the UNKNOWN rows we still hold (so that a settle job can claim them), then
    of the lease itself."""
    try:
        db.session.execute(
            update(ROWS)
            .where(ROWS.c.lease_owner == owner, ROWS.c.status == RowStatus.UNKNOWN.value)
            .values(lease_owner=None)
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not release the lease of %s (it expires)", owner)
    lease_keeper.drop(owner)
