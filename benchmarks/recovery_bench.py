"""Recovery time: a batch paid through crashes, against the same batch paid clean.

    .venv/bin/python benchmarks/recovery_bench.py --rows 10000 --runs 1

Real `flask worker` processes, the Mojaloop simulator at 50 ms, PostgreSQL with durable
settings. Each run pays one clean batch, then one batch through these faults, in this order,
`--gap` seconds apart once the payment has started:
1. worker 1 killed with SIGKILL (its RQ child too), started again;
2. Redis killed with SIGKILL and started again empty on the same port (queues, leases and the
   chunk map lost);
3. PostgreSQL killed with SIGKILL (postmaster and backends) and started again on the same data
   directory (crash recovery);
4. an adapter outage of `--outage` seconds: requests are read and dropped (no answer), so the
   calls in flight time out as UNKNOWN;
5. worker 2 killed with SIGKILL, started again.

Prints, per run: approval → final batch for both, the ratio (target ≤ 2), the rows' final
states, and the money checks: every transfer committed at most once at the switch, as many
commits as COMPLETED rows, the ledger consistent.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backoffice import devservers  # noqa: E402
from benchmarks.common import Stack  # noqa: E402


def kill_tree(pid: int) -> None:
    """SIGKILL a process and its children: a lost machine, no cleanup."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for target in [pid, *map(int, children)]:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Cluster:
    """The workers, Redis and PostgreSQL of one benchmark's stack, each of which can be crashed."""

    def __init__(self, stack: Stack, workers: int) -> None:
        self.stack, self.pg, self.redis = stack, stack.pg, stack.redis
        self.workers = stack.workers(workers)

    def crash_worker(self, index: int) -> None:
        kill_tree(self.workers[index].pid)
        self.workers[index].wait()
        self.workers[index] = self.stack.workers(1, settle_seconds=0)[0]

    def crash_redis(self) -> None:
        kill_tree(self.redis.process.pid)
        self.redis.process.wait()
        fresh = devservers.start_redis(port=self.redis.port)
        self.redis.process = fresh.process

    def crash_postgres(self) -> None:
        postmaster = self.pg.process
        # The backends are the postmaster's children (as root, runuser's grandchildren).
        members = subprocess.run(["pgrep", "-P", str(postmaster.pid)], capture_output=True, text=True).stdout.split()
        for pid in [postmaster.pid, *map(int, members)]:
            kill_tree(pid)
        postmaster.wait()
        time.sleep(0.5)
        # The killed postmaster may linger as an unreaped zombie here (no init reaps it), which
        # PostgreSQL would take for a live one: its lock files go, as after a machine's crash.
        (self.pg.workdir / "data" / "postmaster.pid").unlink(missing_ok=True)
        (self.pg.workdir / f".s.PGSQL.{self.pg.port}.lock").unlink(missing_ok=True)
        self.pg.process = subprocess.Popen(
            postmaster.args, stdout=subprocess.DEVNULL, stderr=open(self.pg.workdir / "log", "ab")
        )
        devservers.wait_for_port(self.pg.port)


def pay(app, args, seed: int, faults=None) -> dict:
    """Approve a batch, start it, run `faults` (in a thread) and wait for its end."""
    from sqlalchemy.exc import OperationalError

    from backoffice.extensions import db
    from backoffice.models.batches import Batch
    from backoffice.services.bulk import chunks, outcomes
    from tests.factories import ledger_consistent, make_approved_batch, msisdns

    with app.app_context():
        batch_id = make_approved_batch(msisdns(args.rows, start=seed * args.rows, prefix="229"), amount=1000)
        db.session.commit()
        started = time.monotonic()
        chunks.start_processing(batch_id)
        log: list[str] = []
        thread = None
        if faults:
            thread = threading.Thread(target=faults, args=(log, started), daemon=True)
            thread.start()
        while True:
            try:
                db.session.expire_all()
                batch = db.session.get(Batch, batch_id)
                final = batch.is_final
                db.session.commit()
            except OperationalError:  # PostgreSQL is being crashed
                db.session.rollback()
                final = False
            if final:
                break
            if time.monotonic() - started > args.give_up:
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        if thread:
            thread.join()
        ok, _figures = ledger_consistent()
        counts = outcomes.status_counts(batch_id)
        tail = _tail(db, batch_id)
        timeline = _timeline(db, batch_id)
        status = batch.status
        db.session.commit()
    return {
        "elapsed": elapsed,
        "status": status,
        "counts": counts,
        "ledger_ok": ok,
        "log": log,
        "tail": tail,
        "timeline": timeline,
    }


# The batch's rows with `t`, when each ended in seconds after the payment started.
ENDED_ROWS = (
    "WITH r AS (SELECT extract(epoch FROM r.completed_at - b.processing_started_at) AS t, r.attempts, "
    "r.status_checks, r.refusals FROM batch_rows r JOIN batches b ON b.id = r.batch_id WHERE b.id = :b) "
)


def _ended_rows(db, batch_id: int, select_sql: str) -> list:
    """`select_sql` over ENDED_ROWS (named r) for the batch."""
    from sqlalchemy import text

    rows = db.session.execute(text(ENDED_ROWS + select_sql), {"b": batch_id}).all()
    db.session.commit()
    return rows


def _tail(db, batch_id: int) -> str:
    """When the rows ended (seconds after the start) and what the last 1 % went through."""
    ((p50, p99, last, resent, checked, refusals),) = _ended_rows(
        db,
        batch_id,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t), percentile_cont(0.99) WITHIN GROUP (ORDER BY t), "
        "max(t), count(*) FILTER (WHERE attempts > 1), count(*) FILTER (WHERE status_checks > 0), "
        "coalesce(sum(refusals), 0) FROM r",
    )
    return (
        f"rows ended by {p50:.1f} s (half), {p99:.1f} s (99 %), {last:.1f} s (last); "
        f"{resent} resent, {checked} settled by status, {refusals} refusals"
    )


def _timeline(db, batch_id: int) -> str:
    """Rows ended in each second after the start: all of them / settled by status / resent."""
    seconds = _ended_rows(
        db,
        batch_id,
        "SELECT floor(t)::int, count(*), count(*) FILTER (WHERE status_checks > 0), "
        "count(*) FILTER (WHERE attempts > 1) FROM r GROUP BY 1 ORDER BY 1",
    )
    return "  ".join(f"{s}s:{n}/{checked}/{resent}" for s, n, checked, resent in seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between two faults")
    parser.add_argument("--outage", type=float, default=5.0, help="adapter outage, seconds")
    parser.add_argument("--give-up", type=float, default=900.0, help="stop waiting after this many seconds")
    args = parser.parse_args()

    results = []
    with Stack("bench-recovery", durable=True, simulators={"mojaloop": ["--latency-ms", str(args.latency_ms)]}) as stack:
        from tests.support import Sim

        app = stack.app()
        waits = {
            k: app.config[k]
            for k in (
                "BATCH_LEASE_SECONDS",
                "BATCH_SWEEP_SECONDS",
                "BATCH_RESEND_GRACE_SECONDS",
                "BATCH_STATUS_BACKOFF_SECONDS",
                "MOJALOOP_TIMEOUT_SECONDS",
            )
        }
        sim = Sim(stack.simulators["mojaloop"].url)
        cluster = Cluster(stack, args.workers)
        print(
            f"rows={args.rows} workers={args.workers} latency={args.latency_ms:g} ms gap={args.gap:g} s "
            f"outage={args.outage:g} s settings={waits}",
            flush=True,
        )

        def faults(log: list[str], started: float) -> None:
            steps = [
                ("worker 1 killed (SIGKILL) and restarted", lambda: cluster.crash_worker(0)),
                ("Redis killed (SIGKILL) and restarted empty", cluster.crash_redis),
                ("PostgreSQL killed (SIGKILL) and restarted", cluster.crash_postgres),
                (
                    f"adapter outage {args.outage:g} s (requests dropped)",
                    lambda: sim.outage(int(args.outage * 1000), "drop"),
                ),
                ("worker 2 killed (SIGKILL) and restarted", lambda: cluster.crash_worker(1 % len(cluster.workers))),
            ]
            for index, (label, action) in enumerate(steps, start=1):
                time.sleep(max(started + index * args.gap - time.monotonic(), 0))
                action()
                log.append(f"{time.monotonic() - started:5.1f} s  {label}")

        no_faults = {
            f"{kind}_suffixes": [] for kind in ("not_found", "reject", "timeout", "drop", "hang")
        }
        seed = 1
        for run in range(args.runs):
            sim.reset(latency_ms=args.latency_ms, seed=seed, **no_faults)
            clean = pay(app, args, seed)
            seed += 1
            sim.reset(latency_ms=args.latency_ms, seed=seed, **no_faults)
            chaos = pay(app, args, seed, faults)
            seed += 1
            stats = sim.stats()
            once = set(stats["commits"].values()) <= {1}
            commits_match = stats["totals"]["commits"] == chaos["counts"].get("COMPLETED", 0)
            results.append((clean, chaos, once and commits_match))
            print(f"\nrun {run + 1}")
            for line in chaos["log"]:
                print("   ", line)
            print("    clean:", clean["tail"])
            print("    faults:", chaos["tail"])
            print("    rows ended per second (all/settled by status/resent):", chaos["timeline"])
            print(
                f"  clean: {clean['elapsed']:.1f} s {clean['status']} | faults: {chaos['elapsed']:.1f} s "
                f"{chaos['status']} {chaos['counts']} | ratio {chaos['elapsed'] / clean['elapsed']:.2f} | "
                f"once={once} commits==COMPLETED={commits_match} ledger_ok={chaos['ledger_ok'] and clean['ledger_ok']}",
                flush=True,
            )
    print("\n| run | clean | through the faults | ratio | money checks |")
    print("|---:|---:|---:|---:|---|")
    for index, (clean, chaos, once) in enumerate(results, start=1):
        money = once and clean["ledger_ok"] and chaos["ledger_ok"]
        print(
            f"| {index} | {clean['elapsed']:.1f} s | {chaos['elapsed']:.1f} s ({chaos['status']}) "
            f"| {chaos['elapsed'] / clean['elapsed']:.2f} | {'ok' if money else 'FAILED'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
