"""HTTP: POST /v1/decisions, GET /v1/rulesets, GET /healthz (liveness), GET /readyz (readiness)."""
from __future__ import annotations

import json
import logging
import os
import uuid

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .. import metrics
from ..decide import Decider, canonical_sha256
from ..engine import is_patched_build
from ..resolve import PinError
from ..validate.limits import DEFAULT_MAX_BODY
from ..validate.request import CaseValidator
from .problems import header_lang, localized, problem, problem_lang
from . import auth, batch_routes, history_routes, openapi
from . import log_routes, observe, ui
from .body import read_json, refused
from .deadline import BodyDeadline

log = logging.getLogger("service")
LOCALIZED_HTTP_ERRORS = ("not-found", "method-not-allowed")  # the others keep werkzeug's English
HEADERS_KEPT = ("Allow", "Retry-After")  # of werkzeug's HTTP errors, on the problem answered instead


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def create_app(decider: Decider | None = None, *, max_body: int | None = None) -> Flask:
    app = Flask("service")
    observe.register(app)  # request ids, access lines and /metrics: first in, last out of every request
    app.config["MAX_CONTENT_LENGTH"] = max_body or int(os.environ.get("RAC_MAX_BODY", DEFAULT_MAX_BODY))
    decider = decider or Decider()
    validator = CaseValidator(decider.vocab, decider.registry)
    app.extensions["decider"] = decider
    auth.register(app)  # before any view runs, and before any body is read

    @app.post("/v1/decisions")
    def decisions():
        payload, refusal = read_json(request, app.config["MAX_CONTENT_LENGTH"], detail="send-case-as-json")
        if refusal is not None:
            return refusal
        lang = problem_lang(payload)
        case, errors = validator.validate(payload, fallback_lang=lang)
        if errors:
            return refused(400, "invalid-case", lang, errors, args={"count": len(errors)})
        decision_id = str(uuid.uuid4())
        try:
            with metrics.timing_decision():
                decision = decider.decide(case, input_sha256=canonical_sha256(payload))
        except PinError as error:
            return localized(404, "unknown-ruleset", lang, args={"error": error},
                             errors=[{"path": p, "message": m} for p, m in error.errors])
        except Exception:  # a bug: say so, give an id to find it in the logs, leak nothing
            log.exception("decision %s failed", decision_id)
            return localized(500, "internal", lang, decision_id=decision_id)
        not_logged = log_routes.log_decision(payload, decision)  # a decision is never served unlogged
        if not_logged is not None:
            return not_logged
        return _json(decision)

    @app.get("/v1/rulesets")
    def rulesets():
        return _json({"policies": [
            {"policy": policy, "versions": [
                {"version": v.version, "status": v.status, "document": v.document["number"], "title": v.document["title"],
                 "issuer": v.document["issuer"], "effective": {"from": v.raw["effective"]["from"], "until": v.raw["effective"].get("until")},
                 "measures": len(v.measures), "sha256": v.sha256}
                for v in versions]}
            for policy, versions in sorted(decider.registry.versions.items())
        ]})

    # liveness touches nothing but memory: it answers in milliseconds whatever the log does
    alive = json.dumps({"status": "ok", "engine": decider.engine, "patched_engine": is_patched_build(),
                        "rulesets": len(decider.registry.compiled)}, ensure_ascii=False)

    @app.get("/healthz")
    def healthz():
        return Response(alive, status=200, mimetype="application/json")

    @app.get("/readyz")
    def readyz():
        return log_routes.readiness()

    # -- route modules: each adds its routes with register(app, decider, validator) --
    log_routes.register(app, decider, validator)
    batch_routes.register(app, decider, validator)
    history_routes.register(app, decider, validator)
    openapi.register(app, decider, validator)
    ui.register(app, decider, validator)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        return localized(413, "too-large", header_lang(), args={"limit": app.config["MAX_CONTENT_LENGTH"]})

    @app.errorhandler(HTTPException)
    def http_error(error):
        kind = error.name.lower().replace(" ", "-")
        if kind in LOCALIZED_HTTP_ERRORS:
            response = localized(error.code, kind, header_lang())
        else:
            response = problem(error.code, error.name, error.description, kind=kind)
        for name in HEADERS_KEPT:  # a 405 must say what is allowed (RFC 9110 15.5.6)
            value = dict(error.get_headers()).get(name)
            if value:
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def crash(error):  # pragma: no cover - defensive
        decision_id = str(uuid.uuid4())
        log.exception("request failed %s", decision_id)
        return localized(500, "internal", header_lang(), detail="internal-request", decision_id=decision_id)

    app.wsgi_app = BodyDeadline(app.wsgi_app)  # a slow body costs its connection, not a thread for long
    return app
