"""API import benchmark: POST /api/v1/batches of a generated 100 000-row CSV (and, with --json, the same
rows as JSON lines), through the Flask test client: key check, idempotency record, streaming checks,
bulk inserts, commit and the 201 answer with its validation summary. Prints seconds and rows per second.

    .venv/bin/python benchmarks/api_import_bench.py            # throw-away PostgreSQL
    .venv/bin/python benchmarks/api_import_bench.py --sqlite   # SQLite file
    .venv/bin/python benchmarks/api_import_bench.py --rows 20000 --json
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Stack, load_average, own_peak_rss_mb  # noqa: E402
from benchmarks.import_bench import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file instead of PostgreSQL")
    parser.add_argument("--json", action="store_true", help="also send the rows as JSON lines")
    args = parser.parse_args()

    env = {"IMPORT_MAX_ROWS": str(max(args.rows, 200_000)), "MAX_UPLOAD_BYTES": str(64 * 1024 * 1024)}
    with Stack("backoffice-bench", sqlite=args.sqlite, env=env) as stack:
        run(stack, args.rows, "SQLite" if args.sqlite else "PostgreSQL", args.json)


def run(stack: Stack, rows: int, engine_name: str, with_json: bool) -> None:
    from backoffice.services.api_clients import DEMO_BATCH_CLIENT_KEY

    app = stack.app()
    content = generate(rows)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {DEMO_BATCH_CLIENT_KEY}", "Idempotency-Key": "bench-csv"}
    print(f"API import benchmark on {engine_name}: {rows:,} rows, {len(content) / 1e6:.1f} MB file")

    started = time.perf_counter()
    response = client.post(
        "/api/v1/batches",
        data={"file": (io.BytesIO(content), "bench.csv"), "libelle": "Benchmark API"},
        headers=headers,
        content_type="multipart/form-data",
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.get_data(as_text=True)[:1000]
    summary = response.get_json()["resume"]
    print(
        f"  CSV  : {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s), {summary['valides']:,} valid / {summary['invalides']:,} invalid"
    )

    if with_json:
        lines = []
        for line in content.decode().splitlines()[1:]:
            id_type, value, currency, amount, name = line.split(",")
            amount_int = int(amount) if amount.isdigit() else 0  # the invalid rows stay invalid rows
            lines.append(
                {"type_id": id_type, "valeur_id": value, "devise": currency, "montant": amount_int, "nom_complet": name}
            )
        body = json.dumps({"lignes": lines})
        started = time.perf_counter()
        response = client.post(
            "/api/v1/batches",
            data=body,
            headers={**headers, "Idempotency-Key": "bench-json", "Content-Type": "application/json"},
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.get_data(as_text=True)[:1000]
        print(
            f"  JSON : {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s), {len(body) / 1e6:.1f} MB body, HTTP {response.status_code}"
        )
    print(f"  peak RSS (process)          : {own_peak_rss_mb():.0f} MB")
    print(f"  machine                     : {load_average()}")


if __name__ == "__main__":
    main()
