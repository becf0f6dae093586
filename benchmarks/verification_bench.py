"""Payee verification throughput: rows/s of GET /parties lookups (the verification job),
PostgreSQL, the Mojaloop simulator with a fixed latency, the job run in this process.

    .venv/bin/python benchmarks/verification_bench.py --rows 5000 --concurrency 16,32,64

Prints one line per concurrency and a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backoffice import devservers  # noqa: E402


def _file(rows: int) -> bytes:
    lines = ["type_id,valeur_id,devise,montant,nom_complet"]
    lines += [f"MSISDN,22901{90000000 + i:08d},XOF,1000,Bénéficiaire {i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", default="16,32,64")
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()

    pg = devservers.start_postgres()
    redis = devservers.start_redis()
    instance = Path(tempfile.mkdtemp(prefix="bench-verification-"))
    os.environ.update(
        {
            "APP_ENV": "testing",
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis.url,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "RQ_QUEUE": "bench",
        }
    )
    simulator = devservers.start_simulator("mojaloop", options=["--latency-ms", str(args.latency_ms)])
    results = []
    try:
        from flask_migrate import upgrade

        from backoffice import create_app
        from backoffice.extensions import db
        from backoffice.models import Account, User
        from backoffice.services.bulk import importing, verification
        from backoffice.services.demo import seed_demo

        app = create_app({"MOJALOOP_SDK_URL": simulator.url})
        with app.app_context():
            upgrade()
            seed_demo()
            db.session.commit()
            actor = db.session.scalar(db.select(User).where(User.email == "gestionnaire1@cnss.bj"))
            account = db.session.scalar(db.select(Account).where(Account.account_id == "ACC-CNSS-001"))
            content = _file(args.rows)
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                app.config["VERIFY_CONCURRENCY"] = concurrency
                batch = importing.create_from_upload(actor, account.id, "Banc", io.BytesIO(content), "banc.csv")
                db.session.commit()
                batch.verification_status = verification.RUNNING
                db.session.commit()
                started = time.monotonic()
                counts = verification.run_verification(batch.id)
                elapsed = time.monotonic() - started
                rate = args.rows / elapsed
                print(
                    f"concurrency={concurrency} rows={args.rows} latency={args.latency_ms:g}ms "
                    f"elapsed={elapsed:.1f}s rate={rate:.0f} rows/s counts={counts}",
                    flush=True,
                )
                results.append((concurrency, elapsed, rate))
    finally:
        simulator.stop()
        redis.stop()
        pg.stop()
    print()
    print(f"| concurrency | rows | seconds | rows/s |  (latency {args.latency_ms:g} ms)")
    print("|---:|---:|---:|---:|")
    for concurrency, elapsed, rate in results:
        print(f"| {concurrency} | {args.rows} | {elapsed:.1f} | {rate:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
