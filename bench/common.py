"""Shared by the bench scripts: paths, percentiles, gunicorn start/stop, /proc reads, HTTP clients.

Every bench script starts with the same two lines (before any other import):
the script's own directory is dropped from ``sys.path`` — ``bench/http.py``
would otherwise shadow the standard library's ``http`` — and the project root
is put first.
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATCHED_ENGINE = "2.0.28+server.1"


# --------------------------------------------------------------------------- figures

def percentile(sorted_values: list, q: float):
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n*q/100), at least 1
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


def latency_row(name: str, ns: list[int], elapsed_s: float, extra: str = "") -> list[str]:
    ns = sorted(ns)
    us = lambda v: f"{v / 1000:,.0f}" if v >= 10_000 else f"{v / 1000:,.1f}"
    rate = len(ns) / elapsed_s if elapsed_s > 0 else float("nan")
    row = [name, f"{len(ns):,}", f"{rate:,.0f}", us(percentile(ns, 50)), us(percentile(ns, 90)), us(percentile(ns, 99))]
    return row + ([extra] if extra else [])


def markdown_table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """``align``: one letter per column, l or r (default: first left, the others right)."""
    right = [c == "r" for c in (align or "l" + "r" * (len(header) - 1))]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def engine_version() -> str:
    try:
        return metadata.version("durable_rules")
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_line() -> str:
    return (f"Python {platform.python_version()} ({sys.executable}), durable_rules {engine_version()}, "
            f"{os.cpu_count()} CPU(s), {platform.machine()} {platform.system()} {platform.release()}")


# --------------------------------------------------------------------------- /proc

def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command may contain spaces and parentheses: split after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry))
    return sorted(kids)


# --------------------------------------------------------------------------- gunicorn

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """``sys.executable -m gunicorn -c gunicorn.conf.py service.wsgi:app`` on 127.0.0.1:<free port>.

    Use as a context manager: the server is always stopped (TERM, then KILL of
    its own process group) on the way out, error or not. Its log goes to a file.
    """

    def __init__(self, workers: int = 2, threads: int = 4, port: int | None = None, log_dir: str | None = None):
        self.workers, self.threads = workers, threads
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.log_path = Path(log_dir or tempfile.mkdtemp(prefix="rac-bench-")) / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        self.stock_engine = engine_version() != PATCHED_ENGINE
        self._log = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:  # __exit__ is not called when __enter__ fails
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self, timeout: float = 90.0) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env.update(BIND=f"{self.host}:{self.port}", WORKERS=str(self.workers), THREADS=str(self.threads))
        env.pop("ACCESS_LOG", None)  # no access log: it would measure the disk
        if self.stock_engine:
            # The service refuses the stock engine unless told; the figures then are the stock build's.
            env["RAC_ALLOW_STOCK_ENGINE"] = "1"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "service.wsgi:app"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that stop() can reach the workers too
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")
            try:
                status, _ = self.get("/healthz", timeout=2)
                if status == 200 and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)

    def get(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        return children_of(self.proc.pid) if self.proc else []

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            try:
                if self.proc.poll() is None:
                    self.proc.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
                    self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                pass  # a second Ctrl-C or a hung master: kill below
            finally:
                # whatever of our own process group is left (a worker that outlived the master)
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.wait(timeout=10)
        finally:
            if self._log:
                self._log.close()
                self._log = None


# worker lifecycle lines in gunicorn's error log
BOOTING = re.compile(r"Booting worker with pid: (\d+)")
WORKER_DEATH = re.compile(r"(Worker \(pid:\d+\) (was sent|exited)[^\n]*|WORKER TIMEOUT[^\n]*|Worker exiting[^\n]*)")


def worker_events(log: str) -> tuple[list[str], list[str]]:
    """(booting pids in order, death/exit lines) found in a gunicorn log."""
    return BOOTING.findall(log), [m.group(0) for m in WORKER_DEATH.finditer(log)]


# --------------------------------------------------------------------------- clients

class Client:
    """One keep-alive ``http.client`` connection; reconnects after an error."""

    def __init__(self, host: str, port: int, timeout: float = 30):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.will_close:
                self.close()
            return resp.status, data
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def encode(body) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class Budget:
    """A shared request budget: at most ``count`` tickets, none after ``seconds``."""

    def __init__(self, count: int, seconds: float):
        self.count = count
        self.deadline = time.monotonic() + seconds
        self._tickets = itertools.count()
        self.stopped = threading.Event()

    def take(self) -> int | None:
        if self.stopped.is_set() or time.monotonic() > self.deadline:
            return None
        ticket = next(self._tickets)  # atomic under the GIL
        return ticket if ticket < self.count else None


def run_clients(threads: list, budget) -> None:
    """Start the client threads and wait for them; on Ctrl-C let each finish its request and stop."""
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        budget.stopped.set()
        raise
