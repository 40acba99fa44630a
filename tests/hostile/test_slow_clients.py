"""Slow clients: a client that announces a body and trickles it, or never sends
it, costs its connection and a thread for RAC_BODY_TIMEOUT seconds at most (a
408), not a thread for as long as it likes; meanwhile /healthz and decisions are
answered. On a real gunicorn (the repository's gunicorn.conf.py) on loopback."""
from __future__ import annotations

import io
import select
import socket
import threading
import time

from service.http.deadline import BodyDeadline, BodyTimeout

from tests.helpers import qz_case
from tests.hostile.ops_support import _print_ops_figures, figure, get, gunicorn, ms, post_json, timed  # noqa: F401

SLOW_CLIENTS = 16
TRICKLE_FOR = 20.0  # seconds a trickling client would go on sending
BODY_TIMEOUT = 2.0  # RAC_BODY_TIMEOUT of the service under test


def hte_case(case_id):
    return qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}], case_id=case_id)


# -- the middleware on its own --

class _Trickle(io.RawIOBase):
    """A wsgi.input that yields one byte per read, slowly."""

    def __init__(self, pause: float):
        self.pause = pause

    def read(self, size=-1):
        time.sleep(self.pause)
        return b" "


def _reading_app(environ, start_response):
    body = environ["wsgi.input"].read(10)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def test_a_body_read_past_the_deadline_is_a_request_timeout():
    app = BodyDeadline(lambda environ, start: _read_all(environ, start), seconds=0.5)
    environ = {"CONTENT_LENGTH": "1000", "wsgi.input": _Trickle(0.2)}
    start = time.monotonic()
    try:
        app(environ, lambda *a: None)
    except BodyTimeout as error:
        assert error.code == 408
    else:
        raise AssertionError("a body trickled for longer than the deadline was read to the end")
    figure(f"middleware: 408 raised after {(time.monotonic() - start) * 1000:.0f} ms (deadline 500 ms)")


def test_a_request_without_a_body_is_passed_through_untouched():
    stream = io.BytesIO(b"")
    environ = {"CONTENT_LENGTH": "", "wsgi.input": stream}
    BodyDeadline(_reading_app, seconds=0.5)(environ, lambda *a: None)
    assert environ["wsgi.input"] is stream


def _read_all(environ, start_response):
    stream = environ["wsgi.input"]
    while stream.read(1):
        pass
    start_response("200 OK", [])
    return [b""]


# -- real gunicorn --

class SlowClient(threading.Thread):
    """Announces a 10,000-byte body, then trickles a byte every 0.5 s (or sends nothing),
    until the service answers or closes, or TRICKLE_FOR has passed."""

    def __init__(self, port: int, trickle: bool):
        super().__init__(daemon=True)
        self.port, self.trickle = port, trickle
        self.status: str | None = None  # the status line answered, or "closed"
        self.after: float | None = None  # seconds from the headers to the answer
        self.cut_at: float | None = None  # time.monotonic() of the answer
        self.connected = threading.Event()

    def run(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            sock.sendall(b"POST /v1/decisions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 10000\r\n\r\n{")
            start = time.monotonic()
            self.connected.set()
            while time.monotonic() - start < TRICKLE_FOR:
                readable, _, _ = select.select([sock], [], [], 0.5)
                if readable:
                    data = sock.recv(4096)
                    self.status = data.split(b"\r\n", 1)[0].decode("latin-1") if data else "closed"
                    self.cut_at = time.monotonic()
                    self.after = self.cut_at - start
                    return
                if self.trickle:
                    try:
                        sock.sendall(b" ")
                    except OSError:
                        self.status, self.cut_at = "closed", time.monotonic()
                        self.after = self.cut_at - start
                        return
        finally:
            self.connected.set()
            sock.close()


def test_slow_bodies_are_cut_and_the_others_served(tmp_path):
    with gunicorn(tmp_path, RAC_BODY_TIMEOUT=str(BODY_TIMEOUT)) as base:
        port = int(base.rsplit(":", 1)[1])
        (status, _, _), baseline = timed(get, base + "/healthz")
        assert status == 200
        clients = [SlowClient(port, trickle=i % 2 == 0) for i in range(SLOW_CLIENTS)]
        for client in clients:
            client.start()
        for client in clients:
            client.connected.wait(10)
        started = time.monotonic()
        health, decisions = [], []  # (answered at, milliseconds)
        while time.monotonic() - started < BODY_TIMEOUT * 2:
            (status, _, _), took = timed(get, base + "/healthz")
            assert status == 200
            health.append((time.monotonic(), took))
            if len(decisions) < 5:
                (status, _, body), took = timed(post_json, base + "/v1/decisions", hte_case(f"SLOW-{len(decisions)}"))
                assert status == 200, body[:300]
                decisions.append((time.monotonic(), took))
            time.sleep(0.05)
        for client in clients:
            client.join(TRICKLE_FOR + 5)
    # every slow client was answered (408) or cut long before it would have finished sending
    assert all(c.status is not None for c in clients), [c.status for c in clients]
    assert all(c.after < TRICKLE_FOR for c in clients), [c.after for c in clients]
    assert {c.status.upper() for c in clients} <= {"HTTP/1.1 408 REQUEST TIMEOUT", "CLOSED"}, {c.status for c in clients}
    # answered while all 16 still held their connections, not only once they were cut
    first_cut = min(c.cut_at for c in clients)
    health_meanwhile = [took for at, took in health if at < first_cut]
    decisions_meanwhile = [took for at, took in decisions if at < first_cut]
    assert health_meanwhile and decisions_meanwhile, "nothing was served while the slow clients held their connections"
    figure(f"{SLOW_CLIENTS} slow-body clients (8 trickling, 8 silent), RAC_BODY_TIMEOUT={BODY_TIMEOUT:g} s, "
           f"2 workers × 32 threads")
    figure(f"/healthz alone before: {baseline:.1f} ms; while all 16 held on: {ms(health_meanwhile)}; "
           f"whole run: {ms([t for _, t in health])}")
    figure(f"decisions while all 16 held on: {ms(decisions_meanwhile)}; whole run: {ms([t for _, t in decisions])}")
    figure("slow clients answered after " + ms([c.after * 1000 for c in clients]) + "; statuses "
           + ", ".join(sorted({c.status for c in clients})))
