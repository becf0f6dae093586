"""Payee verification throughput: rows/s of GET /parties lookups from start_verification to the
batch verified, real `flask worker` processes sharing the batch's chunks, the Mojaloop
simulator with a fixed latency, PostgreSQL with durable settings (fsync, synchronous commits,
full page writes on, as in production).

    .venv/bin/python benchmarks/verification_bench.py --rows 50000 --workers 2 --concurrency 48
    .venv/bin/python benchmarks/verification_bench.py --rows 5000 --inline --concurrency 16,64

`--concurrency` (VERIFY_CONCURRENCY, lookups in flight per job) may list several values, one
run each. `--inline` runs the whole batch as one job in this process (no workers). Prints, per
run, rows/s and the CPU ms per row of each process (workers, PostgreSQL's process tree, Redis,
the simulator) read from /proc, the workers' peak RSS, the load average, and a table at the end.
The simulator's default faults stay on: per 10 000 numbers one party not found, one answering
two 504s then found, one always 504 (« non vérifié » once VERIFY_RETRY_BUDGET_SECONDS, 20 s, is
spent); "pipeline" is the rate until every row but those was looked up.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Stack, load_average, peak_rss_mb, tree_cpu  # noqa: E402


def _file(rows: int, offset: int) -> bytes:
    lines = ["type_id,valeur_id,devise,montant,nom_complet"]
    lines += [f"MSISDN,22901{offset + i:08d},XOF,1000,Bénéficiaire {i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def run_once(app, stack: Stack, procs: dict, args, concurrency: int, run: int) -> dict:
    from backoffice.extensions import db
    from backoffice.models import Account, User
    from backoffice.models.batches import Batch, BatchRow
    from backoffice.services.bulk import importing, verification

    with app.app_context():
        app.config["VERIFY_CONCURRENCY"] = concurrency
        actor = db.session.scalar(db.select(User).where(User.email == "gestionnaire1@cnss.bj"))
        account = db.session.scalar(db.select(Account).where(Account.account_id == "ACC-CNSS-001"))
        content = _file(args.rows, 90_000_000 + run * args.rows)
        batch = importing.create_from_upload(actor, account.id, f"Banc {run}", io.BytesIO(content), "banc.csv")
        db.session.commit()
        batch_id = batch.id
        before = {name: tree_cpu(pid) for name, pid in procs.items()}
        own_before = time.process_time()
        samples: list[tuple[float, int]] = []
        started = time.monotonic()
        if args.inline:
            batch.verification_status = verification.RUNNING
            db.session.commit()
            verification.run_verification(batch_id)
        else:
            verification.start_verification(actor, batch_id)
            polls = 0
            while True:
                db.session.expire_all()
                status = db.session.scalar(db.select(Batch.verification_status).where(Batch.id == batch_id))
                if polls % 4 == 0:  # rows looked up, every second
                    done = db.session.scalar(
                        db.select(db.func.count())
                        .select_from(BatchRow)
                        .where(BatchRow.batch_id == batch_id, BatchRow.lookup_status.is_not(None))
                    )
                    samples.append((time.monotonic() - started, done))
                db.session.commit()
                polls += 1
                if status == verification.DONE:
                    break
                time.sleep(0.25)
        elapsed = time.monotonic() - started
        after = {name: tree_cpu(pid) for name, pid in procs.items()}
        figures = verification.progress(db.session.get(Batch, batch_id))
        db.session.commit()
    cpu_ms = {name: 1000 * (after[name] - before[name]) / args.rows for name in procs}
    if args.inline:
        cpu_ms = {"bench (job)": 1000 * (time.process_time() - own_before) / args.rows, **cpu_ms}
    project = sum(v for k, v in cpu_ms.items() if k != "simulator")
    # Rows that end « non vérifié » wait out VERIFY_RETRY_BUDGET_SECONDS: the rate until every
    # other row was looked up says what the pipeline does without that wait.
    others = args.rows - figures["unverified"]
    pipeline_elapsed = next((t for t, done in samples if done >= others), elapsed)
    return {
        "pipeline_rate": others / pipeline_elapsed,
        "concurrency": concurrency,
        "elapsed": elapsed,
        "rate": args.rows / elapsed,
        "cpu_ms": cpu_ms,
        "project_ms": project,
        "figures": {k: figures[k] for k in ("found", "not_found", "unverified", "concordant", "discordant")},
        "rss": {name: peak_rss_mb(pid) for name, pid in procs.items() if name.startswith("worker")},
        "load": load_average(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", default="48", help="VERIFY_CONCURRENCY, comma-separated: one run each")
    parser.add_argument("--chunk-size", type=int, default=None, help="VERIFY_CHUNK_SIZE (default: the product's)")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--inline", action="store_true", help="one job in this process instead of workers")
    parser.add_argument("--not-durable", action="store_true", help="PostgreSQL with fsync off (as the tests)")
    args = parser.parse_args()

    env = {"IMPORT_MAX_ROWS": str(max(args.rows, 200_000)), "MAX_UPLOAD_BYTES": str(256 * 1024 * 1024)}
    if args.chunk_size:
        env["VERIFY_CHUNK_SIZE"] = str(args.chunk_size)
    results = []
    with Stack(
        "bench-verification",
        durable=not args.not_durable,
        simulators={"mojaloop": ["--latency-ms", str(args.latency_ms)]},
        env=env,
    ) as stack:
        app = stack.app()
        procs = {"postgres": stack.pg.process.pid, "redis": stack.redis.process.pid}
        procs["simulator"] = stack.simulators["mojaloop"].process.pid
        concurrencies = [int(c) for c in args.concurrency.split(",")]
        for run, concurrency in enumerate(concurrencies):
            workers = []
            if not args.inline:
                workers = stack.workers(args.workers, {"VERIFY_CONCURRENCY": str(concurrency)})
            names = {f"worker{i + 1}": w.pid for i, w in enumerate(workers)}
            result = run_once(app, stack, procs | names, args, concurrency, run)
            for proc in workers:
                proc.terminate()
                proc.wait(timeout=30)
                stack.procs.remove(proc)
            results.append(result)
            cpu = " ".join(f"{k}={v:.3f}" for k, v in result["cpu_ms"].items())
            print(
                f"concurrency={concurrency} rows={args.rows} {'inline' if args.inline else f'workers={args.workers}'} "
                f"chunk={app.config['VERIFY_CHUNK_SIZE']} latency={args.latency_ms:g}ms "
                f"PostgreSQL {'fsync off' if args.not_durable else 'durable'} "
                f"elapsed={result['elapsed']:.1f}s rate={result['rate']:.0f} rows/s "
                f"pipeline={result['pipeline_rate']:.0f} rows/s "
                f"cpu ms/row: {cpu} project={result['project_ms']:.3f} figures={result['figures']} "
                f"rss={ {k: round(v) for k, v in result['rss'].items()} } ({result['load']})",
                flush=True,
            )
    print()
    mode = "inline (one job)" if args.inline else f"{args.workers} workers"
    print(
        "| concurrency | rows | mode | seconds | rows/s | rows/s but « non vérifié » | project CPU ms/row "
        "| simulator ms/row | load |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['concurrency']} | {args.rows} | {mode} | {r['elapsed']:.1f} | {r['rate']:.0f} "
            f"| {r['pipeline_rate']:.0f} "
            f"| {r['project_ms']:.2f} | {r['cpu_ms'].get('simulator', 0):.2f} | {r['load']} |"
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
