"""The one way services and jobs put work on the RQ queue.

A job is named by its dotted path ("backoffice.jobs.batches.process_chunk"), so a service
that queues a job never imports the jobs package (which imports the services): no cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from flask import current_app
from rq import Queue
from rq.job import Job

# A job already on its way under this id is not queued again (see `enqueue(..., once=True)`).
_WAITING = ("queued", "started", "scheduled")


def queue() -> Queue:
    """The application's RQ queue."""
    return current_app.get_queue()


def enqueue(
    func: str | Callable, *args: Any, delay: float | None = None, once: bool = False, **opts: Any
) -> Job | None:
    """Queue `func(*args)` now, or after `delay` seconds; `opts` are RQ's (job_id, job_timeout,
    retry, result_ttl, failure_ttl, description …).

    With `once=True` (and a `job_id`), nothing is queued while a job of that id is still
    waiting or running, and None is returned: repeated triggers do not pile up copies.
    """
    rq_queue = queue()
    if once:
        waiting = rq_queue.fetch_job(opts["job_id"])
        if waiting is not None and waiting.get_status(refresh=False) in _WAITING:
            return None
    if delay and delay > 0:
        return rq_queue.enqueue_in(timedelta(seconds=delay), func, *args, **opts)
    return rq_queue.enqueue(func, *args, **opts)


def enqueue_many(func: str | Callable, arg_lists: Iterable[tuple], pipeline=None, **opts: Any) -> list[Job]:
    """Queue `func(*args)` for each args, in one Redis round trip (or in the caller's pipeline,
    which the caller then executes). `opts` are shared by every job; `description` may be a
    callable of the args."""
    rq_queue = queue()
    describe = opts.pop("description", None)
    if "job_timeout" in opts:  # the name `enqueue` takes; RQ's prepare_data calls it `timeout`
        opts["timeout"] = opts.pop("job_timeout")
    datas = [
        Queue.prepare_data(
            func,
            args=args,
            description=describe(*args) if callable(describe) else describe,
            **opts,
        )
        for args in arg_lists
    ]
    if not datas:
        return []
    if pipeline is not None:
        return rq_queue.enqueue_many(datas, pipeline=pipeline)
    with rq_queue.connection.pipeline() as pipe:
        jobs = rq_queue.enqueue_many(datas, pipeline=pipe)
        pipe.execute()
    return jobs


def connection():
    """The Redis connection behind the queue (leases, locks, the chunk map)."""
    return queue().connection
