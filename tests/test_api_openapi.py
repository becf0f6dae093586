"""The OpenAPI document: generated from the views, valid, served with its docs page, and the live API
fuzzed from it (schemathesis): no 5xx, every answer documented and matching its schema."""

from __future__ import annotations

import io

import pytest

from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY, DEMO_CLIENT_KEY

AUTH = {"Authorization": f"Bearer {DEMO_BATCH_CLIENT_KEY}"}
FINES_AUTH = {"Authorization": f"Bearer {DEMO_CLIENT_KEY}"}


def test_document_is_valid_openapi_31_and_covers_the_api(app, client):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    paths = spec["paths"]
    for path in (
        "/api/v1/batches",
        "/api/v1/batches/{batch_id}",
        "/api/v1/batches/{batch_id}/rows",
        "/api/v1/batches/{batch_id}/status",
        "/api/v1/batches/{batch_id}/events",
        "/api/v1/batches/{batch_id}/submit",
        "/api/v1/accounts",
        "/api/v1/accounts/{account_id}/ledger",
        "/api/v1/accounts/{account_id}/batches",
        "/api/v1/webhooks",
        "/amendes/payments/",
    ):
        assert path in paths, path
    create = paths["/api/v1/batches"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {p["name"] for p in create["parameters"]} == {"Idempotency-Key"}
    assert create["responses"]["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    limit = next(p for p in paths["/api/v1/batches"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 200


def test_docs_page_is_served_from_local_files_under_the_csp(app, client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html and "/static/js/api-docs.js" in html
    assert "<script>" not in html and "https://" not in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.fixture
def fuzz_app(app, demo):
    """The app with a draft batch and a webhook to aim at, short event streams, no rate limit."""
    from backoffice.api import ratelimit

    client = app.test_client()
    content = b"type_id,valeur_id,devise,montant\nMSISDN,2290197000001,XOF,1000\n"
    created = client.post(
        "/api/v1/batches",
        data={"file": (io.BytesIO(content), "a.csv")},
        headers=AUTH,
        content_type="multipart/form-data",
    )
    assert created.status_code == 201
    client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=AUTH)
    saved = {k: app.config[k] for k in ("API_SSE_MAX_HELD", "API_RATE_LIMIT_PER_MINUTE")}
    app.config.update(API_SSE_MAX_HELD=0, API_RATE_LIMIT_PER_MINUTE=0)
    ratelimit.reset()
    yield app
    app.config.update(saved)


def _fuzzer(strategy, headers: dict, checks: list):
    """A Hypothesis test that calls one operation with generated requests and checks each answer."""
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case):
        case.call_and_validate(headers=headers, checks=checks)
        if case.path_parameters:
            # Random ids name nothing: once more on the objects the fixture made (id 1 each).
            case.path_parameters = {name: 1 for name in case.path_parameters}
            case.call_and_validate(headers=headers, checks=checks)

    return run


def test_the_live_api_never_answers_5xx_and_matches_its_document(fuzz_app):
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        headers = FINES_AUTH if operation.path.startswith("/amendes") else AUTH
        run = _fuzzer(operation.as_strategy(), headers, checks)
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
