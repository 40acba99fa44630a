"""Prometheus metrics of the service (prometheus_client), shared by every gunicorn worker.

Under gunicorn each worker is a process of its own, so the counters live in files
(prometheus_client's multiprocess mode): ``PROMETHEUS_MULTIPROC_DIR`` names the
directory, which gunicorn.conf.py sets (a fresh temporary directory per start when
unset) before the application, and so this module, is imported; ``GET /metrics``
then adds up every worker's files. Without the variable (the Flask test client, a
single process) the counters are the process's own.

prometheus_client is imported here only, and its absence is not fatal: every
``observe_*`` below does nothing and ``exposition()`` says why there is nothing.
Labels are bounded sets only (route templates, not paths; policies and kinds of
the loaded rulesets; ruleset names), never a case's or a client's values.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

try:
    import prometheus_client as _prom
    from prometheus_client import multiprocess as _multiprocess
except ImportError:  # pragma: no cover - exercised only where the dependency is missing
    _prom = None

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MISSING = "prometheus_client is not installed"
# a decision takes milliseconds; a slow one (a batch's large case, a cold engine copy) seconds
DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# a SQLite append is sub-millisecond to a few ms; a held lock or a remote database far more
APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
SESSION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5)


def available() -> bool:
    return _prom is not None


class _Metrics:
    def __init__(self):
        p = _prom
        self.requests = p.Counter("rac_http_requests", "HTTP requests answered, by route template and status",
                                  ["method", "route", "status"])
        self.request_seconds = p.Histogram("rac_http_request_duration_seconds",
                                           "time from the request's head to its answer, by route template", ["route"],
                                           buckets=DECISION_BUCKETS)
        self.decision_seconds = p.Histogram("rac_decision_duration_seconds",
                                            "time to decide one case (resolve, engine sessions, settlement, render)",
                                            buckets=DECISION_BUCKETS)
        self.decisions = p.Counter("rac_decisions", "decisions served (decided and logged)", ["outcomes"])
        self.outcomes = p.Counter("rac_decision_outcomes", "outcomes of the decisions served, by policy and kind",
                                  ["policy", "kind"])
        self.denials = p.Counter("rac_decision_denials", "denials of the decisions served, by policy and reason",
                                 ["policy", "reason"])
        self.append_seconds = p.Histogram("rac_log_append_duration_seconds",
                                          "time to append one decision to the decision log", buckets=APPEND_BUCKETS)
        self.append_failures = p.Counter("rac_log_append_failures",
                                         "decisions made but not logged (so answered 503), by cause", ["cause"])
        self.sessions = p.Counter("rac_engine_sessions", "engine sessions run, by ruleset", ["ruleset"])
        self.session_failures = p.Counter("rac_engine_session_failures",
                                          "engine sessions that ended in an error, by ruleset", ["ruleset"])
        self.session_seconds = p.Histogram("rac_engine_session_duration_seconds",
                                           "time from a session's start to its deletion, by ruleset", ["ruleset"],
                                           buckets=SESSION_BUCKETS)


_metrics: _Metrics | None = None
_making = threading.Lock()  # a worker's first requests arrive on several threads at once


def _get() -> _Metrics | None:
    """The metrics, made in the process that first uses them (a worker, after the fork)."""
    global _metrics
    if _metrics is None and _prom is not None:
        with _making:
            if _metrics is None:  # registering a metric twice is an error
                _metrics = _Metrics()
    return _metrics


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    m = _get()
    if m is not None:
        m.requests.labels(method, route, str(status)).inc()
        m.request_seconds.labels(route).observe(seconds)


@contextmanager
def timing_decision():
    """Times the ``with`` block as one decision (also when it raises: a failed decision took time too)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        m = _get()
        if m is not None:
            m.decision_seconds.observe(time.perf_counter() - started)


def observe_decision(decision: dict) -> None:
    """A decision served: counted with each of its outcomes and denials."""
    m = _get()
    if m is None:
        return
    outcomes = decision.get("outcomes") or []
    m.decisions.labels("some" if outcomes else "none").inc()
    for outcome in outcomes:
        m.outcomes.labels(outcome.get("policy", ""), outcome.get("kind", "")).inc()
    for denial in decision.get("denials") or []:
        m.denials.labels(denial.get("policy", ""), denial.get("reason", "")).inc()


@contextmanager
def timing_log_append():
    """Times an append to the decision log; an exception is counted as a failure, by its class, and re-raised."""
    started = time.perf_counter()
    try:
        yield
    except Exception as error:
        m = _get()
        if m is not None:
            m.append_failures.labels(type(error).__name__).inc()
        raise
    finally:
        m = _get()
        if m is not None:
            m.append_seconds.observe(time.perf_counter() - started)


def observe_session(ruleset: str, seconds: float, failed: bool) -> None:
    """The engine's session hook (``service.engine.observe_sessions``)."""
    m = _get()
    if m is None:
        return
    m.sessions.labels(ruleset).inc()
    m.session_seconds.labels(ruleset).observe(seconds)
    if failed:
        m.session_failures.labels(ruleset).inc()


def exposition() -> tuple[bytes, str] | None:
    """The text exposition of every worker's metrics (one process's without multiprocess mode),
    and its content type; None when prometheus_client is missing."""
    if _prom is None:
        return None
    _get()  # so that a fresh worker shows every metric, at zero, before it answered anything
    if os.environ.get(MULTIPROC_ENV):
        registry = _prom.CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
    else:
        registry = _prom.REGISTRY
    return _prom.generate_latest(registry), _prom.CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook: drop the dead worker's live-gauge files (its counters stay counted)."""
    if _prom is not None and os.environ.get(MULTIPROC_ENV):
        _multiprocess.mark_process_dead(pid)
