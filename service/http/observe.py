"""Request ids, one JSON access line per request, and ``GET /metrics``.

The request id is the caller's ``X-Request-Id`` when it is a short token of safe
characters (so it can be echoed in a header and matched in a log), else a fresh
uuid4; it is in ``flask.g.request_id`` for the whole request (the decision log
stores it; every log line carries it, service/jsonlog.py) and echoed in the
response's ``X-Request-Id``.
"""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from .. import engine, metrics
from .problems import problem

REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID = 128
# letters, digits and . _ : + = / - : a uuid, a ULID, a trace id, base64; never a space,
# a quote or a control character, which would forge a log field or split a header
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,%d}" % (MAX_REQUEST_ID - 1))
UNMATCHED_ROUTE = "(unmatched)"  # a 404's route: the path itself would make labels unbounded

access_log = logging.getLogger("service.access")


def request_id_from(header: str | None) -> tuple[str, bool]:
    """(the request's id, whether it is the caller's)."""
    if header and _SAFE_REQUEST_ID.fullmatch(header):
        return header, True
    return str(uuid.uuid4()), False


def register(app: Flask) -> None:
    """Run first before every request and last after it, whatever else is registered
    (an authorization check that refuses a request still gets an id and a line)."""
    engine.observe_sessions(metrics.observe_session)
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request_funcs.setdefault(None, []).insert(0, _finish)  # Flask runs these last-registered first
    app.add_url_rule("/metrics", "metrics", _metrics, methods=["GET"])


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id, g.request_id_given = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def _finish(response: Response) -> Response:
    request_id = g.get("request_id") or request_id_from(None)[0]
    response.headers[REQUEST_ID_HEADER] = request_id
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
    metrics.observe_request(request.method, route, response.status_code, seconds)
    fields = {"type": "access", "method": request.method, "route": route, "path": request.path,
              "status": response.status_code, "duration_ms": round(seconds * 1000, 3),
              "remote": request.remote_addr}
    if not g.get("request_id_given", True) and REQUEST_ID_HEADER in request.headers:
        fields["request_id_refused"] = True  # the caller's was not a safe token: not repeated here
    user = g.get("requested_by")
    if user:
        fields["user"] = user
    access_log.log(logging.WARNING if response.status_code >= 500 else logging.INFO, "request",
                   extra={"fields": fields, "request_id": request_id})
    return response


def _metrics():
    exposed = metrics.exposition()
    if exposed is None:
        return problem(501, "Metrics unavailable", f"{metrics.MISSING}: this deployment exposes no metrics",
                       kind="metrics-unavailable")
    body, content_type = exposed
    return Response(body, status=200, content_type=content_type)
