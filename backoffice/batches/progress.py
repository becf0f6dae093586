"""Live progress of a batch: the HTMX fragment polled by the batch page; `flask batches sweep`."""

from __future__ import annotations

import click
from flask import render_template
from htmx_flask import request

from backoffice.batches import bp
from backoffice.models.batches import LIVE_BATCH_STATUSES, Batch
from backoffice.pages import STOP_POLLING
from backoffice.security import get_for_org, member_required
from backoffice.services.bulk import sweep
from backoffice.services.bulk.progress import Progress, progress
from backoffice.services.locale import format_duration


@bp.get("/<int:batch_id>/progress", endpoint="progress")
@member_required
def progress_fragment(batch_id: int):
    """Counts by status, a bar, throughput and time left; 286 once there is nothing to follow."""
    batch = get_for_org(Batch, batch_id)
    html = render_template("batches/_progress.html", batch=batch)
    moving = batch.status in LIVE_BATCH_STATUSES
    if moving:
        return html, 200
    headers = {}
    if request.htmx:
        # The batch just ended under a polling page: reload it, so that the status, the
        # statistics, the rows and the timeline around the bar show the final outcome too
        # (the reloaded page renders this fragment without polling, so it happens once).
        headers["HX-Refresh"] = "true"
    return html, STOP_POLLING, headers


@bp.app_template_global("batch_progress")
def batch_progress(batch: Batch) -> Progress:
    """The fragment's figures, so that any page including it needs only `batch`."""
    return progress(batch)


@bp.app_template_filter("duration")
def duration_filter(seconds: int | float | None) -> str:
    """`2 min 05 s`, `1 h 03 min`, `12 s`."""
    return format_duration(seconds)


@bp.cli.command("sweep")
def sweep_command() -> None:
    """Take over dead jobs' rows and re-queue chunks that no live worker holds (once)."""
    report = sweep.sweep()
    click.echo(report or "Un autre balayage est en cours.")
