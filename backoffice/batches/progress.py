"""Live progress of a batch: the HTMX fragment polled by the batch page.

Also wires the processing area into the worker: the sweep starts with every worker
(`worker_startup` hook) and `flask batches sweep` runs it once by hand.
"""

from __future__ import annotations

import click
from flask import render_template, request

from backoffice.batches.views import bp
from backoffice.models.batches import Batch, BatchStatus
from backoffice.security import get_for_org, member_required
from backoffice.services.bulk import sweep
from backoffice.services.bulk.progress import progress

# htmx stops polling when a response carries this status.
STOP_POLLING = 286


@bp.get("/<int:batch_id>/progress", endpoint="progress")
@member_required
def progress_fragment(batch_id: int):
    """Counts by status, a bar, throughput and time left; 286 once there is nothing to follow."""
    batch = get_for_org(Batch, batch_id)
    html = render_template("batches/_progress.html", batch=batch)
    moving = batch.status in (BatchStatus.APPROVED.value, BatchStatus.PROCESSING.value)
    if moving:
        return html, 200
    headers = {}
    if request.headers.get("HX-Request"):
        # The batch just ended under a polling page: reload it, so that the status, the
        # statistics, the rows and the timeline around the bar show the final outcome too
        # (the reloaded page renders this fragment without polling, so it happens once).
        headers["HX-Refresh"] = "true"
    return html, STOP_POLLING, headers


@bp.app_template_global("batch_progress")
def batch_progress(batch: Batch) -> dict:
    """The fragment's figures, so that any page including it needs only `batch`."""
    return progress(batch)


@bp.app_template_filter("duration")
def duration_filter(seconds: int | float | None) -> str:
    """`2 min 05 s`, `1 h 03 min`, `12 s`."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _register_worker_hook(state) -> None:
    from backoffice.jobs.batches import start_sweeper

    state.app.extensions.setdefault("worker_startup", []).append(start_sweeper)


bp.record_once(_register_worker_hook)


@bp.cli.command("sweep")
def sweep_command() -> None:
    """Take over dead jobs' rows and re-queue chunks that no live worker holds (once)."""
    report = sweep.sweep()
    click.echo(report or "Un autre balayage est en cours.")
