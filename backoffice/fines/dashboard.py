"""The traffic authority's fines dashboard: collections per day, refunds, waiting, time to outcome."""

from __future__ import annotations

from flask import flash, render_template, request
from flask_login import current_user

from backoffice.fines import bp
from backoffice.security import member_required
from backoffice.services.dashboard.figures import fines_authority_figures
from backoffice.services.periods import parse_period


@bp.route("/tableau-de-bord")
@member_required
def dashboard():
    period, problem = parse_period(request.args.get("date_from"), request.args.get("date_to"))
    if problem:
        flash(problem, "warning")
    figures = fines_authority_figures(current_user.organisation_id, period)
    return render_template("fines/dashboard.html", period=period, figures=figures)
