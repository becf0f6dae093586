"""Payer accounts for organisation members: balances, ledger (filterable, exportable), batches."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_login import current_user
from sqlalchemy import select

from backoffice.accounts import bp
from backoffice.extensions import db
from backoffice.models import Account
from backoffice.models.accounts import ENTRY_LABELS, EntryKind
from backoffice.pages import csv_options, csv_response
from backoffice.security import get_for_org, member_required
from backoffice.services import accounts as account_reads
from backoffice.services import periods


def _ledger_filters() -> dict:
    kind = request.args.get("kind", "")
    return {
        "kind": kind if kind in EntryKind.__members__ else "",
        "date_from": periods.parse_day(request.args.get("date_from")),
        "date_to": periods.parse_day(request.args.get("date_to")),
        "timezone": current_user.organisation.timezone,
    }


@bp.route("/comptes")
@member_required
def index():
    rows = db.session.scalars(
        select(Account).where(Account.organisation_id == current_user.organisation_id).order_by(Account.account_id)
    ).all()
    return render_template("accounts/index.html", accounts=rows)


@bp.route("/comptes/<int:account_id>")
@member_required
def detail(account_id: int):
    account = get_for_org(Account, account_id)
    filters = _ledger_filters()
    page = db.paginate(
        account_reads.ledger_query(account.id, **filters), per_page=current_app.config["PAGE_SIZE"], error_out=False
    )
    return render_template(
        "accounts/detail.html",
        account=account,
        page=page,
        filters=filters,
        kinds=ENTRY_LABELS,
        batches=account_reads.batches_paid_from(account.id),
    )


@bp.route("/comptes/<int:account_id>/export.csv")
@member_required
def export(account_id: int):
    account = get_for_org(Account, account_id)
    _, decimal_mark = csv_options()
    entries = db.session.scalars(
        account_reads.ledger_query(account.id, **_ledger_filters()).execution_options(yield_per=1000)
    )
    rows = account_reads.ledger_csv_rows(entries, account.currency, decimal_mark, current_user.organisation.timezone)
    return csv_response(rows, f"grand-livre-{account.account_id}.csv")
