"""The decision log over HTTP: every decision answered is logged (``log_decision``,
called by POST /v1/decisions), GET /v1/decisions/<id> (``?include=input``: the
logged input beside it), GET /v1/decisions (the search index, keyset-paged),
POST /v1/decisions/<id>/replay."""
from __future__ import annotations

import json
import logging

import hashlib

from flask import Flask, Response, current_app, g, request

from .. import metrics
from ..decide import Decider
from ..log import DecisionLog, LogBusy, LogError, LogRecord, from_env
from ..log.search import SearchError, parse_query, search
from ..replay import replay_record
from ..validate.request import CaseValidator
from . import checkpoint_routes
from .problems import problem

log = logging.getLogger("service")
EXTENSION = "decision_log"
EXPLAIN_VALUES = {"true": True, "false": False, "1": True, "0": False}


def register(app: Flask, decider: Decider, validator: CaseValidator) -> None:
    """Configure the log from the environment (nothing is opened until the first
    request of each worker) and add the log's routes."""
    app.extensions[EXTENSION] = decision_log = from_env()  # None: RAC_DECISION_LOG=off
    if decision_log is not None:
        decision_log.check_masking(decider.vocab, decider.registry)  # refuses to start: a masked field a rule reads
    checkpoint_routes.register(app, decision_log)

    @app.get("/v1/decisions")
    def list_decisions():
        return listing(app, request.args)

    @app.get("/v1/decisions/<decision_id>")
    def logged_decision(decision_id: str):
        found = _find(app, decision_id)
        if isinstance(found, Response):
            return found
        include = [part for part in request.args.get("include", "").split(",") if part]
        if include:
            if include != ["input"]:
                return problem(400, "Unknown include", "include takes only: input", kind="invalid-query",
                               errors=[{"path": "include", "message": "only input"}])
            response = Response(json.dumps(with_input(found), ensure_ascii=False), status=200,
                                mimetype="application/json")
        else:  # the decision byte for byte as answered, as it always was
            response = Response(found.decision, status=200, mimetype="application/json")
        response.headers["Decision-Log-Seq"] = str(found.seq)
        response.headers["Decision-Log-Hash"] = found.hash
        return response

    @app.post("/v1/decisions/<decision_id>/replay")
    def replay_decision(decision_id: str):
        found = _find(app, decision_id)
        if isinstance(found, Response):
            return found
        explain = request.args.get("explain", "false")
        if explain not in EXPLAIN_VALUES:
            return problem(400, "Invalid query parameter", f"explain must be true or false, not {explain!r}",
                           kind="invalid-query", errors=[{"path": "query/explain", "message": "expected true or false"}])
        report = replay_record(decider, validator, found, explain=EXPLAIN_VALUES[explain])
        return Response(json.dumps(report, ensure_ascii=False), status=200, mimetype="application/json")


def with_input(record: LogRecord) -> dict:
    """The record as an auditor checks it: the input as logged and its sha256 beside the decision.
    An unmasked input is checked by hashing the text stored (what the receipt's ``input_sha256``
    hashed); a masked one cannot be, so the record's own hash of the input as received is given,
    with ``masked`` naming what the policy changed (``verify`` checks it against the chain)."""
    decision = json.loads(record.decision)
    stored_sha256 = hashlib.sha256(record.input.encode("utf-8")).hexdigest()
    input_sha256 = record.received_sha256 if record.masked else stored_sha256
    return {"seq": record.seq, "decision_id": record.decision_id, "created_at": record.created_at,
            "hash": record.hash, "prev_hash": record.prev_hash,
            "input": json.loads(record.input), "input_sha256": input_sha256, "masked": list(record.masked),
            "input_sha256_matches": input_sha256 == decision.get("input_sha256"),
            "decision": decision}


def listing(app: Flask, args) -> Response:
    """GET /v1/decisions: the search index, newest first, ``next_cursor`` to page on."""
    decision_log: DecisionLog | None = app.extensions.get(EXTENSION)
    if decision_log is None:
        return problem(501, "Decision log off", "this deployment keeps no decision log (RAC_DECISION_LOG=off)",
                       kind="decision-log-off")
    try:
        query = parse_query(args)
    except SearchError as error:
        return problem(400, "Invalid query", str(error), kind="invalid-query", errors=error.errors)
    try:
        found = search(decision_log, query)
    except LogError as error:
        log.exception("decision log not searchable")
        return _retry_later(problem(503, "Decision log unavailable", "the decision log could not be read; retry",
                                    kind="decision-log-unavailable"), error)
    return Response(json.dumps(found, ensure_ascii=False), status=200, mimetype="application/json")


def log_decision(payload, decision: dict) -> Response | None:
    """Append an answered decision to the log: None when logged (or logging is off),
    else the 503 to answer instead — a decision is never served unlogged."""
    decision_log: DecisionLog | None = current_app.extensions.get(EXTENSION)
    if decision_log is None:
        metrics.observe_decision(decision)
        return None
    try:
        with metrics.timing_log_append():
            record = decision_log.append(payload, decision, requested_by=g.get("requested_by"),
                                         request_id=g.get("request_id"))
    except LogBusy as error:  # expected while a lock is stuck: one line, no traceback per request
        log.warning("%s", error)
        return _retry_later(problem(503, "Decision not logged",
                                    "the decision was made but the decision log's lock was held elsewhere, "
                                    "so it is not served; retry", kind="decision-not-logged",
                                    decision_id=decision.get("decision_id")), error)
    except Exception as error:  # LogError, or a fault the log did not foresee: still not served unlogged
        log.exception("decision %s not logged", decision.get("decision_id"))
        if not isinstance(error, LogError):
            error = LogError(f"{type(error).__name__}: {error}")
        return _retry_later(problem(503, "Decision not logged",
                       "the decision was made but could not be written to the decision log, so it is not served; retry",
                       kind="decision-not-logged", decision_id=decision.get("decision_id")), error)
    checkpoint_routes.after_append(record.seq)
    metrics.observe_decision(decision)
    return None


def _retry_later(response: Response, error: LogError) -> Response:
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _find(app: Flask, decision_id: str):
    decision_log: DecisionLog | None = app.extensions.get(EXTENSION)
    if decision_log is None:
        return problem(501, "Decision log off", "this deployment keeps no decision log (RAC_DECISION_LOG=off)",
                       kind="decision-log-off")
    try:
        record = decision_log.get(decision_id)
    except LogError as error:
        log.exception("decision log not readable")
        return _retry_later(problem(503, "Decision log unavailable", "the decision log could not be read; retry",
                                    kind="decision-log-unavailable", decision_id=decision_id), error)
    if record is None:
        return problem(404, "Unknown decision", f"no decision {decision_id} in the decision log",
                       kind="unknown-decision", decision_id=decision_id)
    return record


def readiness() -> Response:
    """GET /readyz: 200 while a decision could be logged now; else a 503 saying why
    (the log cannot be written, or its lock cannot be had within a short probe)."""
    decision_log: DecisionLog | None = current_app.extensions.get(EXTENSION)
    if decision_log is None:
        return Response(json.dumps({"status": "ready", "decision_log": "off"}), status=200, mimetype="application/json")
    reason = decision_log.ready()
    if reason is None:
        return Response(json.dumps({"status": "ready", "decision_log": decision_log.backend.describe()}),
                        status=200, mimetype="application/json")
    response = problem(503, "Not ready", f"decisions cannot be logged now: {reason}", kind="not-ready",
                       decision_log=decision_log.backend.describe())
    response.headers["Retry-After"] = str(LogError.retry_after)
    return response
