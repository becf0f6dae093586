"""The audit log: admins read all of it, organisation members their organisation's."""

from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import select

from backoffice.audit import bp
from backoffice.extensions import db
from backoffice.models import Organisation
from backoffice.pages import csv_response
from backoffice.security import signed_in
from backoffice.services import audit_log, audit_sentences, locale, periods


def _scope() -> int | None:
    """The organisation whose events the user may read (None: all); 403 for anyone else.

    The route is `@signed_in` because two rules (admin OR member) apply; this is the check.
    """
    if current_user.is_admin:
        return None
    if current_user.is_member:
        return current_user.organisation_id
    abort(403)


def _filters() -> audit_log.AuditFilters:
    return audit_log.AuditFilters(
        user_id=request.args.get("user", type=int),
        action=request.args.get("action", "").strip()[:64],
        object_type=request.args.get("object_type", "").strip()[:64],
        date_from=periods.parse_day(request.args.get("date_from")),
        date_to=periods.parse_day(request.args.get("date_to")),
        timezone=_timezone(),
        q=request.args.get("q", "").strip()[:100],
    )


def _timezone() -> str:
    return locale.timezone_of(current_user, current_app.config["DISPLAY_TIMEZONE"])


@bp.route("/audit")
@signed_in
def index():
    scope = _scope()
    filters = _filters()
    page = db.paginate(audit_log.audit_query(scope, filters), per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template(
        "audit/index.html",
        page=page,
        names=audit_sentences.name_objects(page.items),
        say=audit_sentences,
        filters=filters,
        choices=audit_log.audit_filter_choices(scope),
        all_organisations=scope is None,
        org_codes=dict(db.session.execute(select(Organisation.id, Organisation.code)).all()) if scope is None else {},
    )


@bp.route("/audit/export.csv")
@signed_in
def export():
    scope = _scope()
    events = db.session.scalars(audit_log.audit_query(scope, _filters()).execution_options(yield_per=1000))
    return csv_response(audit_log.audit_csv_rows(events, _timezone()), "journal-audit.csv")
