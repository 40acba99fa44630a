"""Fixtures of the hostile-input tests: the Flask app, a real gunicorn on a free
loopback port, and the figures (seconds, worker RSS) printed at the end of the run."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from service.http.app import create_app

ROOT = Path(__file__).resolve().parents[2]
from tests.hostile.figures import FIGURES


@pytest.fixture(scope="session", autouse=True)
def _print_figures(request):
    """The figures, printed when the session ends (also under -q)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if not FIGURES or reporter is None:
        return
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line("hostile inputs: time to the answer (printed, never asserted), worker RSS")
        for where, name, seconds, note in FIGURES:
            reporter.write_line(f"  {where:9} {seconds * 1000:9.1f} ms  {name}{'  ' + note if note else ''}")


@pytest.fixture(scope="session")
def hostile_client(decider):
    return create_app(decider).test_client()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class Gunicorn:
    def __init__(self, port: int, process: subprocess.Popen):
        self.port = port
        self.process = process

    @property
    def worker(self) -> int:
        return _children(self.process.pid)[0]

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.worker}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="session")
def gunicorn(tmp_path_factory):
    """One worker of the configuration in gunicorn.conf.py, on 127.0.0.1:<free port>."""
    port = _free_port()
    env = dict(os.environ, BIND=f"127.0.0.1:{port}", WORKERS="1",
               RAC_DECISION_LOG=str(tmp_path_factory.mktemp("gunicorn-log") / "decisions.sqlite3"),
               PYTHONPATH=str(ROOT))
    env.pop("DATABASE_URL", None)
    log = open(tmp_path_factory.mktemp("gunicorn-out") / "gunicorn.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "service.wsgi:app"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200 and _children(process.pid):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {log.name}")
            time.sleep(0.2)
        yield Gunicorn(port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
