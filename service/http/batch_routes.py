"""POST /v1/decisions:batch — up to MAX_BATCH cases, each answered or failed on its own.

``decide_payload`` is the one path from a parsed request body to a decision or
a problem: validate (``CaseValidator``), then ``Decider.decide``. The batch
endpoint, ``python -m service batch`` and ``python -m service diff`` all use it.
Each decision of the batch endpoint is logged as POST /v1/decisions logs it
(``log_routes.log_decision``), so it can be fetched and replayed by its id.
"""
from __future__ import annotations

import json
import logging
import uuid

from flask import Response, request

from .. import metrics
from ..decide import canonical_sha256
from ..resolve import PinError
from . import log_routes
from ..validate.messages import DEFAULT_LANG, requested_lang
from .body import read_json, refused
from .problems import header_lang, localized, problem

log = logging.getLogger("service")
MAX_BATCH = 100  # cases per request


def problem_body(status: int, title: str, detail: str, *, kind: str, errors: list | None = None, **extra) -> dict:
    """The problem+json body that ``problems.problem`` sends, as a dict (for one item of a batch)."""
    return problem(status, title, detail, kind=kind, errors=errors, **extra).get_json()


def _localized_body(status: int, kind: str, lang: str, **kwargs) -> dict:
    """The problem+json body that ``problems.localized`` sends, as a dict."""
    return localized(status, kind, lang, **kwargs).get_json()


def decide_payload(decider, validator, payload, fallback_lang: str = DEFAULT_LANG) -> tuple[int, dict]:
    """(200, decision) or (status, problem body) for one request body, as ``POST /v1/decisions`` answers it.
    A problem is in the case's ``options.lang``, else in ``fallback_lang``."""
    lang = requested_lang(payload, fallback_lang)
    case, errors = validator.validate(payload, fallback_lang=lang)
    if errors:
        return 400, refused(400, "invalid-case", lang, errors, args={"count": len(errors)}).get_json()
    decision_id = str(uuid.uuid4())
    try:
        with metrics.timing_decision():
            return 200, decider.decide(case, input_sha256=canonical_sha256(payload))
    except PinError as error:
        return 404, _localized_body(404, "unknown-ruleset", lang, args={"error": error},
                                 errors=[{"path": p, "message": m} for p, m in error.errors])
    except Exception:  # a bug: say so, give an id to find it in the logs, leak nothing
        log.exception("decision %s failed", decision_id)
        return 500, _localized_body(500, "internal", lang, decision_id=decision_id)


def with_options(case, options: dict | None):
    """The case with the batch's ``options`` as defaults (the case's own options win)."""
    if not options or not isinstance(case, dict):
        return case
    own = case.get("options")
    if own is not None and not isinstance(own, dict):
        return case  # let the validator say what is wrong with it
    merged = dict(options)
    merged.update(own or {})
    return dict(case, options=merged)


def batch_errors(payload) -> list[dict]:
    """What is wrong with the envelope ``{"cases": [...], "options"?: {...}}`` (not with the cases)."""
    if not isinstance(payload, dict):
        return [{"path": "", "message": "the batch must be a JSON object {\"cases\": [...]}"}]
    errors = [{"path": key, "message": "unknown field"} for key in sorted(payload) if key not in ("cases", "options")]
    cases = payload.get("cases")
    if cases is None:
        errors.append({"path": "cases", "message": "missing: a list of cases"})
    elif not isinstance(cases, list):
        errors.append({"path": "cases", "message": "must be a list of cases"})
    elif not cases:
        errors.append({"path": "cases", "message": "must hold at least one case"})
    elif len(cases) > MAX_BATCH:
        errors.append({"path": "cases", "message": f"{len(cases)} cases; at most {MAX_BATCH} per batch"})
    if "options" in payload and not isinstance(payload["options"], dict):
        errors.append({"path": "options", "message": "must be an object (the default options of every case)"})
    return errors


def decide_batch(decider, validator, payload: dict, record=None, fallback_lang: str = DEFAULT_LANG) -> list[dict]:
    """One result per case. ``record(case, decision)``: None once the decision is kept (the decision
    log of POST /v1/decisions), else the problem Response to answer for that case instead."""
    results = []
    for index, case in enumerate(payload["cases"]):
        case = with_options(case, payload.get("options"))
        status, body = decide_payload(decider, validator, case, fallback_lang)
        if status == 200 and record is not None:
            refused = record(case, body)
            if refused is not None:
                status, body = refused.status_code, refused.get_json()
        results.append({"index": index, "status": status, "decision" if status == 200 else "problem": body})
    return results


def register(app, decider, validator) -> None:
    @app.post("/v1/decisions:batch")
    def decisions_batch():
        payload, refusal = read_json(request, app.config["MAX_CONTENT_LENGTH"], detail="send-batch-as-json")
        if refusal is not None:
            return refusal
        errors = batch_errors(payload)
        if errors:
            return problem(400, "Invalid batch", "; ".join(f"{e['path'] or 'body'}: {e['message']}" for e in errors),
                           kind="invalid-batch", errors=errors)
        body = {"results": decide_batch(decider, validator, payload, record=log_routes.log_decision,
                                           fallback_lang=header_lang())}
        return Response(json.dumps(body, ensure_ascii=False), status=200, mimetype="application/json")
