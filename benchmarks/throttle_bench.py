"""What the atomic throttle costs per request (one Redis round trip), and the login race it closes.

    .venv/bin/python benchmarks/throttle_bench.py [--calls 2000] [--threads 40]

Starts a throw-away Redis; prints the median and p99 of `throttle.hit` and, for N
concurrent attempts on one key with a limit of 5, how many were let through.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=40)
    args = parser.parse_args()
    with Stack("throttle-bench", sqlite=True):
        from backoffice import create_app
        from backoffice.services import throttle

        app = create_app()
        with app.app_context():
            throttle.hit("warm", 10**9, 60)
            timings = []
            for n in range(args.calls):
                start = time.perf_counter()
                throttle.hit(f"bench:{n % 50}", 10**9, 60)
                timings.append((time.perf_counter() - start) * 1000)
        timings.sort()
        print(
            f"throttle.hit: {args.calls} calls, median {statistics.median(timings):.3f} ms, "
            f"p99 {timings[int(len(timings) * 0.99)]:.3f} ms"
        )

        allowed = []
        barrier = threading.Barrier(args.threads)

        def attempt() -> None:
            with app.app_context():
                barrier.wait()
                if throttle.hit("race", 5, 60).allowed:
                    allowed.append(1)

        threads = [threading.Thread(target=attempt) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"{args.threads} concurrent attempts, limit 5: {len(allowed)} allowed")


if __name__ == "__main__":
    main()
