"""The OpenAPI document and its documentation page (Swagger UI from the npm registry, served locally)."""

from __future__ import annotations

from flask import current_app, render_template

from backoffice.api import bp
from backoffice.api.batches import V1
from backoffice.api.openapi import build_spec
from backoffice.security import public


@bp.route(f"{V1}/openapi.json", methods=["GET"])
@public
def openapi_document():
    """The OpenAPI 3.1 document, built once per process from the views' schemas."""
    spec = current_app.extensions.get("openapi")
    if spec is None:
        spec = current_app.extensions["openapi"] = build_spec(current_app)
    return current_app.json.response(spec)


@bp.route(f"{V1}/docs", methods=["GET"])
@public
def api_docs():
    return render_template("api/docs.html")
