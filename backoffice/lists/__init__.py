"""Beneficiary lists: the people an organisation pays every month, and batches made from them."""

from flask import Blueprint

bp = Blueprint("lists", __name__)

from backoffice.lists import views  # noqa: E402,F401
