"""Issue 11: phone numbers per country, the double-payment guard, payee verification,
draft corrections, re-payment of failed rows, the beneficiary search and the templates."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select, update

from backoffice.extensions import db
from backoffice.models.audit import AuditEvent
from backoffice.models.batches import Batch, BatchEvent, BatchRow
from backoffice.services import ServiceError, parties
from backoffice.services.bulk import approval, drafts, guard, search, verification
from tests.factories import fresh_batch, import_bytes, make_approved_batch, row_map, rows_of, user
from tests.support import configured_app, run_jobs

G1, G2 = "gestionnaire1@cnss.bj", "gestionnaire2@cnss.bj"
HEADER = b"type_id,valeur_id,devise,montant,nom_complet\n"


def _file(*lines: str) -> bytes:
    return HEADER + "".join(f"{line}\n" for line in lines).encode()


# Phone numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "country", "stored", "valid", "former"),
    [
        ("2290197123456", "BJ", "2290197123456", True, None),  # Bénin since 2024
        ("+229 01 97 12 34 56", "BJ", "2290197123456", True, None),
        ("0197123456", "BJ", "2290197123456", True, None),  # national, new plan
        ("22997123456", "BJ", "22997123456", True, "2290197123456"),  # former plan: kept as written
        ("0022997123456", "BJ", "22997123456", True, "2290197123456"),
        ("97123456", "BJ", "22997123456", True, "2290197123456"),
        ("2299701234", "BJ", "2299701234", False, None),  # neither plan
        ("36123456", "MR", "22236123456", True, None),  # Mauritanie: 8 digits
        ("+222 36 12 34 56", None, "22236123456", True, None),
        ("ANATT-BJ", "BJ", "ANATTBJ", False, None),
    ],
)
def test_phone_numbers_with_libphonenumber(typed, country, stored, valid, former):
    number = parties.parse_msisdn(typed, country)
    assert (number.value, number.valid, number.former_benin) == (stored, valid, former)


def test_former_benin_numbers_can_be_sent_in_the_new_form():
    number = parties.parse_msisdn("22997123456", "BJ", parties.FORMER_NEW)
    assert number.value == "2290197123456"
    assert number.warning == "Numéro béninois à l'ancien format (8 chiffres) : nouvelle forme 2290197123456."


def test_import_normalises_warns_and_refuses(app, demo):
    content = b"phone_number,amount,motive\n+229 01 97 00 00 01,100,a\n22997000002,200,b\n2299701234,300,c\n"
    with app.app_context():
        batch_id = import_bytes(demo, content)
        rows = rows_of(batch_id)
        assert (rows[0].party_id_value, rows[0].party_id_written, rows[0].warnings) == (
            "2290197000001",
            "+229 01 97 00 00 01",
            None,
        )
        assert rows[1].party_id_value == "22997000002" and rows[1].status == "PENDING"
        assert "ancien format" in rows[1].warnings[0]["message"] and "2290197000002" in rows[1].warnings[0]["message"]
        assert rows[2].status == "INVALID" and "« 2299701234 » invalide" in rows[2].errors[0]["message"]
    app.config["BENIN_FORMER_NUMBERS"] = "new"
    try:
        with app.app_context():
            rows = rows_of(import_bytes(demo, content))
            assert rows[1].party_id_value == "2290197000002"
    finally:
        app.config["BENIN_FORMER_NUMBERS"] = "as_written"


def test_preview_shows_the_number_as_written(app, client, login_as, demo):
    with app.app_context():
        batch_id = import_bytes(demo, b"phone_number,amount\n+229 01 97 00 00 01,100\n")
    login_as(G1)
    page = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert "2290197000001" in page and "écrit « +229 01 97 00 00 01 »" in page


def test_msisdn_account_id_must_be_a_number(app, demo):
    from backoffice.services import organisations

    with app.app_context():
        admin = user("admin@demo.bj")
        with pytest.raises(ServiceError, match="numéro de téléphone invalide « ANATTBJ »"):
            organisations.create_account(
                admin,
                organisation_id=demo["orgs"]["CNSS"],
                account_id="ACC-X",
                label="X",
                currency="XOF",
                party_id_type="MSISDN",
                party_id_value="ANATT-BJ",
            )
        account = organisations.create_account(
            admin,
            organisation_id=demo["orgs"]["CNSS"],
            account_id="ACC-Y",
            label="Y",
            currency="XOF",
            party_id_type="MSISDN",
            party_id_value="01 97 00 00 09",
        )
        assert account.party_id_value == "2290197000009"
        db.session.rollback()


def test_fines_api_validates_with_the_same_rule_and_never_rewrites():
    from backoffice.api.errors import ApiError
    from backoffice.services.fines.payment_requests import validate_request

    base = {"reference": "R-1", "amendes": ["A-1"], "montant": 1000, "devise": "XOF"}
    assert validate_request({**base, "telephone": "22997000001"}, ["XOF"], 20).telephone == "22997000001"
    assert validate_request({**base, "telephone": "2290197000001"}, ["XOF"], 20).telephone == "2290197000001"
    with pytest.raises(ApiError) as refused:
        validate_request({**base, "telephone": "2299701234"}, ["XOF"], 20)
    assert refused.value.extra["erreurs"][0]["champ"] == "telephone"


# The double-payment guard ------------------------------------------------------------------


def _paid_batch(demo, identifiers: list[str], period: str, amount: int = 5000) -> int:
    """A batch of the period whose rows are all COMPLETED."""
    batch_id = make_approved_batch(identifiers, amount=amount)
    db.session.execute(update(Batch).where(Batch.id == batch_id).values(status="COMPLETED", payment_period=period))
    db.session.execute(update(BatchRow).where(BatchRow.batch_id == batch_id).values(status="COMPLETED", settled=True))
    db.session.commit()
    return batch_id


def test_a_beneficiary_paid_earlier_in_the_month_is_flagged_and_needs_an_acknowledgement(app, demo):
    with app.app_context():
        period = guard.current_period()
        paid = _paid_batch(demo, ["2290197000001"], period)
        paid_reference = fresh_batch(paid).reference
        batch_id = import_bytes(demo, _file("MSISDN,2290197000001,XOF,5000,Awa", "MSISDN,2290197000002,XOF,7000,Koffi"))
        # The same person in another month is not a second payment.
        other_month = import_bytes(demo, _file("MSISDN,2290197000001,XOF,5000,Awa"))
        db.session.execute(update(Batch).where(Batch.id == other_month).values(payment_period="2020-01"))
        db.session.commit()
        approval.submit_batch(user(G1), other_month)
        assert not any(r.already_paid for r in rows_of(other_month))

        approval.submit_batch(user(G1), batch_id)
        rows = row_map(batch_id)
        flag = rows["2290197000001"].already_paid
        assert flag["reference"] == paid_reference and flag["amount"] == 5000 and flag["row_status"] == "COMPLETED"
        assert guard.flag_message(flag).startswith(f"Déjà payé pour cette période : lot {paid_reference} du ")
        assert rows["2290197000002"].already_paid is None

        with pytest.raises(ServiceError, match="1\u00a0ligne déjà payée pour cette période"):
            approval.approve_batch(user(G2), batch_id)
        assert fresh_batch(batch_id).status == "PENDING_APPROVAL"
        approval.approve_batch(user(G2), batch_id, acknowledgement="Rappel de pension validé par la direction.")
        batch = fresh_batch(batch_id)
        assert batch.status in ("APPROVED", "PROCESSING")
        assert batch.acknowledgement == "Rappel de pension validé par la direction."
        assert batch.acknowledged_by_id == demo["users"][G2]
        event = db.session.scalar(
            select(BatchEvent).where(BatchEvent.batch_id == batch_id, BatchEvent.action == "acknowledged")
        )
        assert "Rappel de pension validé" in event.message and event.details["already_paid"] == 1
        audited = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "batch.acknowledged"))
        assert audited is not None and audited.details["reason"] == "Rappel de pension validé par la direction."


def test_excluding_the_flagged_rows_approves_without_acknowledgement(app, demo):
    with app.app_context():
        period = guard.current_period()
        _paid_batch(demo, ["2290197000001"], period)
        batch_id = import_bytes(demo, _file("MSISDN,2290197000001,XOF,5000,Awa", "MSISDN,2290197000002,XOF,7000,Koffi"))
        approval.submit_batch(user(G1), batch_id)
        flagged = row_map(batch_id)["2290197000001"]
        drafts.exclude_row(user(G2), flagged.id, "Déjà payé le 3")
        db.session.commit()
        assert fresh_batch(batch_id).total_amount == 7000
        approval.approve_batch(user(G2), batch_id)
        assert fresh_batch(batch_id).reserved_amount == 7000


def test_an_active_batch_of_the_period_flags_the_same_beneficiary(app, demo):
    with app.app_context():
        first = import_bytes(demo, _file("MSISDN,2290197000001,XOF,5000,Awa"))
        approval.submit_batch(user(G1), first)
        second = import_bytes(demo, _file("MSISDN,2290197000001,XOF,6000,Awa"))
        approval.submit_batch(user(G1), second)
        flag = rows_of(second)[0].already_paid
        assert flag["reference"] == fresh_batch(first).reference and flag["row_status"] == "PENDING"


def test_a_re_saved_file_is_recognised_whatever_its_layout(app, client, login_as, demo):
    original = _file("MSISDN,2290197000001,XOF,5000,Awa Dossou", "PERSONAL_ID,12345,XOF,2500,Koffi")
    # Semicolons, Windows-1252, CRLF, columns in another order, amounts written differently.
    resaved = (
        "montant;nom_complet;devise;valeur_id;type_id\r\n"
        "2 500;Koffi;XOF;12345;PERSONAL_ID\r\n"
        "5000,00;Awa Dossou;XOF;+229 01 97 00 00 01;MSISDN\r\n"
    ).encode("cp1252")
    with app.app_context():
        first = import_bytes(demo, original)
        second = import_bytes(demo, resaved)
        a, b = fresh_batch(first), fresh_batch(second)
        assert a.file_sha256 != b.file_sha256 and a.content_sha256 == b.content_sha256
        assert [x.id for x in guard.same_content_batches(b)] == [first]
        different = import_bytes(
            demo, _file("MSISDN,2290197000001,XOF,5001,Awa Dossou", "PERSONAL_ID,12345,XOF,2500,K")
        )
        assert (
            guard.same_content_batches(fresh_batch(different)) == []
            or fresh_batch(different).content_sha256 != a.content_sha256
        )
        assert "Mêmes lignes que le lot" in db.session.scalar(
            select(BatchEvent.message).where(BatchEvent.batch_id == second, BatchEvent.action == "imported")
        )
    login_as(G1)
    page = client.get(f"/batches/{second}").get_data(as_text=True)
    assert "Les mêmes lignes (bénéficiaires, montants, devise) figurent déjà dans" in page


def test_same_beneficiary_twice_is_an_error_unless_allowed_with_a_reason(app, demo):
    with app.app_context():
        batch_id = import_bytes(demo, _file("MSISDN,2290197000001,XOF,5000,Awa", "MSISDN,2290197000001,XOF,3000,Awa"))
        twice = rows_of(batch_id)[1]
        assert twice.status == "INVALID"
        with pytest.raises(ServiceError, match="Le motif est obligatoire"):
            drafts.allow_duplicate(user(G1), twice.id, " ")
        drafts.allow_duplicate(user(G1), twice.id, "Pension et rappel")
        db.session.commit()
        row = rows_of(batch_id)[1]
        assert row.status == "PENDING" and row.duplicate_reason == "Pension et rappel" and row.errors is None
        batch = fresh_batch(batch_id)
        assert (batch.valid_count, batch.invalid_count, batch.total_amount) == (2, 0, 8000)


# Payee verification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "returned", "expected"),
    [
        ("Aïcha Dossou", "AICHA DOSSOU", "CONCORDANT"),  # accents, case
        ("Dossou Aïcha", "Aicha Dossou", "CONCORDANT"),  # word order
        ("Marie-Claire Agossou", "Marie Claire Agossou", "CONCORDANT"),  # hyphens
        ("K. Agossou", "Koffi Agossou", "CONCORDANT"),  # initials
        ("Koffi Agossu", "Koffi Agossou", "CONCORDANT"),  # a typo
        ("Koffi Agossou", "Jean Dossou", "DISCORDANT"),
    ],
)
def test_name_match(file_name, returned, expected):
    score = verification.name_score(file_name, returned)
    assert 0 <= score <= 100
    assert verification.classify(score, 85, 60) == expected


FAST_VERIFY = {
    "VERIFY_CONCURRENCY": 4,
    "VERIFY_BACKOFF_SECONDS": 0.05,
    "VERIFY_RETRY_BUDGET_SECONDS": 1.0,
    "VERIFY_TIMEOUT_SECONDS": 5,
}


def test_verification_saves_names_flags_discordant_and_invalidates_not_found(app, demo, sim):
    sim.configure(party_names={"2290197000001": "Awa Dossou", "2290197000002": "Jean Houngbédji"})
    content = _file(
        "MSISDN,2290197000001,XOF,5000,AWA DOSSOU",
        "MSISDN,2290197000002,XOF,6000,Koffi Agossou",
        "MSISDN,2290197000404,XOF,7000,Introuvable",
        "MSISDN,2290197000594,XOF,8000,",  # two 504s, then found
        "MSISDN,2290197000598,XOF,9000,Toujours 504",
    )
    with configured_app(app, {**FAST_VERIFY, "BATCH_VERIFY_REQUIRED": True}, sim.url):
        batch_id = import_bytes(demo, content)
        with pytest.raises(ServiceError, match="doivent être vérifiés"):
            approval.submit_batch(user(G1), batch_id)
        verification.start_verification(user(G1), batch_id)
        assert fresh_batch(batch_id).verification_status == "RUNNING"
        run_jobs(app)
        batch = fresh_batch(batch_id)
        assert batch.verification_status == "DONE"
        rows = row_map(batch_id)
        awa = rows["2290197000001"]
        assert (awa.lookup_status, awa.lookup_name, awa.name_match) == ("FOUND", "Awa Dossou", "CONCORDANT")
        assert awa.lookup_fsp_id
        koffi = rows["2290197000002"]
        assert (koffi.lookup_name, koffi.name_match) == ("Jean Houngbédji", "DISCORDANT")
        missing = rows["2290197000404"]
        assert missing.lookup_status == "NOT_FOUND" and missing.status == "INVALID"
        assert "Bénéficiaire introuvable chez Mojaloop" in missing.errors[-1]["message"]
        assert rows["2290197000594"].lookup_status == "FOUND" and rows["2290197000594"].name_match is None
        assert rows["2290197000598"].lookup_status == "UNVERIFIED" and rows["2290197000598"].status == "PENDING"
        assert (batch.valid_count, batch.invalid_count, batch.total_amount) == (4, 1, 28000)
        figures = verification.progress(batch)
        assert (figures["found"], figures["not_found"], figures["unverified"], figures["discordant"]) == (3, 1, 1, 1)
        assert [r.line_number for r in verification.mismatched_rows(batch)] == [3]

        approval.submit_batch(user(G1), batch_id, exclude_invalid=True)
        with pytest.raises(ServiceError, match="1\u00a0ligne au nom discordant"):
            approval.approve_batch(user(G2), batch_id)


def test_verification_in_chunks_finishes_once_and_defers_long_waits(app, demo, sim, monkeypatch):
    """Several chunk jobs share a batch and the verification is finished once; verifying again
    while it runs queues only the chunks whose job is gone; a row only waiting for its next
    try goes to a delayed job, whose budget runs on to « non vérifié »."""
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    monkeypatch.setattr(verification, "DEFER_AFTER_SECONDS", 0.1)
    content = _file(*(f"MSISDN,22901970000{i:02d},XOF,1000,Awa" for i in range(1, 6)), "MSISDN,2290197000598,XOF,1,X")
    settings = {**FAST_VERIFY, "VERIFY_CHUNK_SIZE": 2, "VERIFY_BACKOFF_SECONDS": 0.2}
    with configured_app(app, settings, sim.url):
        batch_id = import_bytes(demo, content)
        verification.start_verification(user(G1), batch_id)
        queue = app.get_queue()
        assert len(queue.get_job_ids()) == 3
        verification.start_verification(user(G1), batch_id)  # its jobs still queued: none added
        assert len(queue.get_job_ids()) == 3
        queue.empty()  # the jobs are lost (a worker died with them): verifying again resumes
        verification.start_verification(user(G1), batch_id)
        assert len(queue.get_job_ids()) == 3
        run_jobs(app)
        rows = row_map(batch_id)
        assert [rows[f"22901970000{i:02d}"].lookup_status for i in range(1, 6)] == ["FOUND"] * 5
        assert rows["2290197000598"].lookup_status is None  # waiting in a delayed job
        assert fresh_batch(batch_id).verification_status == "RUNNING"
        registry = ScheduledJobRegistry(queue=queue)
        (deferred,) = registry.get_job_ids()
        registry.remove(deferred)
        queue.enqueue_job(Job.fetch(deferred, connection=queue.connection))
        while fresh_batch(batch_id).verification_status == "RUNNING":
            run_jobs(app)  # its budget spent, or deferred again (then run at once here)
            for job_id in registry.get_job_ids():
                registry.remove(job_id)
                queue.enqueue_job(Job.fetch(job_id, connection=queue.connection))
        assert row_map(batch_id)["2290197000598"].lookup_status == "UNVERIFIED"
        events = db.session.scalars(
            select(BatchEvent).where(BatchEvent.batch_id == batch_id, BatchEvent.action == "verified")
        ).all()
        assert len(events) == 1 and events[0].details["found"] == 5 and events[0].details["unverified"] == 1


def test_verification_fragment_and_page_show_both_names(app, client, login_as, demo, sim):
    sim.configure(party_names={"2290197000002": "Jean Houngbédji"})
    with configured_app(app, FAST_VERIFY, sim.url):
        batch_id = import_bytes(demo, _file("MSISDN,2290197000002,XOF,6000,Koffi Agossou"))
    login_as(G1)
    assert client.post(f"/batches/{batch_id}/verify").status_code == 302
    with configured_app(app, FAST_VERIFY, sim.url):
        run_jobs(app)
    fragment = client.get(f"/batches/{batch_id}/verification")
    assert fragment.status_code == 286 and "Vérification terminée" in fragment.get_data(as_text=True)
    page = client.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert "Noms à contrôler" in page and "Koffi Agossou" in page and "Jean Houngbédji" in page
    assert "Discordant" in page


# Drafts, re-payment, search, templates ------------------------------------------------------------


def test_edit_a_draft_row_revalidates_and_keeps_history(app, demo):
    with app.app_context():
        batch_id = import_bytes(demo, _file("MSISDN,2299701234,XOF,5000,Awa"))
        row = rows_of(batch_id)[0]
        assert row.status == "INVALID"
        with pytest.raises(ServiceError, match="invalide"):
            drafts.edit_row(user(G1), row.id, "12", None)
        drafts.edit_row(user(G1), row.id, "01 97 00 12 34", "6 000")
        db.session.commit()
        row = rows_of(batch_id)[0]
        assert (row.status, row.party_id_value, row.amount, row.errors) == ("PENDING", "2290197001234", 6000, None)
        batch = fresh_batch(batch_id)
        assert (batch.valid_count, batch.invalid_count, batch.total_amount) == (1, 0, 6000)
        event = db.session.scalar(
            select(BatchEvent).where(BatchEvent.batch_id == batch_id, BatchEvent.action == "row_edited")
        )
        assert event.details["before"] == {"id_value": "2299701234", "amount": 5000}
        assert event.details["after"] == {"id_value": "2290197001234", "amount": 6000}
        with pytest.raises(Exception, match="Seul le gestionnaire qui a importé"):
            drafts.edit_row(user(G2), row.id, None, "1")


def test_repay_failed_rows_creates_a_linked_draft_with_new_transfer_ids(app, demo):
    with app.app_context():
        original = make_approved_batch(["2290197000001", "2290197000002", "2290197000003"], amount=1000)
        db.session.execute(
            update(BatchRow).where(BatchRow.batch_id == original).values(status="COMPLETED", settled=True)
        )
        db.session.execute(
            update(BatchRow)
            .where(BatchRow.batch_id == original, BatchRow.party_id_value == "2290197000002")
            .values(status="FAILED", error_code="5104")
        )
        db.session.execute(
            update(Batch).where(Batch.id == original).values(status="PARTIALLY_COMPLETED", reserved_amount=0)
        )
        db.session.commit()
        old = row_map(original)
        new = drafts.repay_failed_rows(user(G1), original)
        db.session.commit()
        rows = rows_of(new.id)
        assert [r.party_id_value for r in rows] == ["2290197000002"]
        assert rows[0].transfer_id != old["2290197000002"].transfer_id
        assert fresh_batch(new.id).repay_of_id == original and fresh_batch(new.id).total_amount == 1000
        assert [b.id for b in drafts.repayments_of(fresh_batch(original))] == [new.id]


def test_search_a_beneficiary_across_batches(app, client, login_as, demo):
    with app.app_context():
        import_bytes(demo, _file("MSISDN,22997000001,XOF,5000,Gildas Houénou", "MSISDN,2290197000002,XOF,10,Awa"))
        import_bytes(demo, _file("MSISDN,2290197000001,XOF,6000,GILDAS HOUENOU"))
        by_name = search.search_payments(demo["orgs"]["CNSS"], "gildas houenou")
        assert sorted(p.amount for p in by_name) == [5000, 6000]
        by_number = search.search_payments(demo["orgs"]["CNSS"], "+229 97 00 00 01")
        assert sorted(p.amount for p in by_number) == [5000, 6000]  # former and new forms
        assert search.search_payments(demo["orgs"]["NEXT"], "gildas") == []
    login_as("superviseur@cnss.bj")
    page = client.get("/batches/search?q=Houénou").get_data(as_text=True)
    assert "GILDAS HOUENOU" in page and "Gildas Houénou" in page


def test_templates_per_format_import_as_they_are(app, client, login_as, demo):
    login_as(G1)
    for code in ("standard", "payment_list", "recipients"):
        response = client.get(f"/batches/templates/{code}.csv")
        assert response.status_code == 200 and f"modele-{code}.csv" in response.headers["Content-Disposition"]
        with app.app_context():
            batch_id = import_bytes(demo, response.data)
            assert fresh_batch(batch_id).valid_count == 1, code
    assert client.get("/batches/templates/nope.csv").status_code == 404


def test_payment_period_chosen_at_upload(app, client, login_as, demo):
    login_as(G1)

    def upload(period: str):
        data = {
            "file": (io.BytesIO(_file("PERSONAL_ID,1,XOF,10,A")), "p.csv"),
            "account_id": demo["accounts"]["ACC-CNSS-001"],
            "label": "Décembre",
            "payment_period": period,
        }
        return client.post("/batches/new", data=data, content_type="multipart/form-data")

    response = upload("2026-12")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "décembre 2026" in page
    bad = upload("décembre")
    assert bad.status_code == 200 and "Période de paiement illisible" in bad.get_data(as_text=True)
    assert guard.period_label("2026-08") == "août 2026"


# Excel workbooks ---------------------------------------------------------------------------------


def _workbook(rows: list[list]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_upload_goes_through_the_same_checks(app, demo):
    content = _workbook(
        [
            [None],
            ["nom_complet", "montant", "devise", "valeur_id", "type_id"],  # any column order
            ["Awa Dossou", 5000, "XOF", 2290197000001, "MSISDN"],
            ["Koffi", 1500.0, "XOF", "2299701234", "MSISDN"],  # refused number
            [None, None, None, None, None],
            ["Awa Dossou", "5 000", "XOF", "+229 01 97 00 00 01", "MSISDN"],  # same beneficiary twice
        ]
    )
    with app.app_context():
        batch_id = import_bytes(demo, content, file_name="paie.xlsx")
        batch = fresh_batch(batch_id)
        assert (batch.file_format, batch.row_count, batch.valid_count, batch.invalid_count) == ("payment_list", 3, 1, 2)
        rows = rows_of(batch_id)
        assert [(r.line_number, r.party_id_value, r.amount) for r in rows] == [
            (3, "2290197000001", 5000),
            (4, "2299701234", 1500),
            (6, "2290197000001", 5000),
        ]
        assert "Même bénéficiaire que la ligne 3" in rows[2].errors[0]["message"]
        # The same rows as a CSV file: recognised as the same content.
        csv_copy = import_bytes(
            demo,
            _file("MSISDN,2290197000001,XOF,5000,Awa Dossou", "MSISDN,2299701234,XOF,1500,Koffi")
            + b"MSISDN,2290197000001,XOF,5000,Awa Dossou\n",
        )
        assert fresh_batch(csv_copy).content_sha256 == batch.content_sha256


def test_xlsx_template_and_damaged_workbooks(app, client, login_as, demo):
    login_as(G1)
    response = client.get("/batches/templates/payment_list.xlsx")
    assert response.status_code == 200 and response.data.startswith(b"PK")
    with app.app_context():
        assert fresh_batch(import_bytes(demo, response.data, file_name="modele.xlsx")).valid_count == 1
        with pytest.raises(ServiceError, match="classeur Excel est illisible"):
            import_bytes(demo, b"PK\x03\x04" + b"garbage" * 10)
        with pytest.raises(ServiceError, match="97-2003"):
            import_bytes(demo, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
