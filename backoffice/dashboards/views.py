"""The organisation dashboard, its CSV export, and the gestionnaire's home sections."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_login import current_user

from backoffice.models.batches import BATCH_STATUS_LABELS
from backoffice.security import member_required
from backoffice.services import dashboard as dashboard_service

bp = Blueprint("dashboards", __name__)


def _register_demo() -> None:
    from backoffice.services.beneficiaries import seed_demo_list
    from backoffice.services.demo import DEMO_EXTENSIONS

    if seed_demo_list not in DEMO_EXTENSIONS:
        DEMO_EXTENSIONS.append(seed_demo_list)


_register_demo()

# The gestionnaire's "what waits for me" block on the landing page (main.index includes it).
bp.record_once(lambda state: state.app.extensions.setdefault("home_sections", []).append("dashboards/_home_work.html"))
bp.record_once(lambda state: _register_home_context(state.app))


def _register_home_context(app) -> None:
    """Template globals: the home sections' loader and a guarded link to a batch page."""
    from backoffice.services.dashboard import home_work

    app.add_template_global(home_work, "home_work")
    app.add_template_global(batch_url, "batch_url")


def batch_url(batch_id: int) -> str | None:
    """The batch page once the bulk area has it (`batches.detail` may not be installed yet)."""
    if "batches.detail" in current_app.view_functions:
        return url_for("batches.detail", batch_id=batch_id)
    return None


def _csv_options() -> tuple[str, str]:
    """`;` and decimal comma (French Excel) by default, `?sep=,` for a comma file with a dot."""
    if request.args.get("sep") == ",":
        return ",", "."
    return ";", ","


def csv_response(rows, filename: str) -> Response:
    separator, _ = _csv_options()
    return Response(
        dashboard_service.csv_bytes(rows, separator),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/")
@member_required
def index():
    period, warning = dashboard_service.parse_period(request.args.get("date_from"), request.args.get("date_to"))
    figures = dashboard_service.dashboard_figures(current_user.organisation_id, period)
    return render_template(
        "dashboards/index.html",
        figures=figures,
        charts=dashboard_service.chart_specs(figures),
        warning=warning,
        history_url=dashboard_service.history_url,
        status_labels=BATCH_STATUS_LABELS,
    )


@bp.route("/export.csv")
@member_required
def export():
    period, _ = dashboard_service.parse_period(request.args.get("date_from"), request.args.get("date_to"))
    figures = dashboard_service.dashboard_figures(current_user.organisation_id, period)
    _, decimal_mark = _csv_options()
    rows = dashboard_service.figures_csv_rows(figures, current_user.organisation.name, decimal_mark)
    return csv_response(rows, f"tableau-de-bord-{period.start.isoformat()}-{period.end.isoformat()}.csv")


# The other pages of the area register on this blueprint.
from backoffice.dashboards import accounts, audit_log, lists, providers  # noqa: E402,F401
