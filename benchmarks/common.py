"""What the benchmark scripts share: a throw-away stack (PostgreSQL or SQLite, Redis, the
project's simulators, `flask worker` and other child processes), the app created, migrated
and seeded with the demo data, and the readers of /proc (CPU seconds of a process tree, peak
RSS, the load average).

    from benchmarks.common import Stack, tree_cpu

    with Stack("bench-x", simulators={"mojaloop": ["--latency-ms", "50"]}) as stack:
        app = stack.app()                     # create_app + upgrade + seed_demo
        workers = stack.workers(2)            # real `flask worker` processes
        ...
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backoffice import devservers  # noqa: E402 - after the path is set

TICKS = os.sysconf("SC_CLK_TCK")
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"


# --- /proc ----------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of its reaped children)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return int(fields[1]), (utime + stime + cutime + cstime) / TICKS


def tree_cpu(root: int) -> float:
    """CPU seconds of a process tree (live processes, and children they reaped)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found:
                parents[int(entry.name)], cpu[int(entry.name)] = found
    members = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in members and pid not in members:
                members.add(pid)
                grew = True
    return sum(cpu.get(pid, 0.0) for pid in members)


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of a process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def own_peak_rss_mb() -> float:
    """The peak resident memory of this process, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    """`uptime`'s load averages (1, 5, 15 min) and the CPU count: the machine is shared."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def sign_in(client, email: str) -> None:
    """Sign a Flask test client in through the real forms, second factor included (the
    tests' `login`: the demo users' TOTP secrets are in the database)."""
    from tests.conftest import login

    response = login(client, email)
    assert response.status_code in (200, 302), (email, response.status_code)


# --- the stack ------------------------------------------------------------------------------


class Stack:
    """PostgreSQL (or a SQLite file), Redis and simulators on free ports, the app's environment
    in os.environ (and `env`, for child processes), stopped in reverse order on exit.

    `env` values are set first, so a caller may name its own (e.g. DATABASE_URL to reuse a
    database, or IMPORT_MAX_ROWS). `simulators` maps a simulator's name to its options; its
    URL goes to the variable the app reads (MOJALOOP_SDK_URL, FINES_API_URL, MOMO_API_URL)."""

    SIMULATOR_URLS = {"mojaloop": "MOJALOOP_SDK_URL", "fines": "FINES_API_URL", "momo": "MOMO_API_URL"}

    def __init__(
        self,
        prefix: str,
        *,
        sqlite: bool = False,
        durable: bool = False,
        pg_settings: dict | None = None,
        redis: bool = True,
        simulators: dict[str, list[str]] | None = None,
        env: dict[str, str] | None = None,
        stop_wait: float = 30.0,
    ) -> None:
        self.prefix = prefix
        self.sqlite = sqlite
        self.durable = durable
        self.pg_settings = pg_settings
        self.want_redis = redis
        self.simulator_options = simulators or {}
        self.extra_env = env or {}
        self.stop_wait = stop_wait  # seconds a terminated child gets before it is killed
        self.services: list = []
        self.procs: list[subprocess.Popen] = []
        self.pg = self.redis = None
        self.simulators: dict = {}
        self.env: dict[str, str] = {}

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self) -> None:
        os.chdir(ROOT)
        self.instance = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        env = {
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(self.instance),
            "SECRET_KEY": SECRET_KEY,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "RQ_QUEUE": self.prefix,
        }
        if "DATABASE_URL" in self.extra_env:
            pass
        elif self.sqlite:
            env["DATABASE_URL"] = f"sqlite:///{self.instance / 'bench.db'}"
        else:
            self.pg = devservers.start_postgres(durable=self.durable, settings=self.pg_settings)
            self.services.append(self.pg)
            env["DATABASE_URL"] = self.pg.url
        if self.want_redis:
            self.redis = devservers.start_redis()
            self.services.append(self.redis)
            env["REDIS_URL"] = self.redis.url
        env |= self.extra_env
        os.environ.update(env)
        for name, options in self.simulator_options.items():
            simulator = devservers.start_simulator(name, env={**os.environ}, options=list(options))
            self.services.append(simulator)
            self.simulators[name] = simulator
            if name in self.SIMULATOR_URLS:
                os.environ[self.SIMULATOR_URLS[name]] = simulator.url
        self.env = {**os.environ}

    def app(self, config: dict | None = None, seed: bool = True):
        """The Flask app, its database migrated and (with `seed`) holding the demo data."""
        from flask_migrate import upgrade

        from backoffice import create_app
        from backoffice.extensions import db
        from backoffice.services.demo import seed_demo

        app = create_app(config)
        with app.app_context():
            upgrade()
            if seed:
                seed_demo()
            db.session.commit()
        return app

    def flask(self, *args: str) -> list[str]:
        """The command line of `flask --app wsgi.py ARGS…`."""
        return [sys.executable, "-m", "flask", "--app", "wsgi.py", *args]

    def popen(self, command: list[str], env: dict | None = None) -> subprocess.Popen:
        """A child process (output discarded), terminated when the stack stops."""
        proc = subprocess.Popen(
            command, cwd=ROOT, env={**self.env, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.procs.append(proc)
        return proc

    def workers(self, count: int, env: dict | None = None, settle_seconds: float = 3.0) -> list[subprocess.Popen]:
        """`count` real `flask worker` processes, given `settle_seconds` to start listening."""
        started = [self.popen(self.flask("worker"), env) for _ in range(count)]
        if started and settle_seconds:
            time.sleep(settle_seconds)
        return started

    def stop(self) -> None:
        """Terminate the child processes, then stop the services, newest first."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=self.stop_wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []
        for service in reversed(self.services):
            service.stop()
        self.services = []
