"""Acknowledgement latency of POST /amendes/payments/ under 100 concurrent clients, partners at their slowest.

Starts everything real on loopback: PostgreSQL, Redis, both partner simulators (every
call takes 10 s, 10 % 504s), a worker busy with those slow partners (it also dispatches
every accepted payment to RQ), and the app under gunicorn. Then, with 100 keep-alive
clients (benchmarks/loadgen.py, asyncio, one thread):
  burst     — the 100 clients send one payment each at the same instant, several rounds;
  paced     — the 100 clients share a Poisson stream of --rate payments/s (open loop: a
              late answer is charged from the moment the request was due), for each rate;
  sustained — the 100 clients send back to back (closed loop): the capacity of the box.
Prints p50 / p90 / p99 / max of the time to the 202, and the throughput. Every request is
a new payment (its own reference and fine), so each one is a real insert.

    .venv/bin/python benchmarks/fines_ack_bench.py [--clients 100] [--rounds 10]
        [--rates 100,300,500] [--seconds 15] [--gunicorn-workers 2] [--threads 4] [--serve]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backoffice import devservers  # noqa: E402
from benchmarks import loadgen  # noqa: E402
from benchmarks.common import Stack  # noqa: E402

KEY = "demo-amendes-2026"


def requests_from(start: int):
    """A new payment per call: its own reference, phone and fine (the registry rejects them later, slowly)."""
    counter = itertools.count(start)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}

    def next_request() -> bytes:
        n = next(counter)
        body = {
            "reference": f"BENCH-{n:08d}",
            "telephone": f"22901{97_000_000 + n % 1_000_000:08d}",  # valid since issue 11 (Bénin 01 plan)
            "amendes": [f"AM-BENCH-{n:08d}"],
            "montant": 25000,
            "devise": "XOF",
        }
        return loadgen.http_post("/amendes/payments/", json.dumps(body).encode(), headers)

    return next_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10, help="burst rounds")
    parser.add_argument("--rates", default="100,300,500", help="paced phase: total requests/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each paced and sustained phase")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--worker-class", default="gthread", help="gunicorn worker class (gthread keeps connections alive)"
    )
    parser.add_argument("--serve", action="store_true", help="start everything, print the port and wait (for wrk …)")
    args = parser.parse_args()

    slowest = ["--latency-min", "10", "--latency-max", "10", "--fail-rate", "0.1"]
    simulators = {"fines": slowest, "momo": slowest}
    with Stack("fines-bench", env={"APP_ENV": "benchmark"}, simulators=simulators, stop_wait=10) as stack:
        stack.app()
        stack.workers(1, settle_seconds=0)
        port = devservers.free_port()
        gunicorn = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.gunicorn_workers),
            "--worker-class",
            args.worker_class,
            "--threads",
            str(args.threads),
            "--backlog",
            "2048",
            "--keep-alive",
            "75",
            "wsgi:app",
        ]
        web = stack.popen(gunicorn)
        devservers.wait_for_port(port, timeout=60)
        host = "127.0.0.1"
        next_request = requests_from(1)
        print(
            f"gunicorn: {args.gunicorn_workers} workers × {args.threads} threads ({args.worker_class}); "
            f"{args.clients} clients"
        )
        print("partners: every call 10 s, 10 % 504s; one RQ worker busy with them during the run\n", flush=True)
        if args.serve:
            print(f"serving on http://{host}:{port}/ — Ctrl-C to stop", flush=True)
            try:
                web.wait()
            except KeyboardInterrupt:
                pass
            return 0

        loadgen.closed_loop(host, port, next_request, args.clients, 3.0)  # warm-up: connections, pools, caches
        print(f"sequential (one client):  {loadgen.sequential(host, port, next_request, 300).summary()}", flush=True)
        burst = loadgen.bursts(host, port, next_request, args.clients, args.rounds, pause=0.5)
        print(f"burst ({args.rounds} rounds of {args.clients} at once):  {burst.summary()}", flush=True)
        for rate in [float(r) for r in args.rates.split(",") if r.strip()]:
            paced = loadgen.open_loop(host, port, next_request, args.clients, rate, args.seconds)
            print(f"paced ({args.clients} clients, {rate:.0f}/s in all, open loop):  {paced.summary()}", flush=True)
        sustained = loadgen.closed_loop(host, port, next_request, args.clients, args.seconds)
        print(f"sustained ({args.clients} clients back to back):  {sustained.summary()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
