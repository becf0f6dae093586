"""Pages benchmark: history with 1 000 batches, details of a 100 000-row batch (PostgreSQL).

Builds the data on a throw-away PostgreSQL (1 000 batches of 10 rows, plus one batch of
100 000 rows imported through the real upload service, then given mixed outcomes as if
paid), and times the pages through the Flask test client (rendering included, no
network). Prints p50 / p95 per page.

    .venv/bin/python benchmarks/pages_bench.py
    .venv/bin/python benchmarks/pages_bench.py --batches 1000 --rows 100000 --repeat 40
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Stack, load_average, sign_in  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the plans of the slowest queries")
    args = parser.parse_args()

    with Stack("backoffice-bench", sqlite=args.sqlite) as stack:
        run(stack, args, "SQLite" if args.sqlite else "PostgreSQL")


def build(app, batches: int, rows: int) -> int:
    """The data set; returns the id of the big batch."""
    from sqlalchemy import insert, text, update

    from backoffice.extensions import db
    from backoffice.models import Account, User
    from backoffice.models.batches import Batch, BatchRow
    from backoffice.services.bulk.importing import create_from_upload

    with app.app_context():
        org_id, account_id = db.session.execute(
            db.select(Account.organisation_id, Account.id).where(Account.account_id == "ACC-CNSS-001")
        ).one()
        users = db.session.scalars(db.select(User.id).where(User.organisation_id == org_id)).all()
        statuses = ["COMPLETED", "PARTIALLY_COMPLETED", "FAILED", "DRAFT", "PENDING_APPROVAL", "CANCELLED"]
        start = datetime(2026, 1, 1)
        for i in range(batches):
            created = start + timedelta(hours=7 * i)
            batch_id = db.session.execute(
                insert(Batch).returning(Batch.id),
                [
                    {
                        "organisation_id": org_id,
                        "account_id": account_id,
                        "reference": f"LOT-{created:%Y%m%d}-B{i:04d}",
                        "label": f"Pensions lot {i}",
                        "status": statuses[i % len(statuses)],
                        "currency": "XOF",
                        "row_count": 10,
                        "valid_count": 10,
                        "total_amount": 10_000,
                        "created_by_id": users[i % len(users)],
                        "created_at": created,
                    }
                ],
            ).scalar_one()
            db.session.execute(
                insert(BatchRow),
                [
                    {
                        "batch_id": batch_id,
                        "line_number": n + 2,
                        "status": "COMPLETED" if n < 7 else "FAILED",
                        "party_id_type": "MSISDN",
                        "party_id_value": f"22997{i:04d}{n:02d}",
                        "amount": 1000,
                        "currency": "XOF",
                        "transfer_id": str(uuid4()),
                        "error_code": None if n < 7 else "3204",
                    }
                    for n in range(10)
                ],
            )
        db.session.commit()

        content = b"type_id,valeur_id,devise,montant,nom_complet\n" + b"".join(
            b"PERSONAL_ID,%d,XOF,%d,Pensionn\xc3\xa9 %d\n" % (10**9 + i, 1000 + i % 500, i) for i in range(rows)
        )
        actor = db.session.get(User, users[0])
        big = create_from_upload(actor, account_id, "Grand lot", io.BytesIO(content), "grand.csv")
        db.session.commit()
        big_id = big.id
        # Outcomes as if paid: 80 % completed, 5 % failed, the rest still pending.
        db.session.execute(
            update(BatchRow)
            .where(BatchRow.batch_id == big_id, BatchRow.line_number % 20 < 16)
            .values(status="COMPLETED", fee=10, payee_name="NOM MOJALOOP", completed_at=datetime(2026, 11, 25))
        )
        db.session.execute(
            update(BatchRow)
            .where(BatchRow.batch_id == big_id, BatchRow.line_number % 20 == 16)
            .values(status="FAILED", error_code="3204", error_description="Party not found")
        )
        db.session.execute(update(Batch).where(Batch.id == big_id).values(status="PROCESSING"))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    return big_id


def timed(client, url: str, repeat: int) -> tuple[float, float]:
    client.get(url)  # warm-up (template compilation, caches)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(round(0.95 * len(samples))) - 1)]


def run(stack: Stack, args, engine_name: str) -> None:
    started = time.perf_counter()
    app = stack.app({"WTF_CSRF_ENABLED": False})
    big_id = build(app, args.batches, args.rows)
    print(f"Pages benchmark on {engine_name}: {args.batches} batches + one of {args.rows:,} rows")
    print(f"  (data built in {time.perf_counter() - started:.0f} s)")
    client = app.test_client()
    sign_in(client, "superviseur@cnss.bj")
    last_page = (args.rows + 24) // app.config["PAGE_SIZE"]
    pages = [
        ("history, first page", "/batches/"),
        ("history, page 20", "/batches/?page=20"),
        ("history, status filter", "/batches/?status=COMPLETED"),
        ("history, text search", "/batches/?q=lot%2099"),
        ("history, error code 3204", "/batches/?error_code=3204"),
        ("details of the big batch", f"/batches/{big_id}"),
        ("details, failed rows", f"/batches/{big_id}?status=FAILED"),
        ("details, beneficiary search", f"/batches/{big_id}?q=1000099"),
        ("details, last page", f"/batches/{big_id}?page={last_page}"),
    ]
    print(f"  {'page':32} {'p50':>8} {'p95':>8}   ({args.repeat} requests each)")
    for label, url in pages:
        p50, p95 = timed(client, url, args.repeat)
        print(f"  {label:32} {p50:6.1f} ms {p95:6.1f} ms")
    started = time.perf_counter()
    export = client.get(f"/batches/{big_id}/export.csv")
    size = len(export.get_data())
    print(
        f"  {'export.csv of the big batch':32} {time.perf_counter() - started:6.2f} s  ({size / 1e6:.1f} MB, streamed)"
    )
    print(f"  machine                     : {load_average()}")
    if args.explain:
        explain(app, client, [url for _label, url in pages])


def explain(app, client, urls: list[str]) -> None:
    """Each SQL statement of each page with its time, slowest first (PostgreSQL EXPLAIN ANALYZE)."""
    from sqlalchemy import event

    from backoffice.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    for url in urls:
        seen.clear()
        client.get(url)
        captured = list(seen)
        print(f"\n== {url}")
        with engine.connect() as conn:
            for statement, parameters in captured:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                plan = conn.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters).fetchall()
                total = plan[-1][0]
                print(f"  {total:28} {' '.join(statement.split())[:150]}")
                if os.environ.get("PLANS") and float(total.split()[2]) > 5:
                    print("\n".join("      " + line for (line,) in plan))
    event.remove(engine, "before_cursor_execute", record)


if __name__ == "__main__":
    main()
