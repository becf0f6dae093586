"""RQ job that rolls up a final batch's figures for the dashboard (see services/dashboard/rollups.py)."""

from __future__ import annotations

from backoffice.extensions import db
from backoffice.models.batches import Batch
from backoffice.services.dashboard.figures import dashboard_figures
from backoffice.services.dashboard.rollups import rollup_batch
from backoffice.services.periods import this_month


def rollup_batch_job(batch_id: int) -> bool:
    """Idempotent: recomputes the batch's day stats from its rows, then warms the default
    dashboard (this month) of its organisation so the next visitor does not wait."""
    done = rollup_batch(batch_id)
    db.session.commit()
    batch = db.session.get(Batch, batch_id)
    if done and batch is not None:
        dashboard_figures(batch.organisation_id, this_month(timezone=batch.organisation.timezone))
        db.session.commit()
    return done
