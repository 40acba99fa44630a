"""What the decision log keeps (issue 11, sections 2 and 4): who asked and which request in
every record, inside the hash (format 2; format 1 records still verify); the masking policy
(a masked field absent or keyed-hashed in the stored input, the decision still replaying
``identical``; a policy masking what a rule reads refused at start-up); records stored
compactly (bundle list and prose once) and served back unchanged; archive and prune with
every leaf kept; on PostgreSQL, the service's role limited to INSERT and SELECT.
SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""
from __future__ import annotations

import hashlib
import hmac
import sqlite3
import uuid

import orjson
import pytest
from flask import g

from service.cli import main as cli
from service.cli.archive import archive, verify_archive
from service.cli.verify import verify
from service.http.app import create_app
from service.log import GENESIS, LogError, LogRecord, check_chain, from_env, open_log, record_hash
from service.log.chain import canonical, record_from_dict
from service.log.compact import deflate, inflate
from service.log.db import SCHEMAS
from service.log.masking import HASH_PREFIX, MaskError, parse
from service.paths import ROOT

from tests.helpers import qz_case
from tests.test_log import BACKENDS, TEST_DATABASE_URL, hte_case, post, target  # noqa: F401  (fixture)

KEY = "a test masking key"
OLD_SCHEMA = """CREATE TABLE decision_log (seq BIGINT PRIMARY KEY, decision_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL, input TEXT NOT NULL, decision TEXT NOT NULL, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL)"""


def named_case(case_id="M-1"):
    """A case stating what masking is for: a name, a credit code, a talent's name."""
    case = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True},
                    {"id": "e2", "type": "talent_appointed", "date": "2024-06-01", "talent": "张三"}],
                   case_id=case_id)
    case["applicant"] |= {"name": "钦州某科技有限公司", "credit_code": "91450700MA5L0TEST1"}
    return case


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def app_asking_as(decider, who, request_id):
    app = create_app(decider)

    @app.before_request
    def identify():  # what h-auth and h-obs set on flask.g
        g.requested_by, g.request_id = who, request_id

    return app


def close(app):
    if app.extensions.get("decision_log") is not None:
        app.extensions["decision_log"].close()


# -- who asked, which request: inside the hash --

@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_requested_by_and_request_id_are_in_the_hash(target, decider, capsys):
    app = app_asking_as(decider, "clerk-qz", "req-7f3a")
    client = app.test_client()
    first, second = post(client, hte_case("W-1")), post(client, hte_case("W-2"))
    decision_log = app.extensions["decision_log"]
    record = decision_log.get(first["decision_id"])
    assert (record.format, record.requested_by, record.request_id) == (2, "clerk-qz", "req-7f3a")
    assert record.body()["requested_by"] == "clerk-qz" and record.hash == record_hash(record)
    assert cli(["verify", "--database", target.location]) == 0
    capsys.readouterr()
    target.execute("UPDATE decision_log SET requested_by = 'someone-else' WHERE decision_id = ?",
                   (second["decision_id"],))
    assert cli(["verify", "--database", target.location, "--no-replay"]) == 1
    assert "seq 2: hash mismatch" in capsys.readouterr().out.splitlines()
    close(app)


def test_format_1_records_still_verify_beside_format_2(tmp_path, decider, validator, capsys):
    """A log written before format 2: its records keep their body; the table gains the columns."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(OLD_SCHEMA)
    prev = GENESIS
    for seq in (1, 2):
        payload = hte_case(f"OLD-{seq}")
        old = LogRecord(seq, str(uuid.uuid4()), "2025-01-01T00:00:00.000000Z", canonical(payload),
                        canonical(decider.decide(validator.validate(payload)[0],
                                                 input_sha256=sha256(canonical(payload)))), prev)
        old.hash = record_hash(old)  # format 1: the body of before
        assert old.hash == hashlib.sha256((prev + canonical(
            {k: getattr(old, k) for k in ("seq", "decision_id", "created_at", "input", "decision", "prev_hash")})
        ).encode()).hexdigest()
        conn.execute("INSERT INTO decision_log VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (old.seq, old.decision_id, old.created_at, old.input, old.decision, old.prev_hash, old.hash))
        prev = old.hash
    conn.commit()
    conn.close()
    assert cli(["verify", "--database", str(path)]) == 0  # read before any writer added a column
    decision_log = open_log(path)
    payload = hte_case("NEW-3")
    new = decision_log.append(payload, decider.decide(validator.validate(payload)[0],
                                                      input_sha256=sha256(canonical(payload))), requested_by="x")
    assert (new.seq, new.prev_hash, new.format) == (3, prev, 2)
    assert [r.format for r in decision_log.records()] == [1, 1, 2]
    decision_log.close()
    capsys.readouterr()
    assert cli(["verify", "--database", str(path)]) == 0
    assert "3 record(s) chain checked and replayed" in capsys.readouterr().out


# -- masking --

def mask_file(tmp_path, rules: str):
    path = tmp_path / "mask.yaml"
    path.write_text("mask:\n" + rules, encoding="utf-8")
    return path


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_a_masked_field_is_absent_and_the_decision_replays_identical(target, decider, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAC_LOG_MASK", str(mask_file(tmp_path, "  applicant.name: drop\n"
                                                               "  applicant.credit_code: hash\n"
                                                               "  events.talent: hash\n"
                                                               "  applicant.city: keep\n")))
    monkeypatch.setenv("RAC_LOG_MASK_KEY", KEY)
    app = create_app(decider)
    client = app.test_client()
    payload = named_case()
    decision = post(client, payload)
    record = app.extensions["decision_log"].get(decision["decision_id"])
    stored = orjson.loads(record.input)
    assert "name" not in stored["applicant"] and "钦州某科技有限公司" not in record.input
    assert "91450700MA5L0TEST1" not in record.input and "张三" not in record.input
    keyed = HASH_PREFIX + hmac.new(KEY.encode(), "91450700MA5L0TEST1".encode(), hashlib.sha256).hexdigest()
    assert stored["applicant"]["credit_code"] == keyed  # still matchable by whoever holds the key
    assert stored["events"][1]["talent"].startswith(HASH_PREFIX)
    assert stored["applicant"]["city"] == "qinzhou"
    assert record.masked == ["applicant.name:drop", "applicant.credit_code:hash", "events.talent:hash"]
    # the receipt's input_sha256 is of the input as received, kept in the record (inside its hash)
    assert decision["input_sha256"] == record.input_sha256 == sha256(canonical(payload)) != sha256(record.input)
    replay = client.post(f"/v1/decisions/{decision['decision_id']}/replay")
    assert replay.get_json() == {"status": "identical"}
    assert client.get(f"/v1/decisions/{decision['decision_id']}").get_json() == decision
    assert cli(["verify", "--database", target.location]) == 0
    assert "0 problem(s): ok" in capsys.readouterr().out
    close(app)


@pytest.mark.parametrize("rules, refused", [
    ("  applicant.zone: drop\n", "applicant.zone is read"),
    ("  applicant.attributes.tax_in_zone: drop\n", "applicant.attributes.tax_in_zone is tested by a rule"),
    ("  applicant.attributes.high_tech_enterprise_since: drop\n", "is tested by a rule"),
    ("  events.was_tech_sme: drop\n", "tested by a rule on hte_recognized events"),
    ("  events.date: hash\n", "events.date is read by every decision"),
    ("  events.project_id: drop\n", "events.project_id is read by every decision"),
    ("  case_id: drop\n", "case_id is not a maskable path"),
    ("  events.talent: drop\n  applicant.kind: hash\n", "applicant.kind is read"),
])
def test_a_policy_masking_what_a_rule_reads_refuses_to_start(rules, refused, decider, tmp_path, monkeypatch):
    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "decisions.sqlite3"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RAC_LOG_MASK", str(mask_file(tmp_path, rules)))
    monkeypatch.setenv("RAC_LOG_MASK_KEY", KEY)
    with pytest.raises(MaskError, match=refused):
        create_app(decider)


def test_a_masking_policy_that_cannot_be_applied_is_refused(decider, tmp_path):
    with pytest.raises(MaskError, match="RAC_LOG_MASK_KEY must be set"):
        parse({"mask": {"applicant.name": "hash"}}, None)
    with pytest.raises(MaskError, match="'blur' is not one of drop, hash, keep"):
        parse({"mask": {"applicant.name": "blur", "applicant..x": "drop"}}, None)
    for field, kind in (("talent", None), ("civil_servant", "bool")):
        policy = parse({"mask": {f"events.{field}": "hash"}}, b"k")
        if kind is None:
            policy.check(decider.vocab, decider.registry)
        else:  # a hashed bool would no longer validate on replay
            with pytest.raises(MaskError, match="is a bool"):
                policy.check(decider.vocab, decider.registry)
    assert from_env({"RAC_DECISION_LOG": str(tmp_path / "a.db")}).masking is None


# -- records sized for years --

@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_bundle_and_prose_are_stored_once_and_served_back_unchanged(target, decider, capsys):
    app = create_app(decider)
    client = app.test_client()
    decisions = [post(client, named_case("C-0"))]
    parts_of_one = _rows(target, "SELECT count(*) FROM decision_parts")[0][0]
    decisions += [post(client, named_case(f"C-{i}")) for i in (1, 2)]
    for decision in decisions:
        served = client.get(f"/v1/decisions/{decision['decision_id']}")
        assert served.get_json() == decision
        assert served.get_data(as_text=True) == canonical(decision)  # byte for byte the text hashed
    rows = _rows(target, "SELECT decision FROM decision_log ORDER BY seq")
    for (stored,), decision in zip(rows, decisions):
        assert decision["bundle"]["versions"][0] not in stored  # the list is kept once, by revision
        assert decision["outcomes"][0]["citation"] not in stored
        assert len(stored.encode()) < len(canonical(decision).encode()) * 0.75
    parts = dict(_rows(target, "SELECT id, body FROM decision_parts"))
    assert orjson.loads(parts["b:" + decisions[0]["bundle"]["revision"]]) == decisions[0]["bundle"]["versions"]
    assert len(parts) == parts_of_one > 1  # shared by the three records, not one set each
    # a part edited in its table: every record using it is found out
    target.execute("UPDATE decision_parts SET body = ? WHERE id = ?",
                   (orjson.dumps(decisions[0]["bundle"]["versions"][:-1]).decode(), "b:" + decisions[0]["bundle"]["revision"]))
    assert verify(open_log(target.location, read_only=True), out=_Out()) == 1
    assert printed()[:-1] == ["seq 1: hash mismatch", "seq 2: hash mismatch", "seq 3: hash mismatch"]
    close(app)


def test_deflate_inflates_back_to_the_text(decider, validator):
    decision = decider.decide(validator.validate(named_case())[0])
    text = canonical(decision)
    stored, parts = deflate(orjson.loads(text))
    assert canonical(inflate(stored, parts)) == text
    assert "versions" not in stored["bundle"] and stored["bundle"]["versions#"] == "b:" + decision["bundle"]["revision"]
    assert deflate(stored) == (stored, {}), "a decision holding references is never deflated again"


class _Out:
    """Collects what a command prints; ``printed()``: the lines of the last one made."""
    text = ""

    def __init__(self):
        _Out.text = ""

    def write(self, text):
        _Out.text += text


def printed() -> list[str]:
    return _Out.text.splitlines()


def _rows(target, sql, params=()):
    if target.kind == "sqlite":
        with sqlite3.connect(target.location) as conn:
            return conn.execute(sql, params).fetchall()
    import psycopg

    with psycopg.connect(target.location, autocommit=True) as conn:
        return conn.execute(sql.replace("?", "%s"), params).fetchall()


# -- retention and archive --

def rfc6962_root(leaves: list[bytes]) -> bytes:
    """The Merkle tree hash of RFC 6962 §2.1 (what a checkpoint signs) over the record hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:split]) + rfc6962_root(leaves[split:])).digest()


def root_of(decision_log, size=None):
    leaves = [bytes.fromhex(leaf) for _, leaf in decision_log.leaves()]
    return rfc6962_root(leaves[:size])


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_archive_and_prune_keep_the_chain_and_old_checkpoints_verifiable(target, decider, tmp_path, capsys):
    app = create_app(decider)
    client = app.test_client()
    ids = [post(client, hte_case(f"A-{i}"))["decision_id"] for i in range(6)]
    decision_log = app.extensions["decision_log"]
    checkpoint_4, checkpoint_6 = root_of(decision_log, 4), root_of(decision_log)
    head = decision_log.head()
    to = tmp_path / "archive-1.jsonl"
    assert cli(["archive", "--database", target.location, "--before", "4", "--to", str(to), "--prune"]) == 0
    out = capsys.readouterr().out
    assert "3 record(s), seq 1–3, archived" in out and "3 record(s) pruned" in out
    assert [r.seq for r in decision_log.records()] == [4, 5, 6]
    assert [seq for seq, _ in decision_log.leaves()] == [1, 2, 3, 4, 5, 6]
    assert (root_of(decision_log, 4), root_of(decision_log)) == (checkpoint_4, checkpoint_6)
    assert decision_log.head() == head and decision_log.get(ids[0]) is None
    lines = to.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and orjson.loads(lines[1])["decision_id"] == ids[0]
    assert cli(["verify", "--database", target.location]) == 0  # the live chain starts from the last leaf
    assert cli(["archive", "--database", target.location, "--verify", str(to)]) == 0
    capsys.readouterr()
    # an archived record edited in the file no longer recomputes to the leaf the log kept
    edited = orjson.loads(lines[2])
    edited["decision"] = edited["decision"].replace('"200000.00"', '"300000.00"')
    assert '"300000.00"' in edited["decision"]
    to.write_text("\n".join([lines[0], lines[1], orjson.dumps(edited).decode(), lines[3]]) + "\n", encoding="utf-8")
    assert verify_archive(to, decision_log) == ["seq 2: hash mismatch"]
    edited["hash"] = record_hash(record_from_dict(edited))  # and rehashed: no longer the leaf kept
    to.write_text("\n".join([lines[0], lines[1], orjson.dumps(edited).decode(), lines[3]]) + "\n", encoding="utf-8")
    problems = verify_archive(to, decision_log)
    assert "seq 2: not the leaf the log keeps for it" in problems
    assert "seq 3: prev_hash does not match the hash of the previous record" in problems
    # the next decision continues the chain; archiving the rest empties the live table, the head stays
    post(client, hte_case("A-7"))
    assert decision_log.head()[0] == 7
    assert archive(decision_log, 100, tmp_path / "archive-2.jsonl", prune=True, out=_Out()) == 0
    assert list(decision_log.records()) == [] and decision_log.head()[0] == 7
    post(client, hte_case("A-8"))
    assert [r.seq for r in decision_log.records()] == [8]
    assert verify(decision_log, out=_Out()) == 0
    assert archive(decision_log, 100, tmp_path / "archive-2.jsonl", out=_Out()) == 1, "never overwritten"
    close(app)


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_a_broken_chain_is_not_archived(target, decider, tmp_path):
    client = create_app(decider).test_client()
    ids = [post(client, hte_case(f"B-{i}"))["decision_id"] for i in range(3)]
    target.execute("UPDATE decision_log SET decision = replace(decision, '\"200000.00\"', '\"1.00\"') "
                   "WHERE decision_id = ?", (ids[1],))
    decision_log = open_log(target.location)
    assert archive(decision_log, 3, tmp_path / "a.jsonl", prune=True, out=_Out()) == 1
    assert "not archived" in printed()[-1] and not (tmp_path / "a.jsonl").exists()
    assert [r.seq for r in decision_log.records()] == [1, 2, 3]
    decision_log.close()


def test_check_chain_starts_where_the_archive_ends(decider, validator, tmp_path):
    decision_log = open_log(tmp_path / "d.sqlite3")
    payload = hte_case()
    records = [decision_log.append(payload, dict(decider.decide(validator.validate(payload)[0]))) for _ in range(3)]
    assert [p for _, p in check_chain(records[1:], (1, records[0].hash))] == [[], []]
    assert [p for _, p in check_chain(records[1:])][0][0] == "seq 2: seq not contiguous (expected 1)"
    decision_log.close()


# -- PostgreSQL: the service's role may only INSERT and SELECT --

def test_the_roles_file_creates_the_tables_the_service_would():
    text = (ROOT / "schemas" / "postgres-roles.sql").read_text(encoding="utf-8")
    for statement in SCHEMAS:
        assert statement + ";" in text


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set: PostgreSQL tests skipped")
def test_the_service_role_cannot_update_or_delete_the_log(decider, tmp_path, monkeypatch):
    import psycopg

    role, schema = f"rac_service_{uuid.uuid4().hex[:8]}", f"rac_roles_{uuid.uuid4().hex[:8]}"
    owner_url = TEST_DATABASE_URL + ("&" if "?" in TEST_DATABASE_URL else "?") + f"options=-csearch_path%3D{schema}"
    service_url = owner_url.replace("://postgres@", f"://{role}@", 1)
    assert service_url != owner_url, "TEST_DATABASE_URL's user is expected to be postgres (as in .ci/run)"
    sql = (ROOT / "schemas" / "postgres-roles.sql").read_text(encoding="utf-8").replace("rac_service", role)
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        with psycopg.connect(owner_url, autocommit=True) as conn:
            conn.execute(sql)
        monkeypatch.delenv("RAC_DECISION_LOG", raising=False)
        monkeypatch.setenv("DATABASE_URL", service_url)
        app = create_app(decider)  # the service, as its role: appends, reads, replays
        client = app.test_client()
        ids = [post(client, hte_case(f"R-{i}"))["decision_id"] for i in range(3)]
        assert client.post(f"/v1/decisions/{ids[0]}/replay").get_json() == {"status": "identical"}
        assert verify(open_log(service_url, read_only=True), out=_Out()) == 0
        close(app)
        with psycopg.connect(service_url, autocommit=True) as conn:
            for statement in ("UPDATE decision_log SET decision = '{}' WHERE seq = 2",
                              "DELETE FROM decision_log WHERE seq = 3",
                              "UPDATE decision_parts SET body = '[]'",
                              "DELETE FROM decision_log_archived",
                              "TRUNCATE decision_log"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
        with psycopg.connect(owner_url, autocommit=True) as conn:  # the trigger: even the owner may not
            for statement in ("UPDATE decision_log SET decision = '{}' WHERE seq = 2",
                              "DELETE FROM decision_log WHERE seq = 3",
                              "TRUNCATE decision_log"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                    conn.execute(statement)
        # archiving as the service's role keeps the leaves; pruning needs the owner
        as_service = open_log(service_url)
        assert archive(as_service, 3, tmp_path / "a.jsonl", out=_Out()) == 0
        with pytest.raises(LogError, match="permission denied"):
            as_service.prune(3)
        as_service.close()
        as_owner = open_log(owner_url)
        assert as_owner.prune(3) == 2
        assert [r.seq for r in as_owner.records()] == [3]
        assert verify(as_owner, out=_Out()) == 0
        as_owner.close()
    finally:
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
