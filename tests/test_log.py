"""The decision log: append and read back, the hash chain, tamper detection by
``verify``, logging off, a failing log → 503, serialised appends across threads
and forked processes. Every test runs on SQLite, and on PostgreSQL when
TEST_DATABASE_URL is set (each test in its own schema)."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass

import orjson
import pytest

from service.cli import main as cli
from service.cli.verify import verify
from service.http.app import create_app
from service.log import DEFAULT_PATH, GENESIS, DecisionLog, canonical, from_env, open_log, record_hash
from service.paths import ROOT

from tests.helpers import postgres_schema, qz_case

PROBLEM = "application/problem+json"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set: PostgreSQL tests skipped"))]


@dataclass
class Target:
    kind: str
    location: str  # what --database takes: a SQLite path or a postgresql:// URL

    def execute(self, sql: str, params: tuple = ()) -> None:
        """Raw SQL straight on the database, as someone editing it behind the service's back."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.location) as conn:
                conn.execute(sql, params)
            conn.close()
        else:
            import psycopg

            with psycopg.connect(self.location, autocommit=True) as conn:
                conn.execute(sql.replace("?", "%s"), params)


@pytest.fixture(params=BACKENDS)
def target(request, tmp_path, monkeypatch):
    """The environment of a deployment logging to a fresh, empty log."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("RAC_DECISION_LOG", raising=False)
    if request.param == "sqlite":
        path = tmp_path / "log" / "decisions.sqlite3"
        monkeypatch.setenv("RAC_DECISION_LOG", str(path))
        yield Target("sqlite", str(path))
        return
    with postgres_schema("rac_test") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        yield Target("postgresql", url)


def hte_case(case_id="LOG-1", **options):
    return qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}],
                   case_id=case_id, options=options or None)


def post(client, payload):
    response = client.post("/v1/decisions", json=payload)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def close_log(app):
    decision_log = app.extensions.get("decision_log")
    if decision_log is not None:
        decision_log.close()


# -- configuration --

def test_configuration_from_environment(tmp_path):
    assert from_env({"RAC_DECISION_LOG": "off", "DATABASE_URL": "postgresql://x/y"}) is None
    assert from_env({"RAC_DECISION_LOG": "OFF"}) is None
    assert from_env({}).backend.path == DEFAULT_PATH == ROOT / "data" / "decisions.sqlite3"
    assert from_env({"RAC_DECISION_LOG": str(tmp_path / "a.db")}).backend.path == tmp_path / "a.db"
    pg = from_env({"DATABASE_URL": "postgresql://u:secret@db:5433/rac", "RAC_DECISION_LOG": str(tmp_path / "a.db")})
    assert pg.backend.name == "postgresql" and "secret" not in pg.backend.describe()
    with pytest.raises(ValueError):
        from_env({"DATABASE_URL": "mysql://db/rac"})
    assert not list(tmp_path.iterdir()), "configuring opens nothing"


# -- append and read back --

@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_append_and_read_back(target, decider, validator):
    decision_log = from_env()
    payloads = [hte_case(f"LOG-{i}") for i in range(3)]
    decisions = [decider.decide(validator.validate(p)[0]) for p in payloads]
    records = [decision_log.append(p, d) for p, d in zip(payloads, decisions)]
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    for payload, decision, record in zip(payloads, decisions, records):
        back = decision_log.get(decision["decision_id"])
        assert back == record
        assert back.input == orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
        assert orjson.loads(back.decision) == decision
        assert back.format == 2 and back.input_sha256 == hashlib.sha256(back.input.encode()).hexdigest()
        assert back.requested_by is None and back.request_id is None and back.masked == []
        assert back.hash == record_hash(back) == hashlib.sha256(
            (back.prev_hash + canonical({k: getattr(back, k) for k in
                                         ("seq", "decision_id", "created_at", "input", "decision", "prev_hash",
                                          "format", "requested_by", "request_id", "input_sha256", "masked")})
             ).encode()).hexdigest()
    assert list(decision_log.records(batch=2)) == records
    assert decision_log.head() == (3, records[-1].hash)
    assert decision_log.get("no-such-decision") is None
    decision_log.close()
    assert open_log(target.location).get(decisions[1]["decision_id"]) == records[1]  # a new connection reads it


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_http_decision_is_logged_and_served_back(target, decider):
    app = create_app(decider)
    client = app.test_client()
    raw = ('{ "events": [{"type": "hte_recognized", "id": "e1", "date": "2024-12-05", "was_tech_sme": true}],\n'
           '  "case_id": "钦州-7", "applicant": ' + json.dumps(hte_case()["applicant"], ensure_ascii=False) + '}')
    response = client.post("/v1/decisions", data=raw.encode(), content_type="application/json")
    assert response.status_code == 200
    decision = response.get_json()
    record = app.extensions["decision_log"].get(decision["decision_id"])
    # the validated body as received, canonicalised: sorted keys, no whitespace, UTF-8 (not \u escapes)
    assert record.input == orjson.dumps(json.loads(raw), option=orjson.OPT_SORT_KEYS).decode()
    assert "钦州-7" in record.input
    assert decision["input_sha256"] == hashlib.sha256(record.input.encode()).hexdigest()
    served = client.get(f"/v1/decisions/{decision['decision_id']}")
    assert served.status_code == 200 and served.mimetype == "application/json"
    assert served.get_json() == decision
    assert served.headers["Decision-Log-Seq"] == "1" and served.headers["Decision-Log-Hash"] == record.hash
    unknown = client.get(f"/v1/decisions/{uuid.uuid4()}")
    assert unknown.status_code == 404 and unknown.mimetype == PROBLEM
    # refused cases are not decisions: nothing logged
    assert client.post("/v1/decisions", json={"case_id": 1}).status_code == 400
    assert app.extensions["decision_log"].head()[0] == 1
    close_log(app)


# -- the chain --

@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_chain_verifies(target, decider, validator, capsys):
    client = create_app(decider).test_client()
    for i in range(4):
        post(client, hte_case(f"V-{i}", lang="en", explain=True))
    assert cli(["verify"]) == 0  # from the environment
    out = capsys.readouterr().out
    assert "4 record(s) chain checked and replayed" in out and "0 problem(s): ok" in out
    assert cli(["verify", "--database", target.location, "--no-replay"]) == 0
    assert "4 record(s) chain checked in" in capsys.readouterr().out


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_altered_record_is_detected_by_verify(target, decider, capsys):
    client = create_app(decider).test_client()
    ids = [post(client, hte_case(f"T-{i}"))["decision_id"] for i in range(3)]
    # someone edits the amount of the second decision directly in the database
    target.execute("UPDATE decision_log SET decision = replace(decision, '\"200000.00\"', '\"300000.00\"') "
                   "WHERE decision_id = ?", (ids[1],))
    assert cli(["verify", "--database", target.location]) != 0
    lines = capsys.readouterr().out.splitlines()
    assert "seq 2: hash mismatch" in lines
    assert "seq 2: replay differs at outcomes/0/amount" in lines
    assert not [line for line in lines if line.startswith(("seq 1:", "seq 3:"))]
    assert "problem(s)" in lines[-1] and not lines[-1].endswith(": ok")


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_deleted_record_and_edited_input_are_detected(target, decider, capsys):
    client = create_app(decider).test_client()
    ids = [post(client, hte_case(f"D-{i}"))["decision_id"] for i in range(4)]
    target.execute("DELETE FROM decision_log WHERE seq = 2")
    target.execute("UPDATE decision_log SET input = replace(input, '2024-12-05', '2024-12-06') WHERE decision_id = ?",
                   (ids[3],))
    out = []

    class Out:
        def write(self, text):
            out.append(text)

    assert verify(open_log(target.location), out=Out()) == 1  # chain only
    lines = "".join(out).splitlines()
    assert "seq 3: seq not contiguous (expected 2)" in lines
    assert "seq 3: prev_hash does not match the hash of the previous record" in lines
    assert "seq 4: hash mismatch" in lines
    assert "seq 4: input_sha256 does not match the unmasked input" in lines
    assert len(lines) == 5


# -- logging off; a failing log --

def test_logging_off_still_decides(decider, tmp_path, monkeypatch):
    monkeypatch.setenv("RAC_DECISION_LOG", "off")
    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:1/never")
    monkeypatch.chdir(tmp_path)
    app = create_app(decider)
    client = app.test_client()
    decision = post(client, hte_case())
    for response in (client.get(f"/v1/decisions/{decision['decision_id']}"),
                     client.post(f"/v1/decisions/{decision['decision_id']}/replay")):
        assert response.status_code in (404, 501) and response.mimetype == PROBLEM
    assert app.extensions["decision_log"] is None
    assert not list(tmp_path.iterdir())
    assert cli(["verify"]) == 2


def _assert_not_logged(response):
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == 503 and body["title"] == "Decision not logged"
    assert body["type"].endswith("/decision-not-logged")
    assert len(body["decision_id"]) == 36 and "outcomes" not in body
    return body


@pytest.mark.parametrize("where", ["parent is a file", "not a database", "postgresql down"])
def test_a_log_that_cannot_be_written_is_a_503(where, decider, tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if where == "parent is a file":  # unwritable even for root
        (tmp_path / "file").write_text("x")
        monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "file" / "decisions.sqlite3"))
    elif where == "not a database":
        (tmp_path / "decisions.sqlite3").write_bytes(b"this is not a SQLite database" * 100)
        monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "decisions.sqlite3"))
    else:
        monkeypatch.setenv("DATABASE_URL", "postgresql://rac@127.0.0.1:1/rac?connect_timeout=2")
    client = create_app(decider).test_client()
    first = _assert_not_logged(client.post("/v1/decisions", json=hte_case()))
    second = _assert_not_logged(client.post("/v1/decisions", json=hte_case()))
    assert first["decision_id"] != second["decision_id"]
    assert client.get(f"/v1/decisions/{first['decision_id']}").status_code == 503


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_a_log_failing_after_start_is_a_503_then_recovers(target, decider):
    app = create_app(decider)
    client = app.test_client()
    post(client, hte_case())
    target.execute("ALTER TABLE decision_log RENAME TO decision_log_away")
    _assert_not_logged(client.post("/v1/decisions", json=hte_case()))
    target.execute("ALTER TABLE decision_log_away RENAME TO decision_log")
    post(client, hte_case())
    assert [r.seq for r in app.extensions["decision_log"].records()] == [1, 2]
    close_log(app)


# -- appends serialised across threads and processes --

def _append_many(decision_log: DecisionLog, payload: dict, decision: dict, count: int) -> None:
    for _ in range(count):
        decision_log.append(payload, dict(decision, decision_id=str(uuid.uuid4())))


def _child(decision_log, payload, decision, count):  # runs in a forked process
    _append_many(decision_log, payload, decision, count)
    os._exit(0)


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_concurrent_appends_keep_one_chain(target, decider, validator, monkeypatch):
    # the chain is under test, not the lock's wait: every append may wait as long as the log allows,
    # so that a loaded machine does not turn a waiting append into a LogBusy
    monkeypatch.setenv("RAC_LOG_LOCK_WAIT", "60")
    payload = hte_case()
    decision = decider.decide(validator.validate(payload)[0])
    decision_log = from_env()
    decision_log.append(payload, decision)  # the parent's connection is open before the fork
    processes = [multiprocessing.get_context("fork").Process(target=_child, args=(decision_log, payload, decision, 15))
                 for _ in range(4)]
    threads = [threading.Thread(target=_append_many, args=(decision_log, payload, decision, 15)) for _ in range(3)]
    for worker in processes + threads:
        worker.start()
    for worker in processes + threads:
        worker.join(120)
    assert [p.exitcode for p in processes] == [0] * 4
    decision_log.append(payload, dict(decision, decision_id=str(uuid.uuid4())))  # parent connection still good
    records = list(decision_log.records())
    assert [r.seq for r in records] == list(range(1, 1 + 1 + 4 * 15 + 3 * 15 + 1))
    assert verify(decision_log, out=open(os.devnull, "w")) == 0
    assert len({r.decision_id for r in records}) == len(records)
    decision_log.close()
