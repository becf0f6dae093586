"""Bulk payment pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("batches", __name__)

# Live progress routes live in their own module and register on this blueprint.
from backoffice.batches import progress  # noqa: E402,F401
