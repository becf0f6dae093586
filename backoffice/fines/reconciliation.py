"""The authority's daily reconciliation: a printable page and its CSV, discrepancies first."""

from __future__ import annotations

from datetime import date

from flask import current_app, render_template, request
from flask_login import current_user

from backoffice.clients.fines_registry import FinesRegistryClient
from backoffice.clients.momo import MomoClient
from backoffice.fines import bp
from backoffice.fines.payments import date_arg
from backoffice.pages import csv_response
from backoffice.security import member_required
from backoffice.services.fines import reconciliation
from backoffice.services.locale import local_today


def _day() -> date:
    """The day asked for (`?jour=AAAA-MM-JJ`), today in the organisation's zone when absent or unreadable."""
    asked = date_arg("jour")
    return asked.date() if asked else local_today(current_user.organisation.timezone)


def _lines(day: date, live: bool) -> tuple[list, int]:
    lines = reconciliation.day_report(current_user.organisation_id, day)
    checked = 0
    if live:
        config = current_app.config
        timeout = min(config["FINES_HTTP_TIMEOUT_SECONDS"], 10.0)
        checked = reconciliation.verify_live(
            lines, FinesRegistryClient(config["FINES_API_URL"], timeout), MomoClient(config["MOMO_API_URL"], timeout)
        )
    return lines, checked


@bp.route("/rapprochement")
@member_required
def reconciliation_page():
    day = _day()
    live = request.args.get("verifier") == "1"
    lines, checked = _lines(day, live)
    return render_template(
        "fines/reconciliation.html",
        day=day,
        lines=lines,
        live=live,
        checked=checked,
        discrepancies=sum(1 for line in lines if line.problems),
        report=reconciliation,
    )


@bp.route("/rapprochement.csv")
@member_required
def reconciliation_csv():
    day = _day()
    lines, _ = _lines(day, request.args.get("verifier") == "1")
    return csv_response(reconciliation.csv_rows(lines), f"rapprochement-amendes-{day.isoformat()}.csv")
