"""Reading payment files: the sample files (tests/samples), real-world encodings, and broken inputs."""

from __future__ import annotations

import html
import io
import re
import uuid

import pytest

from backoffice.extensions import db
from backoffice.models.batches import Batch, BatchRow
from backoffice.services.bulk.reading import FileRejected
from tests.conftest import SAMPLES
from tests.factories import PAYMENT_LIST, fresh_batch, import_bytes, rows_of


def _upload(client, path_or_bytes, account_id: int, label: str = "Lot de test", name: str = "fichier.csv"):
    content = path_or_bytes.read_bytes() if hasattr(path_or_bytes, "read_bytes") else path_or_bytes
    return client.post(
        "/batches/new",
        data={"file": (io.BytesIO(content), name), "account_id": str(account_id), "label": label},
        content_type="multipart/form-data",
    )


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _only_batch(app) -> Batch:
    with app.app_context():
        batches = db.session.scalars(db.select(Batch)).all()
        assert len(batches) == 1
        return batches[0]


# The samples users really send -----------------------------------------------------------

SAMPLE_CASES = [
    # file, uploader, account, format, rows, valid, total (minor units), currency, id type
    (
        "pensions-liste-paiement.csv",
        "gestionnaire1@cnss.bj",
        "ACC-CNSS-001",
        "payment_list",
        19,
        19,
        196_300,
        "PERSONAL_ID",
    ),
    ("standard-format.csv", "gestionnaire1@cnss.bj", "ACC-CNSS-001", "standard", 2, 2, 15_000, "MSISDN"),
    ("mass-payment-recipients.csv", "gestionnaire@next.mr", "ACC-NEXT-001", "recipients", 4, 4, 1_900_000, "MSISDN"),
    ("name-amount-account.csv", "gestionnaire@next.mr", "ACC-NEXT-001", "accounts", 15, 15, 3_105_350, "ACCOUNT_ID"),
]


@pytest.mark.parametrize(("name", "email", "account", "fmt", "count", "valid", "total", "id_type"), SAMPLE_CASES)
def test_sample_files_give_what_their_readme_says(
    app, client, login_as, demo, name, email, account, fmt, count, valid, total, id_type
):
    login_as(email)
    response = _upload(client, SAMPLES / name, demo["accounts"][account], name=name)
    assert response.status_code == 302, _text(response)[:2000]
    b = _only_batch(app)
    assert (b.file_format, b.row_count, b.valid_count, b.invalid_count, b.total_amount) == (fmt, count, valid, 0, total)
    with app.app_context():
        rows = rows_of(b.id)
        assert len(rows) == count
        assert {r.party_id_type for r in rows} == {id_type}
        assert [r.line_number for r in rows] == list(range(2, count + 2))
        assert all(r.status == "PENDING" and not r.errors for r in rows)
        assert all(r.home_transaction_id == f"{b.reference}-{r.line_number}" for r in rows)
        assert all(uuid.UUID(r.transfer_id).version == 4 for r in rows)
    assert re.fullmatch(r"LOT-\d{8}-\d{4}", b.reference)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert b.reference in page and "Soumettre pour approbation" in page


def test_pensions_90_has_one_row_in_another_currency(app, demo):
    """The README says "all valid, 861 800 XOF", but line 23 is in NGN (15000 NGN).

    The currency rule wins: paying 15 000 XOF to someone owed 15 000 NGN would be a wrong
    payment. That row is invalid with its reason; the 89 others are valid (846 800 XOF).
    """
    with app.app_context():
        batch_id = import_bytes(demo, (SAMPLES / "pensions-90.csv").read_bytes())
        b = fresh_batch(batch_id)
        assert (b.file_format, b.row_count, b.valid_count, b.invalid_count) == ("payment_list", 90, 89, 1)
        assert b.total_amount == 861_800 - 15_000
        invalid = [r for r in rows_of(batch_id) if r.status == "INVALID"]
        assert [(r.line_number, r.name, r.errors) for r in invalid] == [
            (
                23,
                "Ange Adjaho",
                [{"field": "devise", "message": "Devise NGN différente de celle du compte payeur (XOF)."}],
            )
        ]


def test_sample_details_accents_references_and_notes(app, demo):
    with app.app_context():
        pensions = rows_of(import_bytes(demo, (SAMPLES / "pensions-90.csv").read_bytes()))
        assert "Boris Avocè" in {r.name for r in pensions}
        assert "Gildas Houénou" in {r.name for r in pensions}
        standard = rows_of(import_bytes(demo, (SAMPLES / "standard-format.csv").read_bytes()))
        assert [(r.source_reference, r.party_id_value, r.amount) for r in standard] == [
            ("tx-001", "22890123456", 10_000),
            ("tx-002", "22890654321", 5_000),
        ]
        recipients = rows_of(
            import_bytes(
                demo, (SAMPLES / "mass-payment-recipients.csv").read_bytes(), "ACC-NEXT-001", "gestionnaire@next.mr"
            )
        )
        assert [(r.party_id_value, r.amount, r.currency, r.note) for r in recipients] == [
            # National Mauritanian numbers, stored as Mojaloop expects them (issue 11).
            ("22220593670", 1_200_000, "MRU", "Salary"),
            ("22242563512", 500_000, "MRU", ""),
            ("22226456565", 50_000, "MRU", ""),
            ("22226594815", 150_000, "MRU", "Salaire"),
        ]


def test_name_amount_account_into_xof_refuses_the_rows_with_cents(app, demo):
    with app.app_context():
        batch_id = import_bytes(demo, (SAMPLES / "name-amount-account.csv").read_bytes())
        b = fresh_batch(batch_id)
        assert (b.row_count, b.valid_count, b.invalid_count, b.total_amount) == (15, 8, 7, 14_650)
        invalid = [r for r in rows_of(batch_id) if r.status == "INVALID"]
        assert [r.name for r in invalid] == [
            "Jane Smith",
            "Emily Davis",
            "Michael Wilson",
            "David Miller",
            "Christopher Martinez",
            "Barbara Robinson",
            "Susan Rodriguez",
        ]
        for row in invalid:
            assert row.errors == [
                {"field": "amount", "message": row.errors[0]["message"]},
            ]
            assert row.errors[0]["message"].startswith("XOF n'a pas de centimes")


# Files as people really send them -----------------------------------------------------


def test_windows_1252_semicolons_crlf_quotes_and_french_amounts(app, demo):
    content = (
        "Nom_Complet;Montant;Devise;Valeur_ID;Type_ID;Commentaire\r\n"
        '"Irène Djegui";"1 500,50";MRU;"222 333 44";msisdn;"a; b"\r\n'
        '"Zoé ""la grande""";50000.00;mru;AB-12;PERSONAL_ID;\r\n'
    ).encode("cp1252")
    with app.app_context():
        batch_id = import_bytes(demo, content, "ACC-NEXT-001", "gestionnaire@next.mr")
        rows = rows_of(batch_id)
        assert fresh_batch(batch_id).file_format == "payment_list"
        assert [(r.line_number, r.name, r.amount, r.currency, r.party_id_type, r.party_id_value) for r in rows] == [
            (2, "Irène Djegui", 150_050, "MRU", "MSISDN", "22222233344"),  # international digits (issue 11)
            (3, 'Zoé "la grande"', 5_000_000, "MRU", "PERSONAL_ID", "AB-12"),
        ]
        assert all(r.status == "PENDING" for r in rows)


def test_utf16_from_excel_unicode_text_with_tabs(app, demo):
    content = "\n\n\n\n\n\n\n\n\n\nphone_number\tamount\r\n22233344\t1500,50\r\n".encode("utf-16")
    with app.app_context():
        rows = rows_of(import_bytes(demo, content, "ACC-NEXT-001", "gestionnaire@next.mr"))
        assert [(r.line_number, r.party_id_value, r.amount) for r in rows] == [(12, "22222233344", 150_050)]


def test_utf8_bom_any_order_extra_columns_blank_lines_and_no_final_newline(app, demo):
    content = (
        "\ufeffPartyIdentifier,Currency,Extra,AMOUNT,TransferId,PartyIdType\n"
        "22990000001,XOF,x,50 000,t1,MSISDN\n"
        "\n"
        "+22990000002,XOF,y,\u00a01\u202f000\u00a0,t2,MSISDN\n"
        ",,,,,"
    ).encode()
    with app.app_context():
        batch_id = import_bytes(demo, content)
        rows = rows_of(batch_id)
        assert [(r.line_number, r.party_id_value, r.amount, r.source_reference) for r in rows] == [
            (2, "22990000001", 50_000, "t1"),
            (4, "22990000002", 1_000, "t2"),  # no "+" (issue 11)
        ]
        assert fresh_batch(batch_id).total_amount == 51_000


# Row checks -----------------------------------------------------------------------------

ROW_CASES = [
    # (id type, id value, currency, amount) → (field, start of the French reason)
    (("MSISDN", "22997000001", "XOF", "abc"), ("montant", "Montant illisible")),
    (("MSISDN", "22997000001", "XOF", "-500"), ("montant", "Le montant doit être positif")),
    (("MSISDN", "22997000001", "XOF", "0"), ("montant", "Le montant doit être supérieur à zéro")),
    (("MSISDN", "22997000001", "XOF", ""), ("montant", "Montant manquant")),
    (("MSISDN", "22997000001", "XOF", "12.5"), ("montant", "XOF n'a pas de centimes")),
    (("MSISDN", "22997000001", "XOF", "99999999999999999999"), ("montant", "Montant trop élevé")),
    (("MSISDN", "12345", "XOF", "100"), ("valeur_id", "Numéro de téléphone « 12345 » invalide")),
    (("MSISDN", "2299700000A", "XOF", "100"), ("valeur_id", "Numéro de téléphone")),
    (("MSISDN", "+1234567890123456", "XOF", "100"), ("valeur_id", "Numéro de téléphone")),
    (("PHONE", "22997000001", "XOF", "100"), ("type_id", "Type d'identifiant « PHONE » inconnu de Mojaloop")),
    (("", "22997000001", "XOF", "100"), ("type_id", "Type d'identifiant manquant")),
    (("PERSONAL_ID", "", "XOF", "100"), ("valeur_id", "Identifiant du bénéficiaire manquant")),
    (("PERSONAL_ID", "x" * 129, "XOF", "100"), ("valeur_id", "Identifiant trop long")),
    (("PERSONAL_ID", "123", "EUR", "100"), ("devise", "Devise EUR différente de celle du compte payeur (XOF)")),
    (("PERSONAL_ID", "123", "", "100"), ("devise", "Devise manquante")),
]


def test_each_bad_row_gets_its_field_and_reason(app, demo):
    lines = ["type_id,valeur_id,devise,montant,nom_complet", "PERSONAL_ID,999,XOF,1000,Bon"]
    lines += [",".join([*values, "X"]) for values, _ in ROW_CASES]
    with app.app_context():
        batch_id = import_bytes(demo, "\n".join(lines).encode())
        rows = rows_of(batch_id)
        b = fresh_batch(batch_id)
        assert (b.row_count, b.valid_count, b.invalid_count, b.total_amount) == (
            len(ROW_CASES) + 1,
            1,
            len(ROW_CASES),
            1000,
        )
        assert rows[0].status == "PENDING"
        for row, (values, (field, reason)) in zip(rows[1:], ROW_CASES, strict=True):
            assert row.status == "INVALID", values
            assert row.errors[0]["field"] == field, (values, row.errors)
            assert row.errors[0]["message"].startswith(reason), (values, row.errors)


def test_duplicate_transfer_id_is_an_error_and_same_beneficiary_too(app, demo):
    # Issue 11: the same beneficiary twice in a file is an error (it was a warning).
    content = (
        b"transferId,amount,currency,partyIdType,partyIdentifier\n"
        b"tx-1,100,XOF,MSISDN,2290190000001\n"
        b"tx-2,200,XOF,MSISDN,2290190000001\n"
        b"tx-1,300,XOF,MSISDN,2290190000003\n"
    )
    with app.app_context():
        batch_id = import_bytes(demo, content)
        rows = rows_of(batch_id)
        assert rows[0].errors is None and rows[0].warnings is None
        assert rows[1].status == "INVALID"
        assert rows[1].errors == [
            {"field": "partyIdentifier", "message": "Même bénéficiaire que la ligne 2 (MSISDN 2290190000001)."}
        ]
        assert rows[2].status == "INVALID"
        assert rows[2].errors == [
            {"field": "transferId", "message": "transferId « tx-1 » en double (déjà utilisé ligne 2)."}
        ]
        b = fresh_batch(batch_id)
        assert (b.valid_count, b.invalid_count, b.warning_count, b.total_amount) == (1, 2, 0, 100)


def test_same_file_uploaded_again_warns_on_the_batch(app, client, login_as, demo):
    with app.app_context():
        first = import_bytes(demo, PAYMENT_LIST)
        second = import_bytes(demo, PAYMENT_LIST)
        other_file = import_bytes(demo, PAYMENT_LIST + b"PERSONAL_ID,5,XOF,1,Z\n")
        first_ref = fresh_batch(first).reference
        from backoffice.models import AuditEvent
        from backoffice.models.batches import BatchEvent

        imported = db.session.scalar(db.select(BatchEvent).where(BatchEvent.batch_id == second))
        assert imported.details["same_file_as"] == [first_ref]
        assert f"Ce fichier a déjà été importé ({first_ref})." in imported.message
        audit_details = db.session.scalars(
            db.select(AuditEvent.details).where(AuditEvent.action == "batch.imported").order_by(AuditEvent.id)
        ).all()
        assert [d["same_file_as"] for d in audit_details] == [[], [first_ref], []]
    login_as("gestionnaire1@cnss.bj")
    assert "déjà été importé" not in client.get(f"/batches/{first}").get_data(as_text=True)
    page = _text(client.get(f"/batches/{second}"))
    assert "Ce même fichier a déjà été importé" in page and first_ref in page
    assert "déjà été importé" not in client.get(f"/batches/{other_file}").get_data(as_text=True)


# Files refused as a whole: a clear error, nothing written -----------------------------

BROKEN_FILES = [
    (
        "wrong-header",
        b"nom,prenom,salaire\nA,B,100\n",
        "En-tête non reconnu (colonnes trouvées : nom, prenom, salaire)",
    ),
    ("incomplete-header", b"type_id,valeur_id,montant\nPERSONAL_ID,1,100\n", "colonne(s) manquante(s) devise"),
    ("empty", b"", "Le fichier est vide."),
    ("blank-lines", b"\r\n  \n\n", "Le fichier est vide."),
    ("header-only", b"phone_number,amount\n", "aucune ligne de paiement"),
    ("binary", bytes(range(256)) * 4, "n'est pas un fichier texte CSV"),
    ("excel", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100, "classeur Excel"),
    ("huge-field", b"phone_number,amount\n22990000001,1" + b"0" * 200_000 + b"\n", "Ligne 2 illisible"),
]


@pytest.mark.parametrize(("case", "content", "message"), BROKEN_FILES, ids=[c[0] for c in BROKEN_FILES])
def test_broken_files_are_refused_with_a_clear_error(app, client, login_as, demo, case, content, message):
    login_as("gestionnaire1@cnss.bj")
    response = _upload(client, content, demo["accounts"]["ACC-CNSS-001"])
    assert response.status_code == 200
    assert message in _text(response)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Batch)) == 0
        assert db.session.scalar(db.select(db.func.count()).select_from(BatchRow)) == 0


def test_over_the_byte_limit(app, client, login_as, demo):
    login_as("gestionnaire1@cnss.bj")
    app.config["IMPORT_MAX_BYTES"] = 200
    try:
        response = _upload(client, PAYMENT_LIST * 3, demo["accounts"]["ACC-CNSS-001"])
    finally:
        app.config["IMPORT_MAX_BYTES"] = 20 * 1024 * 1024
    assert "Fichier trop volumineux : la limite est de 200 octets" in _text(response)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Batch)) == 0


def test_over_the_row_limit_writes_nothing_even_after_a_first_insert_group(app, client, login_as, demo):
    """1 600 rows against a limit of 1 500: the first 1 000 were inserted, then rolled back."""
    login_as("gestionnaire1@cnss.bj")
    content = b"phone_number,amount\n" + b"".join(b"2299%07d,100\n" % i for i in range(1600))
    app.config["IMPORT_MAX_ROWS"] = 1500
    try:
        response = _upload(client, content, demo["accounts"]["ACC-CNSS-001"])
    finally:
        app.config["IMPORT_MAX_ROWS"] = 200_000
    assert "Trop de lignes : la limite est de 1\u202f500 lignes par lot" in _text(response)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Batch)) == 0
        assert db.session.scalar(db.select(db.func.count()).select_from(BatchRow)) == 0


def test_upload_form_checks_the_account_and_the_label(app, client, login_as, demo):
    login_as("gestionnaire1@cnss.bj")
    other_org_account = demo["accounts"]["ACC-NEXT-001"]
    response = _upload(client, PAYMENT_LIST, other_org_account)
    assert response.status_code == 200
    assert "Choisissez un compte payeur actif de votre organisation." in _text(response)
    response = _upload(client, PAYMENT_LIST, demo["accounts"]["ACC-CNSS-001"], label="")
    assert "Ce champ est obligatoire." in _text(response)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Batch)) == 0
        with pytest.raises(FileRejected, match="Le fichier est vide"):
            import_bytes(demo, b"")


def test_awkward_text_survives_the_bulk_insert(app, demo):
    """Values that mean something to COPY or to CSV come back exactly as they were."""
    content = (
        "type_id,valeur_id,devise,montant,nom_complet\n"
        "PERSONAL_ID,1,XOF,10,\\N\n"
        "PERSONAL_ID,2,XOF,10,\n"
        'PERSONAL_ID,3,XOF,10,"a\tb ""c"" \\\\ d"\n'
        'PERSONAL_ID,4,XOF,10,"deux\nlignes"\n'
        'PERSONAL_ID,5,XOF,10,"é, ü; €"\n'
    ).encode()
    with app.app_context():
        rows = rows_of(import_bytes(demo, content))
        assert [(r.line_number, r.name) for r in rows] == [
            (2, "\\N"),
            (3, ""),
            (4, 'a\tb "c" \\\\ d'),
            (5, "deux\nlignes"),
            (7, "é, ü; €"),
        ]
        assert all(r.errors is None and r.warnings is None and r.amount == 10 for r in rows)
