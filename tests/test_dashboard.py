"""Dashboard figures equal what Python computes from the rows themselves, org by org."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import login

PROVIDERS = [("mtn-bj", "MTN Mobile Money"), ("moov-bj", "Moov Money"), ("celtiis", "Celtiis Cash")]
ERRORS = [("3204", "Party not found"), ("5100", "Payee rejected"), ("4001", '=HYPERLINK("x") Payer FSP error')]


def generate_batches(org_id: int, account_id: int, user_id: int, currency: str, *, seed: int, days: list[date]):
    """Batches and rows of every kind spread over `days` (inserted directly, as the bulk area would)."""
    from backoffice.extensions import db
    from backoffice.models.batches import Batch, BatchRow, BatchStatus, RowStatus

    rng = random.Random(seed)
    # The statuses of a batch while it is paid (paused, cancelling) are left out: same draws as before.
    statuses = [s for s in BatchStatus if s not in (BatchStatus.PAUSED, BatchStatus.CANCELLING)]
    for n, day in enumerate(days):
        created = datetime.combine(day, datetime.min.time()) + timedelta(hours=rng.randint(6, 12))
        status = rng.choice(statuses)
        batch = Batch(
            organisation_id=org_id,
            account_id=account_id,
            reference=f"LOT-{seed}-{n:04d}",
            label=f"Lot {n}",
            status=status.value,
            currency=currency,
            created_by_id=user_id,
            created_at=created,
            approved_at=created + timedelta(minutes=30),
        )
        db.session.add(batch)
        db.session.flush()
        rows = []
        for line in range(2, 2 + rng.randint(5, 25)):
            row_status = rng.choices(
                [RowStatus.COMPLETED, RowStatus.FAILED, RowStatus.PENDING, RowStatus.SKIPPED, RowStatus.UNKNOWN],
                weights=[70, 15, 5, 5, 5],
            )[0]
            settled = row_status in (RowStatus.COMPLETED, RowStatus.FAILED)
            code, description = rng.choice(ERRORS) if row_status == RowStatus.FAILED else (None, None)
            # A settled row may land the next day (crossing the period's edge).
            completed_at = created + timedelta(hours=rng.randint(0, 30)) if settled else None
            rows.append(
                {
                    "batch_id": batch.id,
                    "line_number": line,
                    "status": row_status.value,
                    "party_id_type": "MSISDN",
                    "party_id_value": f"2299700{rng.randint(0, 60):04d}",  # repeats: distinct counts matter
                    "amount": rng.randint(1, 500) * (100 if currency == "MRU" else 1000),
                    "currency": currency,
                    "transfer_id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "payee_fsp_id": rng.choice([p for p, _ in PROVIDERS] + [None]) if settled else None,
                    "fee": rng.randint(0, 50) if row_status == RowStatus.COMPLETED else 0,
                    "error_code": code,
                    "error_description": description,
                    # Like the processing: a failed row may only carry the time it was written.
                    "completed_at": None if row_status == RowStatus.FAILED and line % 2 else completed_at,
                    "updated_at": completed_at,
                }
            )
        db.session.execute(BatchRow.__table__.insert(), rows)
    db.session.commit()


@pytest.fixture
def dashboard_data(app, demo):
    """Two months of CNSS batches, some NEXT batches with values CNSS must never see."""
    from backoffice.extensions import db
    from backoffice.models.providers import PayeeProvider

    with app.app_context():
        for fsp, name in PROVIDERS:
            db.session.add(PayeeProvider(fsp_id=fsp, name=name))
        db.session.commit()
        cnss_days = [date(2026, 9, 1) + timedelta(days=i) for i in range(0, 61, 2)]
        generate_batches(
            demo["orgs"]["CNSS"],
            demo["accounts"]["ACC-CNSS-001"],
            demo["users"]["gestionnaire1@cnss.bj"],
            "XOF",
            seed=1,
            days=cnss_days,
        )
        generate_batches(
            demo["orgs"]["NEXT"],
            demo["accounts"]["ACC-NEXT-001"],
            demo["users"]["gestionnaire@next.mr"],
            "MRU",
            seed=2,
            days=[date(2026, 10, 5), date(2026, 10, 6)],
        )
    return demo


def expected_figures(org_id: int, start: date, end: date, tz: str = "Africa/Porto-Novo") -> dict:
    """The same figures, computed in Python from every row (no SQL aggregate), in days of
    the organisation's zone (stored times are naive UTC)."""
    from zoneinfo import ZoneInfo

    from backoffice.extensions import db
    from backoffice.models.batches import Batch, BatchRow

    def local(value: datetime | None) -> datetime | None:
        return value and value.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)

    lo = datetime.combine(start, datetime.min.time())
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time())
    amounts: Counter = Counter()
    fees: Counter = Counter()
    completed = failed = 0
    beneficiaries = set()
    failures: Counter = Counter()
    per_day_amount: Counter = Counter()
    per_day_failed: Counter = Counter()
    per_provider = defaultdict(lambda: [0, 0, 0])
    for row in db.session.query(BatchRow).all():
        batch = db.session.get(Batch, row.batch_id)
        settled_at = local(row.completed_at or row.updated_at)
        if batch.organisation_id != org_id or settled_at is None or not (lo <= settled_at < hi):
            continue
        provider = per_provider[row.payee_fsp_id or ""]
        if row.status == "COMPLETED":
            completed += 1
            amounts[batch.currency] += row.amount
            fees[batch.currency] += row.fee
            beneficiaries.add((row.party_id_type, row.party_id_value))
            per_day_amount[local(row.completed_at).date()] += row.amount
            provider[0] += 1
            provider[2] += row.amount
        elif row.status == "FAILED":
            failed += 1
            failures[row.error_code] += 1
            per_day_failed[settled_at.date()] += 1
            provider[1] += 1
    batches = Counter(
        b.status
        for b in db.session.query(Batch).filter(Batch.organisation_id == org_id).all()
        if lo <= local(b.created_at) < hi
    )
    return {
        "amounts": dict(amounts),
        "fees": dict(fees),
        "completed": completed,
        "failed": failed,
        "beneficiaries": len(beneficiaries),
        "failures": dict(failures),
        "per_day_amount": per_day_amount,
        "per_day_failed": per_day_failed,
        "providers": {k: tuple(v) for k, v in per_provider.items()},
        "batches": dict(batches),
    }


@pytest.mark.parametrize(
    "start,end",
    [
        (date(2026, 9, 1), date(2026, 9, 30)),
        (date(2026, 10, 10), date(2026, 10, 10)),
        (date(2026, 8, 1), date(2026, 12, 31)),
    ],
)
@pytest.mark.parametrize("rolled_up", [False, True], ids=["rows", "rollups"])
def test_figures_equal_python_computation(app, dashboard_data, start, end, rolled_up):
    from backoffice.extensions import db
    from backoffice.models.batches import Batch
    from backoffice.services.dashboard.figures import dashboard_figures
    from backoffice.services.dashboard.rollups import rollup_batch
    from backoffice.services.periods import Period

    with app.app_context():
        org = dashboard_data["orgs"]["CNSS"]
        if rolled_up:  # final batches summed once, the others still read live
            done = [rollup_batch(b.id) for b in db.session.query(Batch).all()]
            db.session.commit()
            assert any(done) and not all(done)
        figures = dashboard_figures(org, Period(start, end, "Africa/Porto-Novo"))
        expected = expected_figures(org, start, end)
    assert expected["completed"] > 0 or start == end
    assert figures.amounts == expected["amounts"]
    assert figures.fees == expected["fees"]
    assert figures.completed == expected["completed"]
    assert figures.failed == expected["failed"]
    assert figures.beneficiaries == expected["beneficiaries"]
    assert {r.code: r.count for r in figures.failures} == expected["failures"]
    assert {s: c for s, c in figures.batches_by_status.items() if c} == expected["batches"]
    assert {p.fsp_id: (p.completed, p.failed, p.amounts.get("XOF", 0)) for p in figures.providers} == expected[
        "providers"
    ]
    assert [d.day for d in figures.days] == [start + timedelta(days=i) for i in range((end - start).days + 1)]
    for d in figures.days:
        assert d.amounts.get("XOF", 0) == expected["per_day_amount"][d.day]
        assert d.failed == expected["per_day_failed"][d.day]
    names = {p.fsp_id: p.name for p in figures.providers}
    assert names.get("mtn-bj", "MTN Mobile Money") == "MTN Mobile Money"
    descriptions = {r.code: r.description for r in figures.failures}
    assert descriptions.get("3204", "Party not found") == "Party not found"
    if figures.completed + figures.failed:
        assert figures.success_rate == pytest.approx(figures.completed / (figures.completed + figures.failed))


def test_rollup_is_refreshed_when_a_final_batch_changes(app, dashboard_data):
    """A row of a final batch decided later (NEEDS_REVIEW → COMPLETED): rolling up again counts it."""
    from backoffice.extensions import db
    from backoffice.models.batches import Batch, BatchRow
    from backoffice.services.dashboard.figures import dashboard_figures
    from backoffice.services.dashboard.rollups import rollup_batch
    from backoffice.services.periods import Period

    period = Period(date(2026, 9, 1), date(2026, 10, 31))
    with app.app_context():
        org = dashboard_data["orgs"]["CNSS"]
        batch = db.session.query(Batch).filter_by(organisation_id=org, status="COMPLETED").first()
        assert rollup_batch(batch.id)
        db.session.commit()
        before = dashboard_figures(org, period)
        row = db.session.query(BatchRow).filter_by(batch_id=batch.id, status="PENDING").first() or (
            db.session.query(BatchRow).filter_by(batch_id=batch.id, status="SKIPPED").first()
        )
        row.status, row.completed_at = "COMPLETED", datetime(2026, 10, 15, 12)
        db.session.commit()
        assert dashboard_figures(org, period).completed == before.completed  # the rollup still holds
        rollup_batch(batch.id)
        db.session.commit()
        after = dashboard_figures(org, period)
        assert after.completed == before.completed + 1
        assert after.amounts["XOF"] == before.amounts["XOF"] + row.amount
        assert after.beneficiaries == expected_figures(org, period.start, period.end)["beneficiaries"]


def test_page_shows_the_figures_of_the_period(app, client, dashboard_data):
    from backoffice.services.dashboard.figures import dashboard_figures
    from backoffice.services.money import format_amount
    from backoffice.services.periods import Period

    with app.app_context():
        figures = dashboard_figures(dashboard_data["orgs"]["CNSS"], Period(date(2026, 9, 1), date(2026, 9, 30)))
    assert login(client, "superviseur@cnss.bj").status_code == 302
    html = client.get("/tableau-de-bord/?date_from=2026-09-01&date_to=2026-09-30").get_data(as_text=True)
    assert format_amount(figures.amounts["XOF"], "XOF") in html
    assert f'data-figure="beneficiaries">{figures.beneficiaries}<' in html.replace("\u202f", "")
    assert "Party not found" in html
    assert "MTN Mobile Money" in html
    assert "/batches/?date_from=2026-09-01&amp;date_to=2026-09-30&amp;error_code=3204" in html
    assert "/batches/?date_from=2026-09-01&amp;date_to=2026-09-30&amp;provider=mtn-bj" in html
    assert html.count("<canvas") == 3
    assert "<script>" not in html and "style=" not in html


def test_default_period_is_this_month_and_bad_dates_are_explained(app, client, demo):
    assert login(client, "superviseur@cnss.bj").status_code == 302
    import calendar

    from backoffice.services.locale import local_today

    today = local_today("Africa/Porto-Novo")  # CNSS Bénin's days, not UTC's
    last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    html = client.get("/tableau-de-bord/").get_data(as_text=True)
    assert f'value="{today.replace(day=1).isoformat()}"' in html
    assert f'value="{last.isoformat()}"' in html
    assert "heure de Porto-Novo (UTC+01:00)" in html
    assert "Aucune donnée pour cette période." in html
    html = client.get("/tableau-de-bord/?date_from=2026-10-10&date_to=2026-10-01").get_data(as_text=True)
    assert "La date de fin précède la date de début" in html
    html = client.get("/tableau-de-bord/?date_from=n%27importe&date_to=quoi").get_data(as_text=True)
    assert "Dates illisibles" in html


def test_export_has_the_page_figures_bom_and_no_formula(app, client, dashboard_data):
    from backoffice.services.dashboard.figures import dashboard_figures
    from backoffice.services.periods import Period

    with app.app_context():
        figures = dashboard_figures(dashboard_data["orgs"]["CNSS"], Period(date(2026, 9, 1), date(2026, 10, 31)))
    assert login(client, "superviseur@cnss.bj").status_code == 302
    response = client.get("/tableau-de-bord/export.csv?date_from=2026-09-01&date_to=2026-10-31")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    by_label = {r[0]: r for r in rows if r and r[0]}
    assert by_label["Montant versé"][1:] == ["XOF", str(figures.amounts["XOF"])]
    assert by_label["Paiements réussis"][2] == str(figures.completed)
    assert by_label["Bénéficiaires payés"][2] == str(figures.beneficiaries)
    cells = [c for r in rows for c in r]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert '\'=HYPERLINK("x") Payer FSP error' in cells
    comma = client.get("/tableau-de-bord/export.csv?date_from=2026-09-01&date_to=2026-10-31&sep=,")
    assert comma.data.decode("utf-8-sig").splitlines()[0] == "Tableau de bord,CNSS Bénin"


def test_no_other_organisation_data(app, client, dashboard_data):
    """NEXT's MRU rows appear nowhere on CNSS's dashboard or export, and vice versa."""
    assert login(client, "superviseur@cnss.bj").status_code == 302
    html = client.get("/tableau-de-bord/?date_from=2026-10-01&date_to=2026-10-31").get_data(as_text=True)
    export = client.get("/tableau-de-bord/export.csv?date_from=2026-10-01&date_to=2026-10-31").data.decode("utf-8-sig")
    assert "MRU" not in html and "MRU" not in export

    client.delete_cookie("session")
    assert login(client, "gestionnaire@next.mr").status_code == 302
    html = client.get("/tableau-de-bord/?date_from=2026-09-01&date_to=2026-10-31").get_data(as_text=True)
    export = client.get("/tableau-de-bord/export.csv?date_from=2026-09-01&date_to=2026-10-31").data.decode("utf-8-sig")
    assert "F CFA" not in html and ";XOF;" not in export
    with app.app_context():
        from backoffice.services.dashboard.figures import dashboard_figures
        from backoffice.services.periods import Period

        next_figures = dashboard_figures(dashboard_data["orgs"]["NEXT"], Period(date(2026, 9, 1), date(2026, 10, 31)))
        expected = expected_figures(dashboard_data["orgs"]["NEXT"], date(2026, 9, 1), date(2026, 10, 31))
    assert next_figures.amounts == expected["amounts"] and set(next_figures.amounts) == {"MRU"}


def test_chart_links_open_the_filtered_history(app, dashboard_data):
    from backoffice.services.dashboard.figures import chart_specs, dashboard_figures
    from backoffice.services.periods import Period

    with app.app_context():
        figures = dashboard_figures(dashboard_data["orgs"]["CNSS"], Period(date(2026, 9, 1), date(2026, 9, 3)))
    charts = chart_specs(figures)
    assert charts["per_day"]["links"] == [f"/batches/?date_from=2026-09-0{d}&date_to=2026-09-0{d}" for d in (1, 2, 3)]
    assert charts["outcome"]["links"] == [
        "/batches/?date_from=2026-09-01&date_to=2026-09-03&status=COMPLETED",
        "/batches/?date_from=2026-09-01&date_to=2026-09-03&status=FAILED",
    ]
    assert all("&error_code=" in link for link in charts["reasons"]["links"])
    assert len(charts["per_day"]["datasets"][0]["data"]) == 3


def test_fines_summary_is_zero_until_the_fines_area_exists(app, demo):
    from backoffice.services.dashboard.figures import fines_summary
    from backoffice.services.periods import this_month

    with app.app_context():
        summary = fines_summary(demo["orgs"]["CNSS"], this_month())
    assert summary == {"collected_count": 0, "collected": {}, "refunded_count": 0, "refunded": {}}


def test_final_batches_without_rollup_are_queued_once(app, dashboard_data):
    from backoffice.services.dashboard.figures import dashboard_figures
    from backoffice.services.periods import Period

    with app.app_context():
        queue = app.get_queue()
        dashboard_figures(dashboard_data["orgs"]["CNSS"], Period(date(2026, 9, 1), date(2026, 9, 30)))
        first = queue.count
        dashboard_figures(dashboard_data["orgs"]["CNSS"], Period(date(2026, 9, 1), date(2026, 9, 30)))
        assert first > 0 and queue.count == first
        assert all(job_id.startswith("dashboard-rollup-") for job_id in queue.job_ids)
