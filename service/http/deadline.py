"""A deadline on reading the request body, so a slow client costs a connection,
not a worker thread for as long as it cares to trickle.

gunicorn's gthread worker waits for a request's first bytes without a thread
(5 s), but once the headers are in, the body is read by the application in its
thread, from a blocking socket with no timeout: 16 clients announcing a body and
never sending it used to hold every thread. ``BodyDeadline`` wraps ``wsgi.input``:
the whole body must arrive within ``seconds`` of the application's first read
(``RAC_BODY_TIMEOUT``, default 5). Under gunicorn (``gunicorn.socket``) a timer
shuts the socket's reading side at the deadline, which ends a ``recv`` blocked
on a client that trickles or sends nothing; elsewhere the deadline is checked
between reads. Past it the request is a 408 problem and gunicorn closes the
connection (its body reader failed).

Behind a buffering proxy (nginx's default ``proxy_request_buffering on``) bodies
reach the service whole and the deadline never bites; it is the embedded
default's own defence.
"""
from __future__ import annotations

import socket
import threading
import time

from werkzeug.exceptions import RequestTimeout

from ..settings import seconds_from_env

DEFAULT_BODY_TIMEOUT = 5.0  # seconds for the whole body: 1 MB at 200 KB/s


def body_timeout_from_env(environ=None) -> float:
    return seconds_from_env("RAC_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT, 300, environ)


class BodyTimeout(RequestTimeout):
    description = "the request body did not arrive in time"

    def __init__(self, seconds: float):
        super().__init__(f"the request body did not arrive within {seconds:g} s")


class BodyDeadline:
    """WSGI middleware: ``wsgi.input`` read within ``seconds``, else ``BodyTimeout`` (408)."""

    def __init__(self, app, seconds: float | None = None):
        self.app = app
        self.seconds = body_timeout_from_env() if seconds is None else seconds

    def __call__(self, environ, start_response):
        if not _announces_body(environ):
            return self.app(environ, start_response)
        stream = _DeadlineInput(environ["wsgi.input"], environ.get("gunicorn.socket"), self.seconds,
                                _length(environ))
        environ["wsgi.input"] = stream
        try:
            return self.app(environ, start_response)
        finally:
            stream.disarm()


def _announces_body(environ) -> bool:
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    return bool(_length(environ))


def _length(environ) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0) or None
    except ValueError:
        return None


class _DeadlineInput:
    """A file-like ``wsgi.input`` whose reads stop at a deadline set by the first read.

    gunicorn's body reader loops on ``recv`` until it holds what it was asked for,
    so a socket timeout (per ``recv``) never bounds a trickle; at the deadline a
    timer shuts the socket's reading side instead, which ends a blocked ``recv``
    at once, and the read is then refused."""

    def __init__(self, stream, sock, seconds: float, length: int | None):
        self._stream = stream
        self._sock = sock if isinstance(sock, socket.socket) else None
        self._seconds = seconds
        self._left = length  # bytes still announced (None: chunked)
        self._deadline = None
        self._timer: threading.Timer | None = None
        self._expired = False

    def _arm(self):
        self._deadline = time.monotonic() + self._seconds
        if self._sock is not None:
            self._timer = threading.Timer(self._seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self):
        self._expired = True
        try:
            self._sock.shutdown(socket.SHUT_RD)
        except OSError:  # already closed: nothing is blocked on it
            pass

    def disarm(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _bounded(self, read, *args):
        if self._deadline is None:
            self._arm()
        if self._expired or time.monotonic() >= self._deadline:
            self._fail()
        try:
            data = read(*args)
        except OSError:
            if self._expired:
                self._fail()
            raise
        if self._expired:
            self._fail()
        if self._left is not None:
            self._left -= len(data) if isinstance(data, bytes) else sum(map(len, data))
            if self._left <= 0:
                self.disarm()
        if not data:
            self.disarm()
        return data

    def _fail(self):
        self.disarm()
        # where the next request would start is unknown: gunicorn must not keep
        # the connection (its Body says so with ``failed``, set by any read that raised)
        if hasattr(self._stream, "failed"):
            self._stream.failed = True
        raise BodyTimeout(self._seconds)

    def read(self, *args):
        return self._bounded(self._stream.read, *args)

    def readline(self, *args):
        return self._bounded(self._stream.readline, *args)

    def readlines(self, *args):
        return self._bounded(self._stream.readlines, *args)

    def readinto(self, buffer) -> int:
        # werkzeug reads through readinto when the stream has one: it must be bounded too
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def __getattr__(self, name):  # anything else the server's stream offers (never a read: those are above)
        return getattr(self._stream, name)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line
