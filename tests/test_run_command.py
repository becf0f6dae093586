"""`scripts/run.py` (what `make run` starts): everything comes up, sign-in works, SIGTERM stops all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyotp
import pytest
import requests

from backoffice import devservers
from tests.conftest import DEMO_PASSWORD, ROOT

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces: fields start after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents[int(entry.name)] = ppid
    found, frontier = set(), {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_run_command_starts_everything_and_stops_cleanly(app):
    port, redis_port = devservers.free_port(), devservers.free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PORT=str(port), REDIS_PORT=str(redis_port), RQ_WORKERS="1", WEB_WORKERS="1")
    process = subprocess.Popen(
        [sys.executable, "scripts/run.py"],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("Back-office prêt" in line for line in lines):
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        output = "".join(lines)
        assert f"http://localhost:{port}" in output
        for email in ("admin@demo.bj", "gestionnaire1@cnss.bj", "superviseur@cnss.bj", "gestionnaire@next.mr"):
            assert email in output
        assert f"Redis : redis://127.0.0.1:{redis_port}/0" in output

        # A person signs in through the real web server.
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        form = session.get(f"{base}/connexion", timeout=10).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        response = session.post(
            f"{base}/connexion",
            data={"email": "gestionnaire1@cnss.bj", "password": DEMO_PASSWORD, "csrf_token": token},
            timeout=10,
        )
        # Then the second factor, with the demo secret the banner printed.
        assert "MJQWG23PMZTGSY3FFVSGK3LPFUZGMYJB" in output and "(écoute sur 127.0.0.1)" in output
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.text).group(1)
        code = pyotp.TOTP("MJQWG23PMZTGSY3FFVSGK3LPFUZGMYJB").now()
        response = session.post(f"{base}/connexion/code", data={"code": code, "csrf_token": token}, timeout=10)
        assert response.status_code == 200 and "Bonjour Koffi" in response.text

        # Redis, a worker and gunicorn (master + worker) run below run.py.
        children = _descendants(process.pid)
        assert len(children) >= 4, children
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    reader.join(timeout=5)
    assert process.returncode == 0, "".join(lines)
    assert "Tout est arrêté." in "".join(lines)
    time.sleep(0.5)
    left = [pid for pid in children if _alive(pid)]
    assert not left, f"processes left behind: {left}"
