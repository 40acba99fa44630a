"""A log write lock held by another process for a long time (40 s by default), on a real gunicorn.

    .venv/bin/python bench/locks.py [--hold 40] [--lock-wait 2] [--clients 8] [--pause 0.05]
                                    [--workers 2] [--threads 32] [--after 10]

Starts ``gunicorn -c gunicorn.conf.py service.wsgi:app`` on 127.0.0.1 with an SQLite
decision log and ``RAC_LOG_LOCK_WAIT=--lock-wait``, decides a few cases (the log
exists), then another process takes the log's write lock (``BEGIN IMMEDIATE``) and
holds it for ``--hold`` seconds. Throughout, and for ``--after`` seconds after the
release, ``--clients`` threads each POST decisions (a new case id each, ``--pause``
seconds apart), one thread probes ``/healthz`` every 50 ms and one ``/readyz``
every 250 ms. Printed: the decisions' statuses and latency while the lock is held,
``/healthz`` latency, ``/readyz`` statuses, and how long after the release the
decisions and ``/readyz`` are 200 again. Nothing is asserted: the figures are for a
reader (tests never fail on timing; ``tests/hostile/test_locks.py`` asserts the
behaviour on a 2 s hold).
"""
from __future__ import annotations

import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import collections  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import Gunicorn, environment_line  # noqa: E402

# The holder is its own process, as a stuck writer of another service or a stopped
# worker would be: it takes the lock, says so, and releases it when told (stdin closed).
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", time.monotonic(), flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
conn.close()
print("released", time.monotonic(), flush=True)
"""


def hte_case(case_id: str) -> dict:
    """An ordinary Qinzhou case: one HTE recognition, a grant (so a log append)."""
    return {"case_id": case_id,
            "applicant": {"kind": "enterprise", "zone": "qinzhou-htz", "city": "qinzhou", "attributes": {
                name: True for name in ("registered_in_zone", "tax_in_zone", "statistics_in_zone",
                                        "independent_legal_person", "independent_accounting", "sound_financial_system",
                                        "operates_honestly", "pays_taxes_lawfully", "fits_industrial_policy")}},
            "events": [{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}]}


Answer = collections.namedtuple("Answer", "sent done status retry_after")


def request(port: int, method: str, path: str, body: bytes | None = None) -> Answer:
    """One request on a new connection: (sent, done) monotonic seconds, status (0 for a connection error)."""
    sent = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        response = conn.getresponse()
        response.read()
        return Answer(sent, time.monotonic(), response.status, response.getheader("Retry-After"))
    except OSError:
        return Answer(sent, time.monotonic(), 0, None)
    finally:
        conn.close()


class Recorder:
    """Threads that send their request again and again until stopped; every answer kept."""

    def __init__(self):
        self.stop = threading.Event()
        self.answers: dict[str, list[Answer]] = collections.defaultdict(list)
        self.threads: list[threading.Thread] = []

    def loop(self, name: str, send, pause: float) -> None:
        def run():
            mine = self.answers[name]
            count = 0
            while not self.stop.is_set():
                mine.append(send(count))
                count += 1
                self.stop.wait(pause)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(130)

    def of(self, prefix: str) -> list[Answer]:
        return [a for name, answers in self.answers.items() if name.startswith(prefix) for a in answers]


def ms(values: list[float]) -> str:
    if not values:
        return "none"
    values = sorted(values)
    p99 = values[min(len(values) - 1, -(-len(values) * 99 // 100) - 1)]
    return (f"n={len(values):,}, min {values[0] * 1e3:,.1f}, median {values[len(values) // 2] * 1e3:,.1f}, "
            f"p99 {p99 * 1e3:,.1f}, max {values[-1] * 1e3:,.1f} ms")


def statuses(answers: list[Answer]) -> str:
    counted = collections.Counter(a.status for a in answers)
    return ", ".join(f"{status or 'no answer'} × {n:,}" for status, n in sorted(counted.items())) or "none"


def recovery(answers: list[Answer], released: float) -> str:
    """First 200 after the release, and the moment from which every answer sent is 200."""
    after = sorted((a for a in answers if a.sent >= released), key=lambda a: a.sent)
    first_ok = next((a for a in after if a.status == 200), None)
    failing = [a for a in after if a.status != 200]
    if first_ok is None:
        return "never 200 after the release"
    text = f"first 200 answered {(first_ok.done - released) * 1e3:,.0f} ms after the release"
    if failing:
        text += (f"; {len(failing):,} not 200 after it, the last sent {(failing[-1].sent - released) * 1e3:,.0f} ms "
                 f"after the release")
    else:
        text += "; every one sent after the release is 200"
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hold", type=float, default=40, help="seconds the lock is held (default 40)")
    parser.add_argument("--lock-wait", type=float, default=2, help="RAC_LOG_LOCK_WAIT of the service (default 2)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent decision clients (default 8)")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between a client's decisions (default 0.05)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=32, help="threads per worker (default 32, gunicorn.conf.py's)")
    parser.add_argument("--after", type=float, default=10, help="seconds measured after the release (default 10)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="rac-bench-locks-"))
    log_path = tmp / "log" / "decisions.sqlite3"
    os.environ.update(RAC_DECISION_LOG=str(log_path), RAC_LOG_LOCK_WAIT=f"{args.lock_wait:g}")
    os.environ.pop("DATABASE_URL", None)
    print(f"# bench/locks.py — the SQLite log's write lock held by another process for {args.hold:g} s\n")
    print(environment_line())
    print(f"gunicorn {args.workers} workers × {args.threads} threads, RAC_LOG_LOCK_WAIT={args.lock_wait:g} s, "
          f"{args.clients} decision clients ({args.pause:g} s apart), /healthz every 50 ms, /readyz every 250 ms\n")

    with Gunicorn(workers=args.workers, threads=args.threads, log_dir=str(tmp)) as server:
        port = server.port
        warm = [request(port, "POST", "/v1/decisions", json.dumps(hte_case(f"WARM-{i}")).encode()) for i in range(4)]
        if {a.status for a in warm} != {200}:
            raise SystemExit(f"warm-up decisions were not all 200: {statuses(warm)}\n{server.log_tail()}")

        recorder = Recorder()
        for c in range(args.clients):
            recorder.loop(f"decide-{c}", lambda k, c=c: request(
                port, "POST", "/v1/decisions", json.dumps(hte_case(f"LOCKS-{c}-{k}")).encode()), args.pause)
        recorder.loop("healthz", lambda k: request(port, "GET", "/healthz"), 0.05)
        recorder.loop("readyz", lambda k: request(port, "GET", "/readyz"), 0.25)
        time.sleep(1)  # the clients' answers before the lock is taken: all 200

        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(log_path)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            word, held = holder.stdout.readline().split()
            assert word == "held", word
            time.sleep(args.hold)
            holder.stdin.close()
            word, released = holder.stdout.readline().split()
            assert word == "released", word
        finally:
            if holder.poll() is None:
                holder.kill()
            holder.wait()
        held, released = float(held), float(released)
        time.sleep(args.after)
        recorder.finish()
        log = server.log_text()

    decisions, health, ready = recorder.of("decide-"), recorder.of("healthz"), recorder.of("readyz")

    def within(answers, start, end):  # sent and answered while the lock was held
        return [a for a in answers if a.sent >= start and a.done <= end]

    held_decisions = within(decisions, held, released)
    straddling = [a for a in decisions if a.sent < released < a.done or a.sent < held < a.done]
    print(f"lock held {released - held:.1f} s (from another process, BEGIN IMMEDIATE)\n")
    print("| while the lock is held | statuses | latency |")
    print("|---|---|---|")
    print(f"| decisions | {statuses(held_decisions)} | {ms([a.done - a.sent for a in held_decisions])} |")
    retry = collections.Counter(a.retry_after for a in held_decisions if a.status == 503)
    print(f"| (503s' Retry-After) | {', '.join(f'{k} s × {n:,}' for k, n in sorted(retry.items())) or 'none'} | |")
    held_health = within(health, held, released)
    print(f"| /healthz | {statuses(held_health)} | {ms([a.done - a.sent for a in held_health])} |")
    held_ready = within(ready, held, released)
    print(f"| /readyz | {statuses(held_ready)} | {ms([a.done - a.sent for a in held_ready])} |")
    print(f"\ndecisions sent before and answered after the lock was taken or released: {statuses(straddling)}, "
          f"{ms([a.done - a.sent for a in straddling])}")
    before = [a for a in decisions if a.done < held]
    print(f"before the lock: decisions {statuses(before)}, {ms([a.done - a.sent for a in before])}")
    after = [a for a in decisions if a.sent >= released]
    print(f"after the release: decisions {statuses(after)}, {ms([a.done - a.sent for a in after])}")
    print(f"recovery of the decisions: {recovery(decisions, released)}")
    print(f"recovery of /readyz: {recovery(ready, released)}")
    print(f"/healthz over the whole run: {statuses(health)}, {ms([a.done - a.sent for a in health])}; "
          f"{sum(a.done - a.sent > 0.05 for a in health):,} over 50 ms")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (other work on the machine "
          f"stretches the maxima)")
    deaths = [line for line in log.splitlines() if "WORKER TIMEOUT" in line or "was sent" in line]
    print(f"worker boots in gunicorn's log: {log.count('Booting worker')} (of {args.workers} started); "
          f"worker deaths: {len(deaths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
