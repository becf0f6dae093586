"""Property-based: random and hostile inputs to every form and to the JSON API never give a 5xx,
and a refusal (4xx) never leaves anything half-written."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import login
from tests.factories import BUILDERS

HOSTILE = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "9" * 5000,
            str(2**64),
            "-1",
            "０１２",
            "٥٠٠٠",
            "１ ０００,５０",
            "1e9999",
            "NaN",
            "\x00",
            "' OR 1=1 --",
            "<script>alert(1)</script>",
            '=HYPERLINK("http://x")',
            "../../etc/passwd",
            "a" * 3000,
            "",
            " ",
        ]
    ),
)
FIELD_NAMES = [
    "email",
    "password",
    "code",
    "current",
    "new",
    "confirm",
    "name",
    "code",
    "amount",
    "reason",
    "label",
    "account_id",
    "organisation_id",
    "role",
    "currency",
    "party_id_type",
    "party_id_value",
    "dual_above",
    "daily_limit",
    "first_name",
    "last_name",
    "phone",
    "note",
    "outcome",
    "fsp_id",
    "default_amount",
    "exclude_invalid",
    "next",
    "everywhere",
    "source",
    "active",
    "q",
]
FORMS = st.dictionaries(st.sampled_from(FIELD_NAMES), HOSTILE, max_size=8)
SKIP = {"auth.logout"}  # signs the client out: the next examples would test the sign-in page only


def _row_count(app) -> int:
    from sqlalchemy import func, select

    from backoffice.extensions import db

    with app.app_context():
        return sum(db.session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables)


def _form_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint in SKIP:
            continue
        view = app.view_functions[rule.endpoint]
        if "POST" in rule.methods and view.access_rule != "api":
            yield rule, view.access_rule


@pytest.fixture
def clients(app, demo):
    from backoffice.extensions import db

    made = {"public": app.test_client()}
    for rule_name, email in (("admin", "admin@demo.bj"), ("gestionnaire", "gestionnaire1@cnss.bj")):
        made[rule_name] = app.test_client()
        assert login(made[rule_name], email).status_code == 302
    made["signed_in"] = made["gestionnaire"]
    with app.app_context():
        values = {name: build(demo) for name, build in BUILDERS.items()}
        db.session.commit()
    return made, values


def test_every_form_survives_hostile_input(app, clients):
    from flask import url_for

    made, values = clients
    routes = list(_form_routes(app))
    assert len(routes) > 20
    failures = []
    for rule, rule_name in routes:
        with app.test_request_context():
            url = url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})
        _hammer(app, made[rule_name], url, failures)
    assert not failures, "\n".join(failures[:20])


def _hammer(app, client, url: str, failures: list[str]) -> None:
    """Hostile forms POSTed to one route (in testing mode an exception in a view fails the test too)."""

    @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(form=FORMS)
    def attempt(form):
        before = _row_count(app)
        response = client.post(url, data=form)
        if response.status_code >= 500:
            failures.append(f"POST {url} {form!r}: {response.status_code}")
        elif 400 <= response.status_code < 500 and response.status_code != 429:
            assert _row_count(app) == before, f"POST {url} {form!r} wrote rows and answered {response.status_code}"

    attempt()


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), HOSTILE),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
PAYMENT_FIELDS = ["reference", "telephone", "amendes", "montant", "devise", "callback_url"]


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.dictionaries(st.sampled_from(PAYMENT_FIELDS) | st.text(max_size=8), JSON_VALUES, max_size=7))
def test_the_fines_api_survives_hostile_json(app, demo_session, data):
    client = app.test_client()
    before = _row_count(app)
    try:
        raw = json.dumps(data)
    except ValueError:
        return
    response = client.post(
        "/amendes/payments/",
        data=raw,
        headers={"Authorization": "Bearer demo-amendes-2026"},
        content_type="application/json",
    )
    assert response.status_code < 500, (data, response.get_data(as_text=True)[:300])
    if response.status_code >= 400:
        assert _row_count(app) == before


@pytest.fixture
def demo_session(demo):
    """The demo data, once for all the examples of a property (hypothesis reuses the fixture)."""
    return demo
