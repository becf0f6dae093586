"""What follows a batch's change of outcome: the one place its side effects are triggered.

Called after the change is committed. Each effect only queues a job (mail, dashboard
rollup); a queue that cannot be reached is logged, never raised into the caller, whose
batch is already finished.
"""

from __future__ import annotations

from backoffice.services import notifications
from backoffice.services.dashboard import rollups as dashboard_rollups


def batch_finished(batch_id: int) -> None:
    """A batch just ended: tell its uploader, and sum its figures once for the dashboard."""
    notifications.batch_finished(batch_id)
    final_batch_changed(batch_id)


def final_batch_changed(batch_id: int) -> None:
    """A settled row of a final batch changed (a person decided a NEEDS_REVIEW row): its
    dashboard figures are summed again."""
    dashboard_rollups.schedule_rollups([batch_id])
