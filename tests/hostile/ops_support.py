"""Support of the fault tests (locks, slow clients): a real gunicorn on a free
loopback port, raw HTTP over a socket, and figures printed at the end of a module
(measured, never asserted: tests never fail on timing)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPS_FIGURES: list[str] = []


def figure(line: str) -> None:
    OPS_FIGURES.append(line)


@pytest.fixture(scope="module", autouse=True)
def _print_ops_figures(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    lines, OPS_FIGURES[:] = list(OPS_FIGURES), []
    if not lines or reporter is None:
        return
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(f"[figures {request.module.__name__.rsplit('.', 1)[-1]}] {line}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(tmp_path: Path, **environ: str):
    """gunicorn with the repository's gunicorn.conf.py on a free loopback port; yields its base URL."""
    port = free_port()
    env = dict(os.environ, BIND=f"127.0.0.1:{port}", WORKERS="2",
               RAC_DECISION_LOG=str(tmp_path / "log" / "decisions.sqlite3"), **environ)
    env.pop("DATABASE_URL", None) if "DATABASE_URL" not in environ else None
    errors = open(tmp_path / "gunicorn.err", "wb")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("gunicorn exited: " + (tmp_path / "gunicorn.err").read_text()[-2000:])
            try:
                if get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /healthz in 60 s")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors.close()


def get(url: str, timeout: float = 30) -> tuple[int, dict, bytes]:
    return request("GET", url, timeout=timeout)


def post_json(url: str, payload, timeout: float = 30) -> tuple[int, dict, bytes]:
    return request("POST", url, json.dumps(payload).encode(), {"Content-Type": "application/json"}, timeout)


def request(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 30) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def timed(call, *args, **kwargs):
    """(result, milliseconds)."""
    start = time.perf_counter()
    result = call(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000


def ms(values) -> str:
    values = sorted(values)
    if not values:
        return "none"
    return f"n={len(values)} min {values[0]:.1f} median {values[len(values) // 2]:.1f} max {values[-1]:.1f} ms"
