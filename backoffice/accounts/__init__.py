"""Payer accounts as members see them: balances and the ledger."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from backoffice.accounts import views  # noqa: E402,F401
