"""The organisation dashboard and its CSV export."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from backoffice.dashboards import bp
from backoffice.models.batches import BATCH_STATUS_LABELS
from backoffice.pages import csv_options, csv_response
from backoffice.security import member_required
from backoffice.services import periods
from backoffice.services.dashboard import exports
from backoffice.services.dashboard import figures as dashboard_figures


def _period() -> tuple[periods.Period, str | None]:
    """The period asked for, in days of the organisation's time zone (this month by default)."""
    timezone = current_user.organisation.timezone
    return periods.parse_period(request.args.get("date_from"), request.args.get("date_to"), timezone=timezone)


@bp.route("/")
@member_required
def index():
    period, warning = _period()
    figures = dashboard_figures.dashboard_figures(current_user.organisation_id, period)
    return render_template(
        "dashboards/index.html",
        figures=figures,
        charts=dashboard_figures.chart_specs(figures),
        warning=warning,
        history_url=dashboard_figures.history_url,
        status_labels=BATCH_STATUS_LABELS,
    )


@bp.route("/export.csv")
@member_required
def export():
    period, _ = _period()
    figures = dashboard_figures.dashboard_figures(current_user.organisation_id, period)
    _, decimal_mark = csv_options()
    rows = exports.figures_csv_rows(figures, current_user.organisation.name, decimal_mark)
    return csv_response(rows, f"tableau-de-bord-{period.start.isoformat()}-{period.end.isoformat()}.csv")
