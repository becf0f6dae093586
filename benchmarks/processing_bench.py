"""Processing throughput: transfers/s end to end (approval → final batch), PostgreSQL, real
`flask worker` processes, the Mojaloop simulator with a fixed latency.

    .venv/bin/python benchmarks/processing_bench.py --rows 20000 --workers 1,2,4 --concurrency 16,32

Prints one line per (workers, concurrency) and a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backoffice import devservers  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", default="16,32")
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--timeout-rate", type=float, default=0.0, help="share of 504-then-committed answers")
    args = parser.parse_args()

    pg = devservers.start_postgres()
    redis = devservers.start_redis()
    instance = Path(tempfile.mkdtemp(prefix="bench-processing-"))
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "RQ_QUEUE": "bench",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "BATCH_CHUNK_SIZE": str(args.chunk_size),
    }
    os.environ.update(env)
    simulator = devservers.start_simulator(
        "mojaloop", options=["--latency-ms", str(args.latency_ms), "--timeout-rate", str(args.timeout_rate)]
    )
    results = []
    try:
        from flask_migrate import upgrade

        from backoffice import create_app
        from backoffice.extensions import db
        from backoffice.services.bulk import chunks, outcomes
        from backoffice.services.demo import seed_demo
        from tests.factories import ledger_consistent, make_approved_batch, msisdns
        from tests.support import Sim

        app = create_app()
        with app.app_context():
            upgrade()
            seed_demo()
            db.session.commit()
        sim = Sim(simulator.url)
        for workers in [int(w) for w in args.workers.split(",")]:
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                # Identifier faults that need the 60 s resend grace are left out: they measure a timer.
                sim.reset(
                    latency_ms=args.latency_ms,
                    timeout_rate=args.timeout_rate,
                    seed=1,
                    drop_suffixes=[],
                    hang_suffixes=[],
                )
                worker_env = {
                    **os.environ,
                    "MOJALOOP_SDK_URL": simulator.url,
                    "BATCH_CONCURRENCY": str(concurrency),
                    "BATCH_STATUS_BACKOFF_SECONDS": "0.5",
                }
                procs = [
                    subprocess.Popen(
                        [sys.executable, "-m", "flask", "--app", "wsgi.py", "worker"],
                        cwd=ROOT,
                        env=worker_env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for _ in range(workers)
                ]
                try:
                    with app.app_context():
                        batch_id = make_approved_batch(msisdns(args.rows, prefix="2290"), amount=1000)
                        time.sleep(2)  # workers up and listening
                        started = time.monotonic()
                        chunks.start_processing(batch_id)
                        from backoffice.models.batches import Batch

                        while True:
                            db.session.expire_all()
                            batch = db.session.get(Batch, batch_id)
                            db.session.commit()
                            if batch.is_final:
                                final_status = batch.status
                                break
                            time.sleep(0.2)
                        elapsed = time.monotonic() - started
                        ok, figures = ledger_consistent()
                        counts = outcomes.status_counts(batch_id)
                        db.session.commit()
                    stats = sim.stats()["totals"]
                    rate = args.rows / elapsed
                    line = (
                        f"workers={workers} concurrency={concurrency} rows={args.rows} "
                        f"elapsed={elapsed:.1f}s rate={rate:.0f} transfers/s status={final_status} "
                        f"counts={counts} posts={stats['posts']} commits={stats['commits']} ledger_ok={ok}"
                    )
                    print(line, flush=True)
                    results.append((workers, concurrency, elapsed, rate, final_status, ok))
                finally:
                    for proc in procs:
                        proc.terminate()
                    for proc in procs:
                        proc.wait(timeout=30)
    finally:
        simulator.stop()
        redis.stop()
        pg.stop()
    print()
    print(f"| workers | concurrency | rows | seconds | transfers/s |  (latency {args.latency_ms:g} ms)")
    print("|---:|---:|---:|---:|---:|")
    for workers, concurrency, elapsed, rate, _status, _ok in results:
        print(f"| {workers} | {concurrency} | {args.rows} | {elapsed:.1f} | {rate:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
