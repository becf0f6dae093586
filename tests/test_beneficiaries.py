"""Beneficiary lists: creation from files and batches, entries, history, search, new batch."""

from __future__ import annotations

import html
import io

import pytest

from tests.conftest import SAMPLES, login
from tests.factories import add_batch, add_rows

NEW_LIST = "/tableau-de-bord/listes/nouvelle"


def _upload(client, name: str, content: bytes, currency: str = "XOF", filename: str = "liste.csv"):
    return client.post(
        NEW_LIST,
        data={
            "name": name,
            "currency": currency,
            "description": "",
            "source": "file",
            "file": (io.BytesIO(content), filename),
        },
        content_type="multipart/form-data",
    )


def _list(app, name: str):
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models.lists import BeneficiaryEntry, BeneficiaryList

    with app.app_context():
        lst = db.session.scalar(select(BeneficiaryList).where(BeneficiaryList.name == name))
        if lst is None:
            return None, []
        entries = db.session.scalars(
            select(BeneficiaryEntry).where(BeneficiaryEntry.list_id == lst.id).order_by(BeneficiaryEntry.id)
        ).all()
        db.session.expunge_all()
        return lst, entries


@pytest.mark.parametrize(
    "sample,currency,count,total",
    [
        ("pensions-liste-paiement.csv", "XOF", 19, 196_300),
        ("standard-format.csv", "XOF", 2, 15_000),
        ("mass-payment-recipients.csv", "MRU", 4, 1_900_000),
        ("name-amount-account.csv", "MRU", 15, 3_105_350),
    ],
)
def test_create_from_each_upload_format(app, client, login_as, sample, currency, count, total):
    login_as("gestionnaire1@cnss.bj")
    response = _upload(client, "Pensions", (SAMPLES / sample).read_bytes(), currency, sample)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    lst, entries = _list(app, "Pensions")
    assert lst.currency == currency
    assert len(entries) == count
    assert sum(e.default_amount for e in entries) == total
    if sample == "pensions-liste-paiement.csv":
        assert entries[0].name == "Abdou Kpangon" and entries[0].party_id_type == "PERSONAL_ID"
    if sample == "mass-payment-recipients.csv":
        assert {e.party_id_type for e in entries} == {"MSISDN"}
        assert entries[0].note == "Salary"
    if sample == "name-amount-account.csv":
        assert {e.party_id_type for e in entries} == {"ACCOUNT_ID"}
        assert entries[0].name == "John Doe"


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "Le fichier est vide."),
        (b"foo,bar\n1,2\n", "En-tête non reconnu"),
        (b"\x00\x01\x02binary", "pas un fichier CSV lisible"),
        (b"type_id,valeur_id,devise,montant\nPERSONAL_ID,1,XOF,12.5\n", "XOF n'a pas de centimes"),
        (b"type_id,valeur_id,devise,montant\nPASSPORT,1,XOF,100\n", "type d'identifiant inconnu"),
        (b"type_id,valeur_id,devise,montant\nPERSONAL_ID,1,MRU,100\n", "devise MRU différente"),
        (b"phone_number,amount\nabc,100\n", "numéro de téléphone invalide"),
        (b"type_id,valeur_id,devise,montant\nPERSONAL_ID,1,XOF,100\nPERSONAL_ID,1,XOF,200\n", "déjà présent ligne 2"),
    ],
)
def test_bad_files_create_nothing_and_say_why(app, client, login_as, content, message):
    login_as("gestionnaire1@cnss.bj")
    response = _upload(client, "Mauvaise", content)
    assert response.status_code == 200
    assert message in html.unescape(response.get_data(as_text=True))
    lst, _ = _list(app, "Mauvaise")
    assert lst is None


def test_pensions_90_sample_has_one_naira_line(app, client, login_as):
    """The sample README says "all valid", but line 23 is in NGN: a list in XOF refuses it."""
    login_as("gestionnaire1@cnss.bj")
    response = _upload(client, "Pensions 90", (SAMPLES / "pensions-90.csv").read_bytes())
    assert "ligne 23 : devise NGN différente de celle de la liste (XOF)" in response.get_data(as_text=True)
    fixed = (SAMPLES / "pensions-90.csv").read_bytes().replace(b",NGN,", b",XOF,")
    assert _upload(client, "Pensions 90", fixed).status_code == 302
    _, entries = _list(app, "Pensions 90")
    assert len(entries) == 90 and sum(e.default_amount for e in entries) == 861_800
    assert any(e.name == "Gildas Houénou" for e in entries)


def test_windows_1252_semicolons_and_crlf(app, client, login_as):
    login_as("gestionnaire1@cnss.bj")
    content = "type_id;valeur_id;devise;montant;nom_complet\r\nPERSONAL_ID;42;XOF;50 000;Hélène Adjovi\r\n".encode(
        "cp1252"
    )
    assert _upload(client, "Windows", content).status_code == 302
    _, entries = _list(app, "Windows")
    assert [(e.party_id_value, e.default_amount, e.name) for e in entries] == [("42", 50_000, "Hélène Adjovi")]


def _make_batch(app, demo, org="CNSS", statuses=("PENDING", "INVALID", "COMPLETED", "FAILED")):
    """A finished batch with one row per status, and its first beneficiary a second time."""
    from backoffice.extensions import db

    with app.app_context():
        batch = add_batch(demo, "Pensions d'octobre", "COMPLETED", org=org, valid_count=3)
        rows = [dict(status=s, amount=1000 * (i + 1), name=f"Personne {i}") for i, s in enumerate(statuses)]
        # The same beneficiary twice: kept once.
        rows.append(dict(line_number=20, status="PENDING", party_id_value="22997000000", amount=5))
        add_rows(batch, rows)
        db.session.commit()
        return batch.id


def test_create_from_the_valid_rows_of_an_earlier_batch(app, client, login_as, demo):
    batch_id = _make_batch(app, demo)
    login_as("gestionnaire1@cnss.bj")
    form = client.get(NEW_LIST).get_data(as_text=True)
    assert "Pensions d&#39;octobre" in form
    response = client.post(
        NEW_LIST, data={"name": "Depuis lot", "currency": "XOF", "source": "batch", "batch_id": batch_id}
    )
    assert response.status_code == 302
    _, entries = _list(app, "Depuis lot")
    assert [(e.party_id_value, e.default_amount) for e in entries] == [
        ("22997000000", 1000),
        ("22997000002", 3000),
        ("22997000003", 4000),
    ]


def test_another_organisations_batch_cannot_be_used(app, client, login_as, demo):
    batch_id = _make_batch(app, demo, org="NEXT")
    login_as("gestionnaire1@cnss.bj")
    response = client.post(NEW_LIST, data={"name": "Vol", "currency": "XOF", "source": "batch", "batch_id": batch_id})
    assert response.status_code == 200
    assert "Lot introuvable." in response.get_data(as_text=True)
    assert _list(app, "Vol")[0] is None


def test_entries_added_edited_deactivated_with_history_and_audit(app, client, login_as):
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import AuditEvent
    from backoffice.models.lists import BeneficiaryListEvent

    login_as("gestionnaire1@cnss.bj")
    assert client.post(NEW_LIST, data={"name": "Mensuelle", "currency": "XOF", "source": "empty"}).status_code == 302
    lst, _ = _list(app, "Mensuelle")
    base = f"/tableau-de-bord/listes/{lst.id}"
    response = client.post(
        f"{base}/beneficiaires/nouveau",
        data={"party_id_type": "MSISDN", "party_id_value": "22997111111", "name": "Awa", "default_amount": "25 000"},
    )
    assert response.status_code == 302
    # Same beneficiary twice, bad phone number, bad amount: clear errors, nothing written.
    for data, message in [
        ({"party_id_value": "22997111111"}, "déjà dans la liste"),
        ({"party_id_value": "12ab"}, "Numéro de téléphone invalide"),
        ({"party_id_value": "22997222222", "default_amount": "12,5"}, "XOF n&#39;a pas de centimes"),
    ]:
        response = client.post(f"{base}/beneficiaires/nouveau", data={"party_id_type": "MSISDN", **data})
        assert response.status_code == 200 and message in response.get_data(as_text=True), message
    _, entries = _list(app, "Mensuelle")
    assert [(e.party_id_value, e.default_amount) for e in entries] == [("22997111111", 25_000)]
    entry = entries[0]
    edit = client.get(f"{base}/beneficiaires/{entry.id}").get_data(as_text=True)
    assert 'value="25\u202f000"' in edit
    response = client.post(
        f"{base}/beneficiaires/{entry.id}",
        data={
            "party_id_type": "MSISDN",
            "party_id_value": "22997111111",
            "name": "Awa Zinsou",
            "default_amount": "30000",
            "active": "y",
        },
    )
    assert response.status_code == 302
    assert client.post(f"{base}/beneficiaires/{entry.id}/activation").status_code == 302
    _, entries = _list(app, "Mensuelle")
    assert (entries[0].name, entries[0].default_amount, entries[0].active) == ("Awa Zinsou", 30_000, False)

    with app.app_context():
        events = db.session.scalars(
            select(BeneficiaryListEvent).where(BeneficiaryListEvent.list_id == lst.id).order_by(BeneficiaryListEvent.id)
        ).all()
        assert [e.action for e in events] == ["created", "entry_added", "entry_updated", "entry_deactivated"]
        assert "montant « 25\u202f000\u202fF CFA » → « 30\u202f000\u202fF CFA »" in events[2].message
        actions = db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "BeneficiaryList", AuditEvent.object_id == str(lst.id)
            )
        ).all()
        assert sorted(actions) == sorted(f"beneficiary_list.{e.action}" for e in events)
    history = client.get(f"{base}/historique").get_data(as_text=True)
    assert "Bénéficiaire MSISDN 22997111111 désactivé." in history


def test_search_filter_and_pagination(app, client, login_as):
    lines = ["type_id,valeur_id,devise,montant,nom_complet"] + [
        f"PERSONAL_ID,{1000 + i},XOF,{100 * (i + 1)},{'Zoé' if i == 7 else 'Nom'} {i}" for i in range(60)
    ]
    login_as("gestionnaire1@cnss.bj")
    assert _upload(client, "Grande", "\n".join(lines).encode()).status_code == 302
    lst, _ = _list(app, "Grande")
    base = f"/tableau-de-bord/listes/{lst.id}"
    first = client.get(base).get_data(as_text=True)
    assert "Page 1 sur 3" in first
    assert "Page 3 sur 3" in client.get(f"{base}?page=3").get_data(as_text=True)
    found = client.get(f"{base}?q=zoé").get_data(as_text=True)
    assert "Zoé 7" in found and "Nom 8" not in found
    assert "1007" in client.get(f"{base}?q=1007").get_data(as_text=True)
    assert "Aucun bénéficiaire ne correspond" in client.get(f"{base}?etat=inactive").get_data(as_text=True)
    listing = client.get("/tableau-de-bord/listes").get_data(as_text=True)
    assert "Grande" in listing and "183\u202f000\u202fF CFA" in listing  # 100 × (1 + … + 60)


def test_build_batch_records_with_overrides(app, demo):
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services import ServiceError
    from backoffice.services import beneficiaries as service
    from backoffice.services.bulk import lists as bulk_lists

    with app.app_context():
        actor = db.session.get(User, demo["users"]["gestionnaire1@cnss.bj"])
        lst = service.create_list(actor, "Run", "XOF")
        a = service.add_entry(actor, lst, party_id_type="MSISDN", party_id_value="22997000001", amount_text="1000")
        b = service.add_entry(actor, lst, party_id_type="PERSONAL_ID", party_id_value="X1", name="B", note="n")
        c = service.add_entry(actor, lst, party_id_type="MSISDN", party_id_value="22997000003", amount_text="3000")
        service.set_entry_active(actor, lst, c, False)
        db.session.commit()
        with pytest.raises(ServiceError, match="Montant manquant pour : PERSONAL_ID X1"):
            bulk_lists.build_batch_records(lst.id)
        records = bulk_lists.build_batch_records(lst.id, {b.id: 2500, a.id: 1500})
        assert [(r["party_id_value"], r["amount"], r["name"], r["note"]) for r in records] == [
            ("22997000001", 1500, "", ""),
            ("X1", 2500, "B", "n"),
        ]
        assert {(r["party_id_type"], r["currency"]) for r in records} == {("MSISDN", "XOF"), ("PERSONAL_ID", "XOF")}
        amounts, errors = bulk_lists.parse_amount_overrides({"amount-1": "2 000", "amount-2": "x", "other": "1"}, "XOF")
        assert amounts == {1: 2000} and set(errors) == {2}


def test_new_batch_page_has_editable_amounts_and_creates_the_batch(app, client, login_as, demo):
    login_as("gestionnaire1@cnss.bj")
    content = b"type_id,valeur_id,devise,montant,nom_complet\nPERSONAL_ID,1,XOF,20000,A\nPERSONAL_ID,2,XOF,30000,B\n"
    assert _upload(client, "Run", content).status_code == 302
    lst, entries = _list(app, "Run")
    url = f"/tableau-de-bord/listes/{lst.id}/nouveau-lot"
    page = client.get(url).get_data(as_text=True)
    assert f'name="amount-{entries[0].id}" value="20\u202f000"' in page
    assert "ACC-CNSS-001" in page
    response = client.post(
        url, data={"label": "Run", "account_id": demo["accounts"]["ACC-CNSS-001"], f"amount-{entries[0].id}": "abc"}
    )
    assert "Certains montants sont illisibles" in response.get_data(as_text=True)
    response = client.post(
        url, data={"label": "Run", "account_id": demo["accounts"]["ACC-CNSS-001"], f"amount-{entries[0].id}": "25000"}
    )
    assert response.status_code == 302


def test_superviseur_reads_lists_but_cannot_change_them(app, client, login_as):
    login_as("gestionnaire1@cnss.bj")
    assert client.post(NEW_LIST, data={"name": "Lecture", "currency": "XOF", "source": "empty"}).status_code == 302
    lst, _ = _list(app, "Lecture")
    client.delete_cookie("session")
    assert login(client, "superviseur@cnss.bj").status_code == 302
    page = client.get(f"/tableau-de-bord/listes/{lst.id}").get_data(as_text=True)
    assert "Lecture" in page and "Nouveau lot depuis cette liste" not in page
    assert client.post(f"/tableau-de-bord/listes/{lst.id}/beneficiaires/nouveau").status_code == 403
    client.delete_cookie("session")
    assert login(client, "gestionnaire@next.mr").status_code == 302
    assert "Lecture" not in client.get("/tableau-de-bord/listes").get_data(as_text=True)
    assert client.get(f"/tableau-de-bord/listes/{lst.id}").status_code == 404
    assert client.get(f"/tableau-de-bord/listes/{lst.id}/historique").status_code == 404


def test_records_written_as_a_payment_list_read_back_the_same(app, demo):
    from backoffice.services.bulk import lists as bulk_lists

    records = [
        {
            "party_id_type": "MSISDN",
            "party_id_value": "22222201234",  # international digits (issue 11)
            "amount": 150_050,
            "currency": "MRU",
            "name": "Ould, Ahmed",
            "note": "",
        },
        {
            "party_id_type": "PERSONAL_ID",
            "party_id_value": "X1",
            "amount": 2_000,
            "currency": "MRU",
            "name": "",
            "note": "",
        },
    ]
    data = bulk_lists.records_to_csv(records)
    assert data.decode().splitlines()[:2] == [
        "type_id,valeur_id,devise,montant,nom_complet",
        'MSISDN,22222201234,MRU,1500.5,"Ould, Ahmed"',
    ]
    with app.app_context():
        parsed = bulk_lists.parse_beneficiary_file(data, "MRU")
    assert parsed.format == "payment_list" and not parsed.errors
    assert [(e["party_id_value"], e["amount"], e["name"]) for e in parsed.entries] == [
        ("22222201234", 150_050, "Ould, Ahmed"),
        ("X1", 2_000, ""),
    ]
