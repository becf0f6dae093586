"""Every route in the URL map has an access rule, and each role gets what the rule says."""

from __future__ import annotations

import pytest

from backoffice.security import ACCESS_RULES
from tests.conftest import _empty_tables, login
from tests.factories import BUILDERS, ORG_SCOPED_PARAMS

ACTORS = ["anonymous", "gestionnaire1@cnss.bj", "superviseur@cnss.bj", "admin@demo.bj", "gestionnaire@next.mr"]
REFUSED = {401, 403, 404}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_has_an_access_rule(app):
    missing = []
    for rule, _method in _routes(app):
        view = app.view_functions[rule.endpoint]
        if getattr(view, "access_rule", None) not in ACCESS_RULES:
            missing.append(rule.endpoint)
    assert not missing, f"routes without an access rule: {sorted(set(missing))}"


def test_only_acting_roles_have_mutating_routes(app):
    """A superviseur never reaches a POST route: mutating routes are for gestionnaires or admins."""
    allowed = {"gestionnaire", "admin", "api", "public", "signed_in"}
    wrong = []
    for rule, method in _routes(app):
        rule_name = app.view_functions[rule.endpoint].access_rule
        if method != "GET" and rule_name not in allowed:
            wrong.append((rule.endpoint, method, rule_name))
        if (
            method != "GET"
            and rule_name == "signed_in"
            and rule.endpoint not in {"auth.logout", "auth.change_password"}
        ):
            wrong.append((rule.endpoint, method, rule_name))
    assert not wrong


def _expected(rule_name: str, actor: str, org_scoped: bool) -> str:
    """'ok' (allowed), or the refusal expected: 'login', 401, 403, 404."""
    if actor == "anonymous":
        return {"public": "ok", "api": 401}.get(rule_name, "login")
    if rule_name in ("public", "signed_in", "api"):
        return "ok" if rule_name != "api" else 401
    if rule_name == "admin":
        return "ok" if actor == "admin@demo.bj" else 403
    if actor == "admin@demo.bj":
        return 403
    if rule_name == "gestionnaire" and actor == "superviseur@cnss.bj":
        return 403
    if actor == "gestionnaire@next.mr" and org_scoped:
        return 404
    return "ok"


def test_role_matrix(app, client):
    from backoffice.extensions import db
    from backoffice.services.demo import seed_demo

    failures = []
    for rule, method in list(_routes(app)):
        rule_name = app.view_functions[rule.endpoint].access_rule
        for actor in ACTORS:
            # Fresh data for every request, so that one action cannot change the next.
            _empty_tables(app)
            with app.app_context():
                seed_demo()
                db.session.commit()
                from tests.conftest import _demo_ids

                demo = _demo_ids()
                missing = [a for a in rule.arguments if a not in BUILDERS]
                assert not missing, f"{rule.endpoint}: add a builder for {missing} in tests/factories.py"
                values = {arg: BUILDERS[arg](demo) for arg in rule.arguments}
                db.session.commit()
                url = _build(app, rule.endpoint, values)
            client.delete_cookie("session")
            with client.session_transaction() as session:
                session.clear()
            if actor != "anonymous":
                assert login(client, actor).status_code == 302
            response = client.open(url, method=method, data={} if method != "GET" else None)
            org_scoped = bool(set(rule.arguments) & ORG_SCOPED_PARAMS)
            expected = _expected(rule_name, actor, org_scoped)
            status = response.status_code
            if expected == "ok" and rule.endpoint == "auth.logout":
                good = _is_login_redirect(response)
            elif expected == "ok":
                good = status not in REFUSED and status < 500 and not _is_login_redirect(response)
            elif expected == "login":
                good = _is_login_redirect(response)
            else:
                good = status == expected
            if not good:
                failures.append(f"{method} {url} [{rule_name}] as {actor}: got {status}, expected {expected}")
    assert not failures, "\n".join(failures)


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/connexion" in response.headers.get("Location", "")


def _build(app, endpoint, values):
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **values)


@pytest.mark.parametrize("actor", ["superviseur@cnss.bj", "gestionnaire@next.mr"])
def test_non_admins_cannot_create_users(client, demo, actor):
    assert login(client, actor).status_code == 302
    response = client.post("/admin/utilisateurs/nouveau", data={"email": "x@y.bj"})
    assert response.status_code == 403
