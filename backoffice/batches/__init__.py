"""Bulk payments area: upload, validation, approval, progress, history, export."""

from flask import Blueprint

bp = Blueprint("batches", __name__)

from backoffice.batches import documents, progress, trust, views  # noqa: E402,F401
