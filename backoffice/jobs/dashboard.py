"""RQ job that rolls up a final batch's figures for the dashboard (see services/dashboard.py)."""

from __future__ import annotations

from backoffice.extensions import db
from backoffice.models.batches import Batch
from backoffice.services import dashboard


def rollup_batch_job(batch_id: int) -> bool:
    """Idempotent: recomputes the batch's day stats from its rows, then warms the default
    dashboard (this month) of its organisation so the next visitor does not wait."""
    done = dashboard.rollup_batch(batch_id)
    db.session.commit()
    batch = db.session.get(Batch, batch_id)
    if done and batch is not None:
        dashboard.dashboard_figures(batch.organisation_id, dashboard.this_month())
        db.session.commit()
    return done
