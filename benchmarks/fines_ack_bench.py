"""Acknowledgement latency of POST /amendes/payments/ under 100 concurrent clients, partners at their slowest.

Starts everything real on loopback: PostgreSQL, Redis, both partner simulators (every
call takes 10 s, 10 % 504s), a worker busy with those slow partners, and the app under
gunicorn. Then:
  burst     — 100 clients send one payment each at the same instant, several rounds;
  sustained — 100 clients send payments back to back (closed loop) for a while;
  paced     — 100 clients each send a payment about every second (open loop, ~100/s).
Prints p50 / p90 / p99 / max of the time to the 202, and the throughput.

    .venv/bin/python benchmarks/fines_ack_bench.py [--clients 100] [--rounds 5] [--seconds 20]
        [--gunicorn-workers 4] [--threads 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backoffice import devservers  # noqa: E402
from backoffice.simulators.fines import citizens  # noqa: E402

KEY = "demo-amendes-2026"


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi.py", *args]


class Client:
    """One citizen app instance: a keep-alive connection, its own payments."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def pay(self, citizen: dict) -> tuple[float, int]:
        payload = json.dumps(
            {
                "reference": f"BENCH-{citizen['telephone']}",
                "telephone": citizen["telephone"],
                "amendes": [f["numero"] for f in citizen["amendes"]],
                "montant": sum(f["montant"] for f in citizen["amendes"]),
                "devise": "XOF",
            }
        )
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
        for _attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request("POST", "/amendes/payments/", payload, headers)
                response = self.connection.getresponse()
                response.read()
                return time.perf_counter() - started, response.status
            except (OSError, http.client.HTTPException):
                # A keep-alive connection the server closed: reconnect once (not timed twice).
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return time.perf_counter() - started, 0


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return (
        f"n={len(ordered)}  p50={pct(0.50):.1f} ms  p90={pct(0.90):.1f} ms  p99={pct(0.99):.1f} ms  "
        f"max={ordered[-1] * 1000:.1f} ms  mean={statistics.mean(ordered) * 1000:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--interval", type=float, default=1.0, help="paced phase: seconds between a client's payments")
    args = parser.parse_args()

    os.chdir(ROOT)
    started: list = []
    pg = devservers.start_postgres()
    redis = devservers.start_redis()
    started += [pg, redis]
    people = citizens(9000)
    instance = tempfile.mkdtemp(prefix="fines-bench-")
    env = {
        **os.environ,
        "APP_ENV": "benchmark",
        "SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "INSTANCE_PATH": instance,
        "RQ_QUEUE": "fines-bench",
    }
    procs: list[subprocess.Popen] = []
    try:
        slowest = ["--latency-min", "10", "--latency-max", "10", "--fail-rate", "0.1", "--citizens", "9000"]
        fines = devservers.start_simulator("fines", env=env, options=slowest)
        momo = devservers.start_simulator("momo", env=env, options=slowest)
        started += [fines, momo]
        env["FINES_API_URL"], env["MOMO_API_URL"] = fines.url, momo.url
        subprocess.run(flask("db", "upgrade"), env=env, check=True, capture_output=True)
        subprocess.run(flask("seed-demo"), env=env, check=True, capture_output=True)
        procs.append(subprocess.Popen(flask("worker"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        port = devservers.free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(args.gunicorn_workers),
                    "--worker-class",
                    "gthread",
                    "--threads",
                    str(args.threads),
                    "--backlog",
                    "2048",
                    "--keep-alive",
                    "75",
                    "wsgi:app",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        devservers.wait_for_port(port, timeout=60)
        queue = iter(people)
        lock = threading.Lock()

        def next_citizen() -> dict:
            with lock:
                return next(queue)

        clients = [Client(port) for _ in range(args.clients)]
        for client in clients[:20]:  # warm-up: connections, gunicorn workers, pools
            for _ in range(5):
                client.pay(next_citizen())

        def run(target) -> tuple[list[float], list[int], float]:
            results: list[tuple[float, int]] = []
            barrier = threading.Barrier(len(clients))
            t0 = time.perf_counter()

            def body(client: Client) -> None:
                barrier.wait()
                results.extend(target(client))

            threads = [threading.Thread(target=body, args=(c,)) for c in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return [r[0] for r in results], [r[1] for r in results], time.perf_counter() - t0

        solo = clients[0]
        sequential = [solo.pay(next_citizen())[0] for _ in range(200)]
        print(f"sequential (one client, 200 requests): {percentiles(sequential)}")
        print(f"gunicorn: {args.gunicorn_workers} workers × {args.threads} threads (gthread); {args.clients} clients")
        print("partners: every call 10 s, 10 % 504s; one RQ worker busy with them during the run\n")

        burst_latencies: list[float] = []
        burst_statuses: list[int] = []
        for _ in range(args.rounds):
            latencies, statuses, _ = run(lambda c: [c.pay(next_citizen())])
            burst_latencies += latencies
            burst_statuses += statuses
            time.sleep(0.5)
        print(f"burst ({args.rounds} rounds of {args.clients} simultaneous requests)")
        print(f"  {percentiles(burst_latencies)}")
        print(f"  statuses: {sorted(set(burst_statuses))}  (202 expected)\n")

        deadline = time.perf_counter() + args.seconds

        def sustained(client: Client) -> list[tuple[float, int]]:
            out = []
            while time.perf_counter() < deadline:
                out.append(client.pay(next_citizen()))
            return out

        latencies, statuses, elapsed = run(sustained)
        print(f"sustained ({args.clients} clients back to back for {args.seconds:.0f} s)")
        print(f"  {percentiles(latencies)}")
        print(f"  throughput: {len(latencies) / elapsed:.0f} requests/s   statuses: {sorted(set(statuses))}\n")

        deadline = time.perf_counter() + args.seconds
        rng = random.Random(1)

        def paced(client: Client) -> list[tuple[float, int]]:
            out = []
            time.sleep(rng.uniform(0, args.interval))
            while time.perf_counter() < deadline:
                tick = time.perf_counter()
                out.append(client.pay(next_citizen()))
                time.sleep(max(0.0, args.interval * rng.uniform(0.5, 1.5) - (time.perf_counter() - tick)))
            return out

        latencies, statuses, elapsed = run(paced)
        print(f"paced ({args.clients} clients, one payment every ~{args.interval:g} s each, for {args.seconds:.0f} s)")
        print(f"  {percentiles(latencies)}")
        print(f"  throughput: {len(latencies) / elapsed:.0f} requests/s   statuses: {sorted(set(statuses))}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for service in reversed(started):
            service.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
