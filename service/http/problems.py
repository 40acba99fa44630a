"""RFC 9457 problem details: every error answer has this one shape."""
from __future__ import annotations

import json

from flask import Response

PROBLEM_TYPE = "https://gx-zones-rules.example/problems/"


def problem(status: int, title: str, detail: str, *, kind: str, errors: list | None = None, **extra) -> Response:
    body = {"type": PROBLEM_TYPE + kind, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")
