"""The findings of the security review, one test (at least) each."""

from __future__ import annotations

import html as html_lib

import pytest
from sqlalchemy import func, select

from tests.conftest import login
from tests.factories import body
from tests.support import post


def _html(response) -> str:
    return html_lib.unescape(response.get_data(as_text=True))


# 2. Fines never leak across organisations -------------------------------------------------


def test_a_fine_claimed_by_another_organisation_is_refused_naming_nothing_of_theirs(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models import Organisation, User
    from backoffice.services import api_clients

    assert post(client, body(1)).status_code == 202  # CNSS's demo client, reference APP-000001
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == "admin@demo.bj"))
        org = db.session.scalar(select(Organisation).where(Organisation.code == "NEXT"))
        _, next_key, _ = api_clients.create_client(admin, org.id, "Next.mr")
        db.session.commit()
    response = post(client, body(1, reference="NEXT-1"), headers={"Authorization": f"Bearer {next_key}"})
    assert response.status_code == 409
    data = response.get_json()
    assert data["erreur"] == "AMENDE_INDISPONIBLE"
    text = response.get_data(as_text=True)
    assert "APP-000001" not in text and "EN_COURS" not in text and "PAYE" not in text
    assert {a["numero"] for a in data["amendes"]} <= set(body(1)["amendes"])


# 5. Inputs that answered 500 ---------------------------------------------------------------


def test_thousands_of_digits_in_an_amount_are_a_form_error(app, client, demo):
    login(client, "admin@demo.bj")
    url = f"/admin/comptes/{demo['accounts']['ACC-CNSS-001']}/approvisionnement"
    response = client.post(url, data={"amount": "9" * 5000, "reason": "x"})
    assert response.status_code == 200 and "Montant trop élevé." in _html(response)


@pytest.mark.parametrize("raw", ["[" * 5000 + "]" * 5000, '{"a":' * 2000 + "1" + "}" * 2000])
def test_deeply_nested_json_is_a_400(client, demo, raw):
    response = post(client, None, raw=raw.encode())
    assert response.status_code == 400 and response.get_json()["erreur"] == "JSON_INVALIDE"


def test_a_ten_megabyte_header_line_is_refused_clearly(app, client, demo):
    import io

    login(client, "gestionnaire1@cnss.bj")
    content = b"type_id," + b"x" * (10 * 1024 * 1024) + b"\nPERSONAL_ID,1,XOF,10,A\n"
    data = {"account_id": demo["accounts"]["ACC-CNSS-001"], "label": "L", "file": (io.BytesIO(content), "a.csv")}
    response = client.post("/batches/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 200 and "En-tête illisible ou trop long" in _html(response)


@pytest.mark.parametrize(
    "path",
    [
        f"/batches/{2**63}",
        f"/admin/utilisateurs/{10**30}",
        "/tableau-de-bord/audit?page=99999999999999999999999",
        f"/batches/?page={2**64}",
    ],
)
def test_integers_beyond_64_bits_are_refused_without_a_500(client, demo, path):
    login(client, "admin@demo.bj" if path.startswith("/admin") else "gestionnaire1@cnss.bj")
    assert client.get(path).status_code in (400, 404)


@pytest.mark.parametrize(
    "path", ["/tableau-de-bord/comptes/{account}?account_id=2", "/tableau-de-bord/audit?_method=POST&page=1"]
)
def test_unknown_query_parameters_never_break_the_links(client, demo, path):
    login(client, "gestionnaire1@cnss.bj")
    response = client.get(path.format(account=demo["accounts"]["ACC-CNSS-001"]))
    assert response.status_code == 200
    assert "_method" not in _html(response)


# 6. Content-Disposition --------------------------------------------------------------------


def test_content_disposition_is_built_safely():
    from backoffice.pages import attachment

    header = attachment('grand-livre-"é\r\nX-Injected: 1.csv')
    assert "\r" not in header and "\n" not in header
    assert header.startswith("attachment; filename=\"grand-livre-_e_X-Injected_1.csv\"; filename*=UTF-8''")
    assert "%C3%A9" in header and "%0D%0A" in header


@pytest.mark.parametrize("account_id", ['ACC"; X=1', "ACC\r\nX", "ACC/../1", "COMPTE É"])
def test_account_ids_use_a_safe_set_of_characters(client, demo, account_id):
    login(client, "admin@demo.bj")
    data = {
        "organisation_id": demo["orgs"]["CNSS"],
        "account_id": account_id,
        "currency": "XOF",
        "party_id_type": "BUSINESS",
        "party_id_value": "CNSS-BJ-9",
    }
    response = client.post("/admin/comptes/nouveau", data=data)
    assert response.status_code == 200 and "ne contient que des lettres" in _html(response)


def test_the_ledger_export_of_an_account_has_a_sound_header(client, demo):
    login(client, "gestionnaire1@cnss.bj")
    response = client.get(f"/tableau-de-bord/comptes/{demo['accounts']['ACC-CNSS-001']}/export.csv")
    if response.status_code == 404:
        pytest.skip("no ledger export route in this version")
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in disposition and "\n" not in disposition


# 8. Secret pages are never cached ------------------------------------------------------------


def test_the_page_showing_a_new_api_key_is_not_cached(client, demo):
    login(client, "admin@demo.bj")
    response = client.post(
        "/amendes/clients-api/nouveau", data={"name": "Portail", "organisation_id": demo["orgs"]["CNSS"], "scopes": "fines:write"}
    )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"


# 9. ASCII digits only ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["０１２", "٥٠٠٠", "1２3"])
def test_amounts_accept_ascii_digits_only(text):
    from backoffice.services.money import AmountError, parse_amount

    with pytest.raises(AmountError):
        parse_amount(text, "XOF")


@pytest.mark.parametrize("value", ["２２９９７０００００１", "٢٢٩٩٧٠٠٠٠٠١"])
def test_phone_numbers_accept_ascii_digits_only(value):
    from backoffice.services import parties

    assert parties.check_party("MSISDN", value)


@pytest.mark.parametrize("cell", ["＝SUM(A1)", "＋1", "－1", "＠A1", "=1"])
def test_csv_exports_neutralise_fullwidth_formulas(cell):
    from backoffice.services.spreadsheets import safe_cell

    assert safe_cell(cell).startswith("'")


# 10. Redirects follow an explicit local `next`, never the Referer ------------------------------


def test_a_toggle_goes_back_to_a_local_next_and_ignores_the_referer(app, client, demo):
    from tests.factories import cnss_entry, cnss_list

    with app.app_context():
        from backoffice.extensions import db

        list_id, entry_id = cnss_list(demo).id, cnss_entry(demo).id
        db.session.commit()
    login(client, "gestionnaire1@cnss.bj")
    url = f"/tableau-de-bord/listes/{list_id}/beneficiaires/{entry_id}/activation"
    evil = client.post(url, headers={"Referer": "https://evil.example/"})
    assert evil.headers["Location"] == f"/tableau-de-bord/listes/{list_id}"
    back = client.post(url, data={"next": f"/tableau-de-bord/listes/{list_id}?page=2"})
    assert back.headers["Location"] == f"/tableau-de-bord/listes/{list_id}?page=2"
    away = client.post(url, data={"next": "//evil.example/"})
    assert away.headers["Location"] == f"/tableau-de-bord/listes/{list_id}"


def test_nothing_half_written_by_a_refused_top_up(app, client, demo):
    from backoffice.extensions import db
    from backoffice.models.approvals import TopUpRequest

    login(client, "admin@demo.bj")
    url = f"/admin/comptes/{demo['accounts']['ACC-CNSS-001']}/approvisionnement"
    client.post(url, data={"amount": "１０００", "reason": "x"})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TopUpRequest)) == 0
