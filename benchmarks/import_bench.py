"""Import benchmark: a generated 100 000-row file uploaded, checked and previewed.

Goes through the real upload path (multipart POST /batches/new through the Flask test
client, the streaming checks, bulk inserts, commit) and then renders the preview page.
Prints the seconds, rows per second and the process's peak memory.

    .venv/bin/python benchmarks/import_bench.py            # throw-away PostgreSQL
    .venv/bin/python benchmarks/import_bench.py --sqlite   # SQLite file
    .venv/bin/python benchmarks/import_bench.py --rows 200000
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Stack, load_average, own_peak_rss_mb, sign_in  # noqa: E402


def generate(rows: int) -> bytes:
    """A payment list like the pension platform's, with a few invalid rows and duplicates."""
    rng = random.Random(42)
    out = io.StringIO()
    out.write("type_id,valeur_id,devise,montant,nom_complet\r\n")
    for i in range(rows):
        if i % 1000 == 999:
            out.write(f"PERSONAL_ID,{rng.randrange(10**9, 10**10)},XOF,12.5,Ligne invalide {i}\r\n")
        else:
            out.write(f"PERSONAL_ID,{10**9 + i},XOF,{rng.randrange(1, 500) * 100},Bénéficiaire n°{i}\r\n")
    return out.getvalue().encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file instead of PostgreSQL")
    args = parser.parse_args()

    env = {"IMPORT_MAX_ROWS": str(max(args.rows, 200_000))}
    with Stack("backoffice-bench", sqlite=args.sqlite, env=env) as stack:
        run(stack, args.rows, "SQLite" if args.sqlite else "PostgreSQL")


def run(stack: Stack, rows: int, engine_name: str) -> None:
    from backoffice.extensions import db
    from backoffice.models import Account
    from backoffice.models.batches import Batch

    app = stack.app({"WTF_CSRF_ENABLED": False})
    with app.app_context():
        account_id = db.session.scalar(db.select(Account.id).where(Account.account_id == "ACC-CNSS-001"))
    content = generate(rows)
    client = app.test_client()
    sign_in(client, "gestionnaire1@cnss.bj")
    before = own_peak_rss_mb()

    started = time.perf_counter()
    cpu_started = time.process_time()
    response = client.post(
        "/batches/new",
        data={"file": (io.BytesIO(content), "bench.csv"), "account_id": str(account_id), "label": "Benchmark"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    uploaded = time.perf_counter()
    preview = client.get(response.headers["Location"])
    assert preview.status_code == 200
    finished = time.perf_counter()
    cpu = time.process_time() - cpu_started

    with app.app_context():
        batch = db.session.scalar(db.select(Batch))
        counts = (batch.row_count, batch.valid_count, batch.invalid_count)
    total = finished - started
    print(f"Import benchmark on {engine_name}: {rows:,} rows, {len(content) / 1e6:.1f} MB file")
    print(f"  rows / valid / invalid      : {counts[0]:,} / {counts[1]:,} / {counts[2]:,}")
    print(f"  upload + checks + inserts   : {uploaded - started:.2f} s")
    print(f"  preview page                : {(finished - uploaded) * 1000:.0f} ms")
    print(f"  total                       : {total:.2f} s ({rows / total:,.0f} rows/s)")
    print(f"  CPU time of this process    : {cpu:.2f} s (the database server's work is not in it)")
    print(f"  peak RSS (process)          : {own_peak_rss_mb():.0f} MB (before the upload: {before:.0f} MB)")
    print(f"  machine                     : {load_average()}")


if __name__ == "__main__":
    main()
