"""Every log line is one JSON object: the service's own lines, its access lines
(service/http/observe.py) and gunicorn's (``GunicornLogger``, named by
gunicorn.conf.py's ``logger_class``).

A line has ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``,
``message``, ``pid``, ``request_id`` (the request's, ``null`` outside one),
the fields its caller passed as ``extra={"fields": {...}}`` and, after an
exception, ``exception`` (the traceback as one string: a line stays a line).
"""
from __future__ import annotations

import json
import logging
import sys
import time

from gunicorn.glogging import Logger as _GunicornBaseLogger

try:
    from flask import g, has_request_context
except ImportError:  # pragma: no cover - gunicorn's master before the app is importable
    g = None

    def has_request_context() -> bool:
        return False


def _request_id() -> str | None:
    if has_request_context():
        return g.get("request_id")
    return None


def utc_time(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": utc_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            "request_id": getattr(record, "request_id", None) or _request_id(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """The root logger writes JSON lines to stderr (once: a second call adds no handler);
    warnings become log lines too, so that no plain-text line reaches the error stream."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's error and access logs as JSON lines. The application writes its own
    access line per request (with the route template and the caller); gunicorn's access
    log (``ACCESS_LOG``) is off unless asked for, and then it is JSON too."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        headers = resp.headers.items() if hasattr(resp.headers, "items") else resp.headers
        request_id = next((v for k, v in headers if k.lower() == "x-request-id"), None)
        fields = {"type": "access", "source": "gunicorn", "method": environ.get("REQUEST_METHOD"),
                  "path": environ.get("PATH_INFO"), "status": int(status) if str(status).isdigit() else status,
                  "duration_ms": round(request_time.total_seconds() * 1000, 3),
                  "remote": environ.get("REMOTE_ADDR"), "bytes": getattr(resp, "sent", None)}
        try:
            self.access_log.info("request", extra={"fields": fields, "request_id": request_id})
        except Exception:  # pragma: no cover - as gunicorn's own access(): never fail a request on its log line
            self.exception("access log line failed")
