"""Processing throughput and CPU: approval → final batch, real `flask worker` processes, the
Mojaloop simulator with a fixed latency, PostgreSQL with durable settings (fsync, synchronous
commits and full page writes on, as in production) and the product's default settings.

    .venv/bin/python benchmarks/processing_bench.py --rows 10000 --workers 2 --runs 5 \\
        --scenarios clean,tail,refusals
    # runs interleaved (fairer on a shared machine): --runs 1 --scenarios clean,tail,clean,tail,…

Scenarios:
- clean     every transfer answers after the latency;
- tail      0.1 % of the transfers (random, `--hang-share`) hang `--hang-seconds` (40 s) at the
            switch, longer than the client's 35 s timeout, then commit: a slow payee FSP;
- refusals  the simulator closes a share of its answers' connections and refuses new
            connections for 20 ms after `--refuse-rate` of them (requests that never left).

For each run: transfers/s end to end, and for `tail` also the rate until every transfer but
the hung ones was final ("pipeline rate": what the hung ones would cost if they held slots);
the CPU ms per transfer of each process (workers with their children, PostgreSQL's whole
process tree, Redis, the simulator) read from /proc; the ceiling 2 cores × 1000 ms / (CPU ms
of all of them per transfer) and the fraction of it reached; the peak RSS of each worker; and
the money checks (every transfer committed once, ledger consistent). The table at the end
gives the median and the spread over the runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from benchmarks.common import Stack, peak_rss_mb, tree_cpu  # noqa: E402

# --- one run ----------------------------------------------------------------------------------


SCENARIOS = {
    "clean": {},
    "tail": {"hang": True},
    "refusals": {"refuse": True},
}


def run_once(app, sim, procs: dict, args, scenario: str, seed: int) -> dict:
    from backoffice.extensions import db
    from backoffice.models.batches import Batch
    from backoffice.services.bulk import chunks, outcomes
    from tests.factories import ledger_consistent, make_approved_batch, msisdns

    faults = SCENARIOS[scenario]
    settings = {
        "latency_ms": args.latency_ms,
        "seed": seed,
        "not_found_suffixes": [],
        "reject_suffixes": [],
        "timeout_suffixes": [],
        "drop_suffixes": [],
        "hang_suffixes": [],
        "hang_ms": args.hang_seconds * 1000,
        "hang_rate": args.hang_share if faults.get("hang") else 0.0,
        "refuse_rate": args.refuse_rate if faults.get("refuse") else 0.0,
        "close_rate": args.close_rate if faults.get("refuse") else 0.0,
    }
    sim.reset(**settings)
    with app.app_context():
        batch_id = make_approved_batch(msisdns(args.rows, start=seed * args.rows, prefix="229"), amount=1000)
        db.session.commit()
        before = {name: tree_cpu(pid) for name, pid in procs.items()}
        started = time.monotonic()
        chunks.start_processing(batch_id)
        while True:
            db.session.expire_all()
            batch = db.session.get(Batch, batch_id)
            db.session.commit()
            if batch.is_final:
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        after = {name: tree_cpu(pid) for name, pid in procs.items()}
        ok, _figures = ledger_consistent()
        counts = outcomes.status_counts(batch_id)
        final_status = batch.status
        ends = _row_ends(db, batch_id)
        db.session.commit()
    stats = sim.stats()
    totals = stats["totals"]
    hung = totals.get("transfers_by_fault", {}).get("hang", 0)
    # When all but the hung rows had ended, read from the rows themselves (no polling error).
    pipeline_elapsed = ends[args.rows - hung - 1] if 0 < args.rows - hung <= len(ends) else elapsed
    cpu_ms = {name: 1000 * (after[name] - before[name]) / args.rows for name in procs}
    project = sum(v for k, v in cpu_ms.items() if k != "simulator")
    ceiling = 2 * 1000 / (project + cpu_ms.get("simulator", 0))
    once = set(stats["commits"].values()) <= {1} and totals["commits"] == counts.get("COMPLETED", 0)
    return {
        "scenario": scenario,
        "elapsed": elapsed,
        "rate": args.rows / elapsed,
        "pipeline_rate": (args.rows - hung) / pipeline_elapsed,
        "hung": hung,
        "cpu_ms": cpu_ms,
        "project_ms": project,
        "ceiling": ceiling,
        "fraction": (args.rows / elapsed) / ceiling,
        "status": final_status,
        "counts": counts,
        "ledger_ok": ok,
        "exactly_once": once,
        "refusal_windows": totals.get("refusal_windows", 0),
        "posts": totals["posts"],
        "rss": {name: peak_rss_mb(pid) for name, pid in procs.items() if name.startswith("worker")},
    }


def print_statements(db, transfers: int) -> None:
    """PostgreSQL's statements by total execution time over all the runs, per transfer."""
    top = db.session.execute(
        text(
            "SELECT calls, total_exec_time, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS q "
            "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15"
        )
    ).all()
    print("\nPostgreSQL statements (pg_stat_statements), by total execution time:")
    print("| µs per transfer | calls | rows | statement |")
    print("|---:|---:|---:|---|")
    for calls, total_ms, rows, query in top:
        print(f"| {1000 * total_ms / transfers:.1f} | {calls} | {rows} | `{query}` |")


def _row_ends(db, batch_id: int) -> list[float]:
    """Seconds from the start of the payment to each row's end (completed or last update), sorted."""
    return [
        float(t)
        for (t,) in db.session.execute(
            text(
                "SELECT extract(epoch FROM coalesce(r.completed_at, r.updated_at) - b.processing_started_at) AS t "
                "FROM batch_rows r JOIN batches b ON b.id = r.batch_id WHERE b.id = :b ORDER BY t"
            ),
            {"b": batch_id},
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenarios", default="clean,tail")
    parser.add_argument("--concurrency", type=int, default=None, help="BATCH_CONCURRENCY (default: the product's)")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--hang-share", type=float, default=0.001)
    parser.add_argument("--hang-seconds", type=float, default=40)
    parser.add_argument("--refuse-rate", type=float, default=0.05)
    parser.add_argument("--close-rate", type=float, default=0.02)
    parser.add_argument("--not-durable", action="store_true", help="PostgreSQL with fsync off (as the tests)")
    parser.add_argument("--statements", action="store_true", help="print PostgreSQL's top statements (pg_stat_statements)")
    args = parser.parse_args()

    pg_settings = {"shared_preload_libraries": "pg_stat_statements"} if args.statements else None
    env = {"BATCH_CONCURRENCY": str(args.concurrency)} if args.concurrency else {}
    results = []
    with Stack(
        "bench-processing",
        durable=not args.not_durable,
        pg_settings=pg_settings,
        simulators={"mojaloop": ["--latency-ms", str(args.latency_ms)]},
        env=env,
    ) as stack:
        from backoffice.extensions import db
        from tests.support import Sim

        app = stack.app()
        with app.app_context():
            if args.statements:
                db.session.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
                db.session.execute(text("SELECT pg_stat_statements_reset()"))
                db.session.commit()
            config = {k: app.config[k] for k in ("BATCH_CONCURRENCY", "BATCH_CHUNK_SIZE", "MOJALOOP_TIMEOUT_SECONDS")}
        simulator = stack.simulators["mojaloop"]
        sim = Sim(simulator.url)
        workers = stack.workers(args.workers)
        procs = {f"worker{i + 1}": w.pid for i, w in enumerate(workers)}
        procs |= {"postgres": stack.pg.process.pid, "redis": stack.redis.process.pid, "simulator": simulator.process.pid}
        print(
            f"rows={args.rows} workers={args.workers} latency={args.latency_ms:g} ms "
            f"PostgreSQL {'fsync off' if args.not_durable else 'durable (fsync on)'} settings={config}",
            flush=True,
        )
        seed = 1
        for scenario in args.scenarios.split(","):
            for run in range(args.runs):
                result = run_once(app, sim, procs, args, scenario, seed)
                seed += 1
                results.append(result)
                cpu = " ".join(f"{k}={v:.3f}" for k, v in result["cpu_ms"].items())
                print(
                    f"{scenario} run {run + 1}: {result['elapsed']:.1f}s {result['rate']:.0f}/s "
                    f"pipeline {result['pipeline_rate']:.0f}/s hung={result['hung']} "
                    f"cpu ms/transfer: {cpu} project={result['project_ms']:.3f} "
                    f"ceiling={result['ceiling']:.0f}/s reached={100 * result['fraction']:.0f}% "
                    f"status={result['status']} ledger_ok={result['ledger_ok']} once={result['exactly_once']} "
                    f"posts={result['posts']} refusal_windows={result['refusal_windows']} "
                    f"rss={ {k: round(v) for k, v in result['rss'].items()} }",
                    flush=True,
                )
        if args.statements:
            with app.app_context():
                print_statements(db, args.rows * len(results))
    print()
    print("| scenario | runs | transfers/s median (min–max) | pipeline rate median | project CPU ms/transfer "
          "(workers / PostgreSQL / Redis) | simulator ms | ceiling | reached | money checks |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for scenario in dict.fromkeys(args.scenarios.split(",")):  # "clean,tail,clean,tail" interleaves runs
        mine = [r for r in results if r["scenario"] == scenario]
        if not mine:
            continue
        rates = [r["rate"] for r in mine]
        pipe = statistics.median(r["pipeline_rate"] for r in mine)
        workers_ms = statistics.median(sum(v for k, v in r["cpu_ms"].items() if k.startswith("worker")) for r in mine)
        pg_ms = statistics.median(r["cpu_ms"]["postgres"] for r in mine)
        redis_ms = statistics.median(r["cpu_ms"]["redis"] for r in mine)
        project = statistics.median(r["project_ms"] for r in mine)
        sim_ms = statistics.median(r["cpu_ms"]["simulator"] for r in mine)
        ceiling = statistics.median(r["ceiling"] for r in mine)
        reached = statistics.median(r["fraction"] for r in mine)
        money = all(r["ledger_ok"] and r["exactly_once"] for r in mine)
        print(
            f"| {scenario} | {len(mine)} | {statistics.median(rates):.0f} ({min(rates):.0f}–{max(rates):.0f}) "
            f"| {pipe:.0f} | {project:.2f} ({workers_ms:.2f} / {pg_ms:.2f} / {redis_ms:.3f}) | {sim_ms:.2f} "
            f"| {ceiling:.0f} | {100 * reached:.0f} % | {'ok' if money else 'FAILED'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
