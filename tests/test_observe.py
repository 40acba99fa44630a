"""Operating the service (issue 11, section 3): /metrics counts what was asked and
decided, across gunicorn's workers; every log line is JSON and carries the request's
id, which the caller may give (X-Request-Id) and always gets back."""
from __future__ import annotations

import io
import json
import logging
import os
import runpy
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from flask import g

from service import metrics
from service.http.app import create_app
from service.http.observe import MAX_REQUEST_ID, REQUEST_ID_HEADER
from service.jsonlog import JsonFormatter
from service.log import LogError
from service.rulebook.loader import revision_key
from tests.helpers import qz_case
from tests.hostile.ops_support import free_port

ROOT = Path(__file__).resolve().parents[1]
needs_prometheus = pytest.mark.skipif(not metrics.available(), reason=metrics.MISSING)
HTE = {"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}


def granted_case() -> dict:
    return qz_case([HTE], case_id="OBS-1")


@pytest.fixture(scope="module")
def app(decider):
    app = create_app(decider)

    @app.get("/test/request-id")
    def seen_request_id():
        return {"request_id": g.request_id}

    @app.get("/test/crash")
    def crash():
        raise RuntimeError("a bug")

    return app


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture()
def lines():
    """The JSON lines the service's loggers write during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("service")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def access_lines(found: list[dict]) -> list[dict]:
    return [line for line in found if line.get("type") == "access"]


# -- metrics ------------------------------------------------------------------------------

def samples(text: str) -> dict[tuple, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> dict:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    return samples(answer.get_data(as_text=True))


@needs_prometheus
def test_metrics_count_a_decision_its_outcomes_its_log_append_and_its_engine_sessions(client):
    before = scrape(client)
    answer = client.post("/v1/decisions", json=granted_case())
    assert answer.status_code == 200
    decision = answer.get_json()
    assert decision["outcomes"], "the case must grant something for its outcomes to be counted"
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("rac_http_requests_total", method="POST", route="/v1/decisions", status="200") == 1
    assert grew("rac_decision_duration_seconds_count") == 1
    assert grew("rac_decisions_total", outcomes="some") == 1
    kinds = {}
    for outcome in decision["outcomes"]:
        kinds[(outcome["policy"], outcome["kind"])] = kinds.get((outcome["policy"], outcome["kind"]), 0) + 1
    for (policy, kind), count in kinds.items():
        assert grew("rac_decision_outcomes_total", policy=policy, kind=kind) == count
    assert grew("rac_log_append_duration_seconds_count") == 1
    for used in decision["rulesets"]:  # an engine ruleset is named by its revision's key
        ruleset = revision_key(used["policy"], used["version"], used["revision"])
        assert grew("rac_engine_sessions_total", ruleset=ruleset) == 1
        assert grew("rac_engine_session_duration_seconds_count", ruleset=ruleset) == 1
    assert grew("rac_engine_sessions_total", ruleset="settlement") <= 1  # run only when caps or groups are contested
    assert grew("rac_http_requests_total", method="GET", route="/metrics", status="200") == 1  # the first scrape


@needs_prometheus
def test_metrics_label_routes_by_template_and_unmatched_paths_by_one_label(client):
    before = scrape(client)
    client.get(f"/v1/decisions/{uuid.uuid4()}")
    client.get("/no/such/path/" + "x" * 40)
    after = scrape(client)
    assert (value(after, "rac_http_requests_total", method="GET", route="/v1/decisions/<decision_id>", status="404")
            - value(before, "rac_http_requests_total", method="GET", route="/v1/decisions/<decision_id>", status="404")) == 1
    assert (value(after, "rac_http_requests_total", method="GET", route="(unmatched)", status="404")
            - value(before, "rac_http_requests_total", method="GET", route="(unmatched)", status="404")) == 1
    assert not any("x" * 40 in str(labels) for _, labels in after)


class _RefusingLog:
    """A decision log whose appends fail as a full disk would."""

    def append(self, payload, decision, **who):
        raise LogError("disk full")


@needs_prometheus
def test_a_failed_log_append_is_counted_and_the_decision_not_counted(decider):
    app = create_app(decider)
    app.extensions["decision_log"] = _RefusingLog()
    client = app.test_client()
    before = scrape(client)
    assert client.post("/v1/decisions", json=granted_case()).status_code == 503
    after = scrape(client)
    assert (value(after, "rac_log_append_failures_total", cause="LogError")
            - value(before, "rac_log_append_failures_total", cause="LogError")) == 1
    assert value(after, "rac_decisions_total", outcomes="some") == value(before, "rac_decisions_total", outcomes="some")
    assert (value(after, "rac_http_requests_total", method="POST", route="/v1/decisions", status="503")
            - value(before, "rac_http_requests_total", method="POST", route="/v1/decisions", status="503")) == 1


# -- request ids and JSON lines -------------------------------------------------------------

def test_a_given_request_id_is_echoed_kept_in_g_and_carried_by_the_access_line(client, lines):
    answer = client.get("/test/request-id", headers={REQUEST_ID_HEADER: "trace-4f2a:7/B+c="})
    assert answer.headers[REQUEST_ID_HEADER] == "trace-4f2a:7/B+c="
    assert answer.get_json() == {"request_id": "trace-4f2a:7/B+c="}
    (line,) = access_lines(lines())
    assert line["request_id"] == "trace-4f2a:7/B+c="
    assert line | {"time": None, "duration_ms": None, "pid": None} == {
        "time": None, "level": "info", "logger": "service.access", "message": "request", "pid": None,
        "request_id": "trace-4f2a:7/B+c=", "type": "access", "method": "GET", "route": "/test/request-id",
        "path": "/test/request-id", "status": 200, "duration_ms": None, "remote": "127.0.0.1"}
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_a_decision_gets_a_made_uuid4_when_no_request_id_is_given(client, lines):
    answer = client.post("/v1/decisions", json=granted_case())
    assert answer.status_code == 200
    made = answer.headers[REQUEST_ID_HEADER]
    assert uuid.UUID(made).version == 4
    (line,) = access_lines(lines())
    assert line["request_id"] == made
    assert line["route"] == "/v1/decisions" and line["status"] == 200
    assert "request_id_refused" not in line
    assert made != client.post("/v1/decisions", json=granted_case()).headers[REQUEST_ID_HEADER]


@pytest.mark.parametrize("given", [
    "x" * (MAX_REQUEST_ID + 1),  # too long
    "two words",
    'quote"d',
    "{brace}",
    "-leading-dash",
    "café",
    "a,b",
    "",
])
def test_an_unsafe_request_id_is_replaced_not_echoed_nor_logged(client, lines, given):
    answer = client.get("/test/request-id", headers={REQUEST_ID_HEADER: given})
    made = answer.headers[REQUEST_ID_HEADER]
    assert made != given and uuid.UUID(made).version == 4
    assert answer.get_json() == {"request_id": made}
    (line,) = access_lines(lines())
    assert line["request_id"] == made and line["request_id_refused"] is True
    if given:
        assert given not in json.dumps(lines(), ensure_ascii=False)


def test_the_longest_safe_request_id_is_kept(client):
    given = "a" * MAX_REQUEST_ID
    assert client.get("/healthz", headers={REQUEST_ID_HEADER: given}).headers[REQUEST_ID_HEADER] == given


def test_an_error_line_is_json_with_the_request_id_and_the_traceback(client, lines):
    answer = client.get("/test/crash", headers={REQUEST_ID_HEADER: "crash-1"})
    assert answer.status_code == 500
    assert answer.headers[REQUEST_ID_HEADER] == "crash-1"
    found = lines()
    (error,) = [line for line in found if line["level"] == "error"]
    assert error["request_id"] == "crash-1"
    assert "RuntimeError: a bug" in error["exception"]
    (access,) = access_lines(found)
    assert access["status"] == 500 and access["level"] == "warning" and access["request_id"] == "crash-1"


def test_a_refusal_before_the_view_still_gets_an_id_and_a_line(decider, lines):
    """An authorization check registered after observe (as h-auth's) refuses: the id is there all the same."""
    app = create_app(decider)

    @app.before_request
    def refuse():
        g.requested_by = "someone"
        return {"refused": g.request_id}, 401

    answer = app.test_client().get("/v1/rulesets", headers={REQUEST_ID_HEADER: "auth-1"})
    assert answer.status_code == 401 and answer.get_json() == {"refused": "auth-1"}
    assert answer.headers[REQUEST_ID_HEADER] == "auth-1"
    (line,) = access_lines(lines())
    assert line["status"] == 401 and line["user"] == "someone" and line["request_id"] == "auth-1"


def test_with_credentials_the_refused_and_the_served_are_lines_with_ids_and_the_caller(decider, lines, monkeypatch):
    from service.auth.apikeys import hash_entry, make_key

    key = make_key()
    for name in ("RAC_API_KEYS_FILE", "RAC_JWT_PUBLIC_KEY", "RAC_JWKS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAC_API_KEYS", json.dumps([hash_entry("portal", ["submitter"], key)]))
    client = create_app(decider).test_client()
    refused = client.post("/v1/decisions", json=granted_case(), headers={REQUEST_ID_HEADER: "no-token-1"})
    assert refused.status_code == 401 and refused.headers[REQUEST_ID_HEADER] == "no-token-1"
    served = client.post("/v1/decisions", json=granted_case(),
                         headers={REQUEST_ID_HEADER: "portal-1", "Authorization": f"Bearer {key}"})
    assert served.status_code == 200 and served.headers[REQUEST_ID_HEADER] == "portal-1"
    first, second = access_lines(lines())
    assert (first["request_id"], first["status"], "user" in first) == ("no-token-1", 401, False)
    assert (second["request_id"], second["status"], second["user"]) == ("portal-1", 200, "portal")


def test_a_line_outside_a_request_says_request_id_null():
    record = logging.LogRecord("service", logging.WARNING, __file__, 1, "start-up %s", ("note",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "start-up note" and line["request_id"] is None and line["level"] == "warning"


# -- gunicorn.conf.py -------------------------------------------------------------------------

def load_gunicorn_conf(monkeypatch, **environ) -> dict:
    for name in ("PROMETHEUS_MULTIPROC_DIR", "GX_RULES_METRICS_STARTED_BY", "GX_RULES_METRICS_STARTED_BY_MADE",
                 "RAC_CONTROL_SOCKET", "XDG_RUNTIME_DIR", "BIND"):
        monkeypatch.delenv(name, raising=False)
    for name, setting in environ.items():
        monkeypatch.setenv(name, setting)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_two_instances_get_two_control_sockets(monkeypatch, tmp_path):
    one = load_gunicorn_conf(monkeypatch, BIND="127.0.0.1:8080", XDG_RUNTIME_DIR=str(tmp_path))
    other = load_gunicorn_conf(monkeypatch, BIND="127.0.0.1:8081", XDG_RUNTIME_DIR=str(tmp_path))
    assert one["control_socket"] != other["control_socket"]
    assert Path(one["control_socket"]).parent == tmp_path
    assert "control_socket_disable" not in one
    off = load_gunicorn_conf(monkeypatch, BIND="127.0.0.1:8082", RAC_CONTROL_SOCKET="off")
    assert off["control_socket_disable"] is True
    named = load_gunicorn_conf(monkeypatch, RAC_CONTROL_SOCKET=str(tmp_path / "mine.ctl"))
    assert named["control_socket"] == str(tmp_path / "mine.ctl")
    for conf in (one, other, off, named):
        conf["on_exit"](None)  # the metrics directories they made


def test_the_metrics_directory_is_made_per_start_and_removed_at_exit(monkeypatch):
    conf = load_gunicorn_conf(monkeypatch)
    made = Path(conf["metrics_dir"])
    assert made.is_dir() and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(made)
    conf["on_exit"](None)
    assert not made.exists()


def test_a_given_metrics_directory_is_emptied_of_an_earlier_starts_files_and_kept(monkeypatch, tmp_path):
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not ours")
    conf = load_gunicorn_conf(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert conf["metrics_dir"] == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    conf["on_exit"](None)
    assert tmp_path.is_dir()


def test_gunicorn_logs_through_the_json_logger(monkeypatch, tmp_path):
    conf = load_gunicorn_conf(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert conf["logger_class"] == "service.jsonlog.GunicornLogger"


# -- a real gunicorn, two workers ---------------------------------------------------------------

class Instance:
    def __init__(self, tmp_path: Path, name: str, workers: int, runtime: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.err = tmp_path / f"{name}.err"
        env = dict(os.environ, BIND=f"127.0.0.1:{self.port}", WORKERS=str(workers), XDG_RUNTIME_DIR=str(runtime),
                   RAC_DECISION_LOG=str(tmp_path / name / "decisions.sqlite3"),
                   PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        for inherited in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR", "GX_RULES_METRICS_STARTED_BY",
                          "GX_RULES_METRICS_STARTED_BY_MADE", "RAC_CONTROL_SOCKET", "ACCESS_LOG"):
            env.pop(inherited, None)
        self._err = open(self.err, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"],
                                        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self._err)
        self.workers = workers

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited: " + self.err.read_text()[-2000:])
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as answer:
                    if answer.status == 200 and len(self.children()) == self.workers:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /healthz in 60 s")
            time.sleep(0.1)

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._err.close()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.err.read_text().splitlines()]

    def metrics(self) -> dict:
        with urllib.request.urlopen(self.base + "/metrics", timeout=10) as answer:
            return samples(answer.read().decode())

    def decide(self, request_id: str) -> int:
        request = urllib.request.Request(self.base + "/v1/decisions", data=json.dumps(granted_case()).encode(),
                                         headers={"Content-Type": "application/json", REQUEST_ID_HEADER: request_id})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.headers[REQUEST_ID_HEADER] == request_id
            return answer.status


@needs_prometheus
def test_two_workers_metrics_add_up_survive_a_worker_and_every_line_is_json(tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    main = Instance(tmp_path, "main", 2, runtime)
    second = None
    try:
        main.wait_ready()
        decided, served_by = 0, set()
        # new connections until both workers have decided (bounded: the kernel spreads accepts)
        while decided < 200 and (decided < 20 or len(served_by) < 2):
            assert main.decide(f"obs-{decided}") == 200
            decided += 1
            if decided % 10 == 0:
                served_by = {line["pid"] for line in main.lines() if line.get("route") == "/v1/decisions"}
        assert len(served_by) == 2, "one worker decided every case: aggregation not shown"
        for _ in range(6):  # whichever worker answers the scrape, it reports every worker's decisions
            assert value(main.metrics(), "rac_decisions_total", outcomes="some") == decided
        os.kill(sorted(served_by)[0], signal.SIGTERM)  # a worker goes; the master replaces it (child_exit)
        deadline = time.monotonic() + 30
        while sorted(served_by)[0] in main.children() or len(main.children()) < 2:
            assert time.monotonic() < deadline, "the worker was not replaced"
            time.sleep(0.1)
        assert value(main.metrics(), "rac_decisions_total", outcomes="some") == decided  # its counts stay counted

        # a second instance on the same host keeps its own control socket, and leaves main's
        second = Instance(tmp_path, "second", 1, runtime)
        second.wait_ready()
        both = sorted([f"gx-rules-127.0.0.1_{main.port}.ctl", f"gx-rules-127.0.0.1_{second.port}.ctl"])
        deadline = time.monotonic() + 20  # the master opens its control socket in a thread of its own
        while sorted(p.name for p in runtime.iterdir()) != both and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(p.name for p in runtime.iterdir()) == both
        second.stop()
        assert [p.name for p in runtime.iterdir()] == [f"gx-rules-127.0.0.1_{main.port}.ctl"]
    finally:
        main.stop()
        if second is not None:
            second.stop()
    lines = main.lines()  # every line parses: json.loads raised otherwise
    decisions = [line for line in lines if line.get("route") == "/v1/decisions"]
    assert sorted(line["request_id"] for line in decisions) == sorted(f"obs-{i}" for i in range(decided))
    assert {line["logger"] for line in lines} >= {"gunicorn.error", "service.access"}
    assert all("request_id" in line for line in lines)
    assert not list(runtime.iterdir())  # the master removed its socket on the way out


def test_gunicorns_own_access_log_when_asked_for_is_json_with_the_request_id(tmp_path):
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from service.jsonlog import GunicornLogger

    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("errorlog", str(tmp_path / "error.log"))
    logger = GunicornLogger(config)
    try:
        response = SimpleNamespace(status="201 Created", sent=17, headers=[("X-Request-Id", "gid-1")])
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/decisions", "REMOTE_ADDR": "10.0.0.9",
                   "RAW_URI": "/v1/decisions", "SERVER_PROTOCOL": "HTTP/1.1"}
        logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(microseconds=2500))
        logger.error("a worker %s", "failed")
        for handler in logger.access_log.handlers + logger.error_log.handlers:
            handler.flush()
    finally:
        for log in (logger.access_log, logger.error_log):
            for handler in list(log.handlers):
                handler.close()
                log.removeHandler(handler)
    (access,) = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    assert access | {"time": None, "pid": None} == {
        "time": None, "level": "info", "logger": "gunicorn.access", "message": "request", "pid": None,
        "request_id": "gid-1", "type": "access", "source": "gunicorn", "method": "POST", "path": "/v1/decisions",
        "status": 201, "duration_ms": 2.5, "remote": "10.0.0.9", "bytes": 17}
    (error,) = [json.loads(line) for line in (tmp_path / "error.log").read_text().splitlines()]
    assert error["message"] == "a worker failed" and error["level"] == "error" and error["request_id"] is None


class _BrokenLog:
    """A decision log with a fault its own code did not foresee (not a LogError)."""

    def append(self, payload, decision, **who):
        raise KeyError("a bug in the log")


def test_an_unforeseen_fault_of_the_log_is_a_503_not_a_500(decider):
    app = create_app(decider)
    app.extensions["decision_log"] = _BrokenLog()
    answer = app.test_client().post("/v1/decisions", json=granted_case())
    assert answer.status_code == 503 and answer.get_json()["type"].endswith("/decision-not-logged")
    assert answer.headers["Retry-After"] == "5"
