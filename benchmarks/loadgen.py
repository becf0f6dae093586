"""A small HTTP/1.1 load generator on asyncio: keep-alive clients, bursts, open and closed loops.

One thread and raw sockets, so it costs the machine far less than the server it measures
(about 0.1 ms of CPU per request, against the server's 1–2 ms): on a 2-core box a
thread-per-client generator in Python took as much CPU as the server and halved what it
could answer. Latency is measured from the moment a request was due (open loop) or sent
(closed loop and bursts) to the last byte of the answer.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def add(self, latency: float, status: int) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    def summary(self) -> str:
        if not self.latencies:
            return "no request"
        throughput = f"  throughput={len(self.latencies) / self.elapsed:.0f}/s" if self.elapsed else ""
        return (
            f"n={len(self.latencies)}  p50={self.percentile(0.50):.1f} ms  p90={self.percentile(0.90):.1f} ms  "
            f"p99={self.percentile(0.99):.1f} ms  max={max(self.latencies) * 1000:.1f} ms  "
            f"mean={statistics.mean(self.latencies) * 1000:.1f} ms{throughput}  statuses={dict(sorted(self.statuses.items()))}"
        )


class Client:
    """One client application: a keep-alive connection, one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, request: bytes) -> int:
        """Send one request and read the whole answer; returns the status (0: connection lost)."""
        for attempt in (1, 2):
            try:
                if self.writer is None:
                    await self.connect()
                self.writer.write(request)
                return await self._read_response()
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.close()
                if attempt == 2:
                    return 0
        return 0

    async def _read_response(self) -> int:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def http_post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _clients(host: str, port: int, count: int) -> list[Client]:
    clients = [Client(host, port) for _ in range(count)]
    await asyncio.gather(*(c.connect() for c in clients))
    return clients


async def _each_client(pool: list[Client], one_client, results: Results) -> Results:
    """Run one coroutine per client until all are done; the phase's duration goes in `elapsed`."""
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(one_client(c) for c in pool))
    finally:
        for c in pool:
            c.close()
    results.elapsed = time.perf_counter() - t0
    return results


async def _timed(client: Client, request: bytes, results: Results, due: float | None = None) -> None:
    started = time.perf_counter()
    status = await client.send(request)
    results.add(time.perf_counter() - (due if due is not None else started), status)


def sequential(host: str, port: int, next_request: Callable[[], bytes], count: int) -> Results:
    async def run() -> Results:
        (client,) = await _clients(host, port, 1)
        results = Results()
        for _ in range(count):
            await _timed(client, next_request(), results)
        client.close()
        return results

    return asyncio.run(run())


def bursts(host: str, port: int, next_request: Callable[[], bytes], clients: int, rounds: int, pause: float) -> Results:
    """`clients` connected clients send one request each at the same instant, `rounds` times."""

    async def run() -> Results:
        pool = await _clients(host, port, clients)
        results = Results()
        for _ in range(rounds):
            requests = [next_request() for _ in pool]  # built before the clock starts
            await asyncio.gather(*(_timed(c, r, results) for c, r in zip(pool, requests, strict=True)))
            await asyncio.sleep(pause)
        for c in pool:
            c.close()
        return results

    return asyncio.run(run())


def open_loop(
    host: str, port: int, next_request: Callable[[], bytes], clients: int, rate: float, seconds: float, seed: int = 1
) -> Results:
    """`clients` clients share a Poisson stream of `rate` requests/s for `seconds`.

    Open loop: a request is due at its arrival time whether or not the server kept up, and
    its latency counts from then (a slow answer delays that client's next request, and the
    wait is charged to it), so queueing shows instead of being hidden.
    """

    async def run() -> Results:
        # Connected on their first request, as a client application would: a connection
        # opened and left silent holds a gunicorn thread until its first request arrives.
        pool = [Client(host, port) for _ in range(clients)]
        rng = random.Random(seed)
        results = Results()
        start = time.perf_counter() + 0.05
        per_client = rate / clients

        async def one_client(client: Client) -> None:
            due = start + rng.expovariate(per_client)
            while due < start + seconds:
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await _timed(client, next_request(), results, due=due)
                due += rng.expovariate(per_client)

        return await _each_client(pool, one_client, results)

    return asyncio.run(run())


def closed_loop(host: str, port: int, next_request: Callable[[], bytes], clients: int, seconds: float) -> Results:
    """`clients` clients send back to back for `seconds`: measures capacity (latency ≈ clients ÷ throughput)."""

    async def run() -> Results:
        pool = await _clients(host, port, clients)
        results = Results()
        deadline = time.perf_counter() + seconds

        async def one_client(client: Client) -> None:
            while time.perf_counter() < deadline:
                await _timed(client, next_request(), results)

        return await _each_client(pool, one_client, results)

    return asyncio.run(run())
