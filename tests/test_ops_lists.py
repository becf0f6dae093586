"""A batch from a big list, page by page or by a CSV of changes (issue 15)."""

from __future__ import annotations

import html
import io
import re

from sqlalchemy import func, select

from backoffice.extensions import db
from backoffice.models.audit import AuditEvent
from backoffice.models.batches import Batch, BatchRow
from backoffice.models.lists import BeneficiaryAmountDraft, BeneficiaryEntry
from backoffice.services import beneficiaries
from backoffice.services.bulk import list_drafts
from tests.factories import user

G1 = "gestionnaire1@cnss.bj"


def make_list(app, count: int = 250, name: str = "Pensions") -> tuple[int, list[int], list[str]]:
    """A list of `count` entries paying 1 000 F CFA each, written straight through the service."""
    with app.app_context():
        lst = beneficiaries.create_list(user(G1), name, "XOF")
        beneficiaries.insert_entries(
            lst,
            [
                {"party_id_type": "PERSONAL_ID", "party_id_value": f"P{n:05d}", "name": f"Personne {n}", "amount": 1000}
                for n in range(count)
            ],
        )
        db.session.commit()
        rows = db.session.execute(
            select(BeneficiaryEntry.id, BeneficiaryEntry.party_id_value)
            .where(BeneficiaryEntry.list_id == lst.id)
            .order_by(BeneficiaryEntry.id)
        ).all()
        return lst.id, [r[0] for r in rows], [r[1] for r in rows]


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _drafts(app) -> dict[int, int]:
    with app.app_context():
        return dict(db.session.execute(select(BeneficiaryAmountDraft.entry_id, BeneficiaryAmountDraft.amount)).all())


def test_the_page_shows_one_page_of_entries_and_keeps_amounts_between_pages(app, client, login_as, demo):
    list_id, ids, _ = make_list(app)
    login_as(G1)
    url = f"/tableau-de-bord/listes/{list_id}/nouveau-lot"
    first = _text(client.get(url))
    assert len(re.findall(r'name="amount-\d+"', first)) == 100
    assert "Page 1 sur 3" in first and "250" in first
    assert "250\u202f000\u202fF CFA" in first  # the total over the whole list, not the page
    assert "disponible" in first and "Fonds suffisants" in first

    # Moving to page 2 saves page 1's amounts.
    moved = client.post(
        url + "?page=1",
        data={f"amount-{ids[0]}": "2 500", f"amount-{ids[1]}": "1000", "action": "page:2", "label": "Décembre"},
    )
    assert moved.status_code == 302 and "page=2" in moved.headers["Location"] and "label=D" in moved.headers["Location"]
    assert _drafts(app) == {ids[0]: 2500}  # equal to the default: nothing stored
    second = _text(client.get(moved.headers["Location"]))
    assert f'name="amount-{ids[100]}"' in second and f'name="amount-{ids[0]}"' not in second
    assert "251\u202f500\u202fF CFA" in second and 'value="Décembre"' in second
    assert f'name="amount-{ids[0]}" value="2\u202f500"' in _text(client.get(url + "?page=1"))

    # One unreadable amount on a page: that page writes nothing, the error sits by the field.
    bad = client.post(
        url + "?page=2", data={f"amount-{ids[100]}": "3000", f"amount-{ids[101]}": "abc", "action": "page:3"}
    )
    page = _text(bad)
    assert bad.status_code == 200 and "rien n'a été enregistré sur cette page" in page
    assert "Montant illisible" in page
    assert _drafts(app) == {ids[0]: 2500}

    # Emptying a field goes back to the default; creating the batch uses the draft and drops it.
    created = client.post(
        url + "?page=3",
        data={
            f"amount-{ids[249]}": "5000",
            "action": "create",
            "label": "Décembre",
            "account_id": demo["accounts"]["ACC-CNSS-001"],
        },
    )
    assert created.status_code == 302 and "/batches/" in created.headers["Location"]
    with app.app_context():
        batch = db.session.scalars(select(Batch)).one()
        assert (batch.row_count, batch.total_amount) == (250, 250_000 + 1500 + 4000)
        assert (
            db.session.scalar(select(BatchRow.amount).where(BatchRow.batch_id == batch.id, BatchRow.line_number == 2))
            == 2500
        )
        assert db.session.scalar(select(func.count()).select_from(BeneficiaryAmountDraft)) == 0
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert "beneficiary_list.amounts_saved" in actions and "beneficiary_list.batch_created" in actions


def test_a_csv_of_changes_is_applied_whole_or_not_at_all(app, client, login_as, demo):
    list_id, ids, values = make_list(app, 120)
    login_as(G1)
    url = f"/tableau-de-bord/listes/{list_id}/nouveau-lot/modifications"

    def upload(content: bytes):
        return client.post(
            url, data={"file": (io.BytesIO(content), "modifs.csv"), "label": "L"}, content_type="multipart/form-data"
        )

    bad = upload(f"identifiant;montant\n{values[0]}; 2 000\nINCONNU;100\n{values[1]};abc\n{values[0]};3000\n".encode())
    page = _text(bad)
    assert bad.status_code == 400 and "Le fichier contient 3 erreurs : aucun montant n'a été modifié." in page
    table = page.split('id="change-problems"')[1].split("</table>")[0]
    assert (
        '<td class="num">3</td><td>identifiant</td><td>INCONNU</td><td>Aucun bénéficiaire actif de la liste n\'a cet identifiant.</td>'
        in table
    )
    assert f'<td class="num">4</td><td>montant</td><td>{values[1]}</td><td>Montant illisible' in table
    assert '<td class="num">5</td><td>identifiant</td>' in table and "Déjà modifié ligne 2." in table
    assert _drafts(app) == {}  # nothing half-written

    no_file = client.post(url, data={"label": "L"}, content_type="multipart/form-data")
    assert no_file.status_code == 400 and "Choisissez un fichier CSV." in _text(no_file)
    missing_header = _text(upload(b"nom;prix\nx;1\n"))
    assert "« identifiant » et « montant »" in missing_header

    good = upload(f"\ufeffIdentifiant;Montant\n{values[0]};2 000\n{values[119]};1500\n".encode())
    assert good.status_code == 302
    assert _drafts(app) == {ids[0]: 2000, ids[119]: 1500}
    after = _text(client.get(good.headers["Location"]))
    assert "2\u00a0montants modifiés depuis le fichier." in after and "121\u202f500\u202fF CFA" in after
    with app.app_context():
        assert "beneficiary_list.amounts_uploaded" in set(db.session.scalars(select(AuditEvent.action)))


def test_changes_by_phone_number_comma_file_and_superviseur_refused(app, client, login_as, demo):
    with app.app_context():
        lst = beneficiaries.create_list(user(G1), "Tel", "XOF")
        beneficiaries.add_entry(
            user(G1), lst, party_id_type="MSISDN", party_id_value="22997000001", name="A", amount_text="100", note=""
        )
        db.session.commit()
        list_id = lst.id
        stored = db.session.scalar(select(BeneficiaryEntry.party_id_value).where(BeneficiaryEntry.list_id == list_id))
        changes, problems = list_drafts.read_changes(f"identifiant,montant\n{stored},250\n".encode(), lst, "BJ")
        assert problems == [] and list(changes.values()) == [250]
    login_as("superviseur@cnss.bj")
    assert client.post(f"/tableau-de-bord/listes/{list_id}/nouveau-lot/modifications").status_code == 403
