"""Dashboard benchmark: a year of bulk payments on PostgreSQL, then p50/p95 of the dashboard.

Generates MONTHS × BATCHES × ROWS settled rows (default 12 × 30 × 10 000 = 3.6 M) with
PostgreSQL's generate_series (server side, so generation takes minutes, not hours), then
times `GET /tableau-de-bord/` as the CNSS superviseur through the Flask test client (the
full request: session, SQL aggregates, template) for several periods.

    .venv/bin/python benchmarks/dashboard_bench.py                 # throw-away PostgreSQL
    .venv/bin/python benchmarks/dashboard_bench.py --rows 1000     # smaller scale
    DATABASE_URL=postgresql+psycopg2://… .venv/bin/python benchmarks/dashboard_bench.py --reuse
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Stack, sign_in  # noqa: E402

PROVIDERS = ["mtn-bj", "moov-bj", "celtiis-bj", "orange-ci", "wave-sn"]


def month_starts(count: int, today: date) -> list[date]:
    """The first day of the `count` months ending with this one, oldest first."""
    firsts = [today.replace(day=1)]
    while len(firsts) < count:
        previous = firsts[-1] - timedelta(days=1)
        firsts.append(previous.replace(day=1))
    return list(reversed(firsts))


def generate(conn, org_id: int, account_id: int, user_id: int, months: int, batches: int, rows: int) -> int:
    """Insert the batches and their rows month by month; returns the number of rows."""
    today = datetime.utcnow().date()
    total = 0
    for m, first in enumerate(month_starts(months, today)):
        last_day = today.day if first.month == today.month and first.year == today.year else 28
        started = time.perf_counter()
        conn.exec_driver_sql(
            """
            INSERT INTO batches (organisation_id, account_id, reference, label, status, currency, file_name,
                file_sha256, file_format, row_count, valid_count, invalid_count, warning_count, total_amount,
                exclude_invalid, reserved_amount, created_by_id, created_at, submitted_at, approved_at,
                processing_started_at, completed_at)
            SELECT %(org)s, %(account)s, 'BENCH-' || %(m)s || '-' || k, 'Pensions ' || %(m)s || '/' || k,
                CASE WHEN k %% 10 = 0 THEN 'COMPLETED' ELSE 'PARTIALLY_COMPLETED' END, 'XOF', 'bench.csv', '',
                'payment_list', %(rows)s, %(rows)s, 0, 0, 0, false, 0, %(user)s, ts, ts, ts, ts,
                ts + interval '2 hours'
            FROM generate_series(0, %(batches)s - 1) AS k,
                 LATERAL (SELECT %(first)s::timestamp + ((k %% %(days)s) * interval '1 day')
                                 + interval '8 hours' AS ts) t
            """,
            {
                "org": org_id,
                "account": account_id,
                "m": m,
                "rows": rows,
                "user": user_id,
                "batches": batches,
                "first": first.isoformat(),
                "days": last_day,
            },
        )
        conn.exec_driver_sql(
            """
            INSERT INTO batch_rows (batch_id, line_number, status, party_id_type, party_id_value, amount,
                currency, name, note, source_reference, transfer_id, home_transaction_id, payee_name,
                payee_fsp_id, fee, error_code, error_description, completed_at, attempts, status_checks,
                settled)
            SELECT b.id, g + 2,
                CASE WHEN g %% 25 = 0 THEN 'FAILED' ELSE 'COMPLETED' END,
                'MSISDN', '2299' || lpad(((b.id * 7919 + g) %% 150000)::text, 7, '0'),
                20000 + (g %% 50) * 1000, 'XOF', 'Bénéficiaire ' || g, '', '',
                md5(b.id::text || '-' || g::text)::uuid::text, 'row-' || b.id || '-' || g, NULL,
                (%(providers)s::text[])[1 + (g %% 5)],
                CASE WHEN g %% 25 = 0 THEN 0 ELSE 100 END,
                CASE WHEN g %% 25 = 0 THEN (ARRAY['3204','5100','3208','2001'])[1 + (g / 25) %% 4] END,
                CASE WHEN g %% 25 = 0 THEN (ARRAY['Party not found','Payee rejected','Transfer expired',
                    'Internal server error'])[1 + (g / 25) %% 4] END,
                b.approved_at + (g * interval '500 milliseconds'), 1, 0, true
            FROM batches b, generate_series(0, %(rows)s - 1) AS g
            WHERE b.reference LIKE 'BENCH-' || %(m)s || '-%%'
            """,
            {"rows": rows, "m": m, "providers": "{" + ",".join(PROVIDERS) + "}"},
        )
        total += batches * rows
        print(f"  month {first:%Y-%m}: {batches * rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
    conn.exec_driver_sql("ANALYZE")
    return total


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--batches", type=int, default=30, help="batches per month")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per batch")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="DATABASE_URL already holds the generated data")
    args = parser.parse_args()

    # DATABASE_URL already set (--reuse): that database; otherwise a throw-away PostgreSQL.
    reuse = {"DATABASE_URL": os.environ["DATABASE_URL"]} if os.environ.get("DATABASE_URL") else {}
    with Stack("dashboard-bench", env=reuse):
        run(args)


def run(args) -> None:
    from flask_migrate import upgrade

    from backoffice import create_app
    from backoffice.extensions import db
    from backoffice.services.demo import seed_demo

    app = create_app({"WTF_CSRF_ENABLED": False})
    with app.app_context():
        if not args.reuse:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            upgrade()
            seed_demo()
            db.session.commit()
            from backoffice.models import Account, Organisation, User

            org = db.session.query(Organisation).filter_by(code="CNSS").one()
            account = db.session.query(Account).filter_by(account_id="ACC-CNSS-001").one()
            user = db.session.query(User).filter_by(email="gestionnaire1@cnss.bj").one()
            print(f"Generating {args.months} months × {args.batches} batches × {args.rows:,} rows …")
            started = time.perf_counter()
            with db.engine.begin() as conn:
                total = generate(conn, org.id, account.id, user.id, args.months, args.batches, args.rows)
            print(f"Generated {total:,} rows in {time.perf_counter() - started:.0f} s")
        else:  # a database generated before the rollup tables existed
            from backoffice.models.rollups import BatchDayStats, BatchRollup

            db.metadata.create_all(db.engine, tables=[BatchRollup.__table__, BatchDayStats.__table__])
        from backoffice.models.batches import Batch
        from backoffice.services.dashboard.rollups import rollup_batch

        ids = [b for (b,) in db.session.execute(db.select(Batch.id).order_by(Batch.id)).all()]
        started = time.perf_counter()
        for batch_id in ids:  # what each batch's finish job does, once
            rollup_batch(batch_id)
            db.session.commit()
        elapsed = time.perf_counter() - started
        print(
            f"Rolled up {len(ids)} final batches in {elapsed:.1f} s ({elapsed / max(len(ids), 1) * 1000:.0f} ms each)"
        )
        count = db.session.execute(db.text("SELECT count(*) FROM batch_rows")).scalar()
        print(f"batch_rows: {count:,} rows; PostgreSQL {db.session.execute(db.text('SHOW server_version')).scalar()}")

    client = app.test_client()
    sign_in(client, "superviseur@cnss.bj")
    today = datetime.utcnow().date()
    previous_month_end = today.replace(day=1) - timedelta(days=1)
    periods = {
        "this month (default)": "/tableau-de-bord/",
        "last full month": f"/tableau-de-bord/?date_from={previous_month_end.replace(day=1)}&date_to={previous_month_end}",
        "one day": f"/tableau-de-bord/?date_from={previous_month_end}&date_to={previous_month_end}",
        "whole year": f"/tableau-de-bord/?date_from={month_starts(args.months, today)[0]}&date_to={today}",
        "CSV export, last month": f"/tableau-de-bord/export.csv?date_from={previous_month_end.replace(day=1)}"
        f"&date_to={previous_month_end}",
    }
    print(
        f"\n{'page':<26} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   "
        f"(first = distinct-beneficiaries cache empty; then {args.iterations} requests)"
    )
    for label, url in periods.items():
        started = time.perf_counter()
        assert client.get(url).status_code == 200  # cold: fills the distinct count cache
        first = (time.perf_counter() - started) * 1000
        timings = []
        for _ in range(args.iterations):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        print(
            f"{label:<26} {first:9.1f} {statistics.median(timings):8.1f} "
            f"{percentile(timings, 0.95):8.1f} {max(timings):8.1f}"
        )


if __name__ == "__main__":
    main()
