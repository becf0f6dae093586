"""SSE benchmark: 50 clients follow one batch's event stream while a person browses the back-office.

Starts PostgreSQL, Redis and the app under gunicorn (2 workers × 8 threads, as `make run`),
creates and submits a batch through the API (it stays pending, so its stream never ends),
then times the batch details page (signed in, GET /batches/<id>) alone, and again while
50 EventSource-like clients listen to /api/v1/batches/<id>/events (each reconnects after
`retry:` like a browser's EventSource). Prints p50 / p95 of the page and what the
listeners received.

    .venv/bin/python benchmarks/sse_bench.py [--listeners 50] [--requests 200]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backoffice import devservers  # noqa: E402
from benchmarks.common import Stack, load_average  # noqa: E402

KEY = {"Authorization": "Bearer demo-lots-2026"}


def timed_pages(session: requests.Session, url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms ({len(ordered)} requests)"
    )


def listen(url: str, stop: threading.Event, counts: dict, lock: threading.Lock) -> None:
    """An EventSource: read the stream, and reconnect after the server's `retry` when it closes."""
    retry = 1.0
    last_id = ""
    while not stop.is_set():
        headers = {**KEY, **({"Last-Event-ID": last_id} if last_id else {})}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=30) as response:
                with lock:
                    counts["connections"] += 1
                for line in response.iter_lines(decode_unicode=True):
                    if line.startswith("id: "):
                        last_id = line[4:]
                    elif line.startswith("event: "):
                        with lock:
                            counts["events"] += 1
                    elif line.startswith("retry: "):
                        retry = int(line[7:]) / 1000
                    if stop.is_set():
                        break
        except requests.RequestException:
            with lock:
                counts["errors"] += 1
        stop.wait(retry)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listeners", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    # gunicorn waits for open streams: it gets 5 s once terminated.
    with Stack("sse-bench", stop_wait=5) as stack:
        stack.app()
        port = devservers.free_port()
        gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
                    str(args.web_workers), "--threads", str(args.threads), "wsgi:app"]  # fmt: skip
        stack.popen(gunicorn)
        devservers.wait_for_port(port, timeout=60)
        base = f"http://127.0.0.1:{port}"

        lignes = [{"type_id": "MSISDN", "valeur_id": f"2299700{n:04d}", "montant": 1000} for n in range(1, 2001)]
        batch = requests.post(f"{base}/api/v1/batches", json={"lignes": lignes}, headers=KEY, timeout=60).json()
        requests.post(f"{base}/api/v1/batches/{batch['id']}/submit", json={}, headers=KEY, timeout=30)

        session = requests.Session()
        form = session.get(f"{base}/connexion", timeout=30).text
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form).group(1)
        signed_in = session.post(
            f"{base}/connexion",
            data={"email": "gestionnaire2@cnss.bj", "password": "Demo-2026!", "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        assert signed_in.status_code == 302, signed_in.status_code
        page = f"{base}/batches/{batch['id']}"
        timed_pages(session, page, 20)  # warm-up
        print(f"gunicorn {args.web_workers} workers × {args.threads} threads; batch of {len(lignes)} rows, pending")
        print(f"details page alone                 : {summary(timed_pages(session, page, args.requests))}", flush=True)

        stop, lock = threading.Event(), threading.Lock()
        counts = {"connections": 0, "events": 0, "errors": 0}
        url = f"{base}/api/v1/batches/{batch['id']}/events"
        listeners = [
            threading.Thread(target=listen, args=(url, stop, counts, lock), daemon=True) for _ in range(args.listeners)
        ]
        for listener in listeners:
            listener.start()
        time.sleep(3)
        started = time.perf_counter()
        during = timed_pages(session, page, args.requests)
        elapsed = time.perf_counter() - started
        stop.set()
        print(f"details page, {args.listeners} SSE listeners : {summary(during)}")
        print(
            f"listeners over {elapsed + 3:.0f} s: {counts['connections']} connections, {counts['events']} events, "
            f"{counts['errors']} errors"
        )
        print(f"machine: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
