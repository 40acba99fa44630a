"""Finding logged decisions (issue 12 §2): the side index written in the append's
transaction, GET /v1/decisions with keyset paging and its filters, ?include=input
on GET /v1/decisions/{id}, and the backfill of a log written before the index.
On SQLite, and on PostgreSQL when TEST_DATABASE_URL is set (see test_log)."""
from __future__ import annotations

import hashlib
import json

import orjson
import pytest

from service.http.app import create_app
from service.log import from_env
from service.log.search import Query, backfill, build_sql, main as search_cli, parse_query, search, SearchError

from tests.helpers import qz_case
from tests.test_log import BACKENDS, close_log, target  # noqa: F401  (target: the fixture)

GRANTED = "qz-htz/2.1"


def _case(case_id: str, tech_sme: bool = True):
    return qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": tech_sme}],
                   case_id=case_id)


def _fill(decision_log, decider, validator, count: int) -> list[dict]:
    """``count`` decisions of cases C-0, C-1, C-2 by turns; every third one denied (not a tech SME)."""
    decisions = []
    for i in range(count):
        payload = _case(f"C-{i % 3}", tech_sme=i % 3 != 2)
        decision = decider.decide(validator.validate(payload)[0])
        decision_log.append(payload, decision)
        decisions.append(decision)
    return decisions


def _all_pages(decision_log, **filters) -> list[dict]:
    seen, cursor = [], None
    while True:
        args = dict(filters, limit="4", **({"cursor": cursor} if cursor else {}))
        page = search(decision_log, parse_query(args))
        seen += page["decisions"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_keyset_pages_cover_every_record_once_newest_first(target, decider, validator):
    decision_log = from_env()
    decisions = _fill(decision_log, decider, validator, 11)
    listed = _all_pages(decision_log)
    assert [r["seq"] for r in listed] == list(range(11, 0, -1))
    assert [r["decision_id"] for r in listed] == [d["decision_id"] for d in reversed(decisions)]
    first = listed[-1]
    assert first["case_id"] == "C-0" and first["granted"] == [GRANTED] and first["totals"] == {"CNY": "200000.00"}
    assert listed[-3]["granted"] == [] and listed[-3]["totals"] == {}
    decision_log.close()


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_filters_by_case_measure_outcome_and_time(target, decider, validator):
    decision_log = from_env()
    _fill(decision_log, decider, validator, 9)
    assert [r["seq"] for r in _all_pages(decision_log, case_id="C-1")] == [8, 5, 2]
    assert [r["seq"] for r in _all_pages(decision_log, measure=GRANTED)] == [8, 7, 5, 4, 2, 1]
    assert [r["seq"] for r in _all_pages(decision_log, measure=GRANTED, outcome="denied")] == [9, 6, 3]
    assert [r["seq"] for r in _all_pages(decision_log, measure=GRANTED, case_id="C-2")] == []
    assert _all_pages(decision_log, measure="qz-htz/2.2") == []
    created = [r["created_at"] for r in _all_pages(decision_log)]  # newest first
    day = created[0][:10]
    assert len(_all_pages(decision_log, **{"from": day, "to": day})) == 9
    assert _all_pages(decision_log, to="2000-01-01") == []
    assert [r["seq"] for r in _all_pages(decision_log, **{"from": created[2]})] == [9, 8, 7]  # a datetime: inclusive
    assert [r["seq"] for r in _all_pages(decision_log, to=created[7])] == [2, 1]
    assert [r["seq"] for r in _all_pages(decision_log, measure=GRANTED, **{"from": created[4], "to": created[1]})] == [8, 7, 5]
    assert [r["seq"] for r in _all_pages(decision_log, case_id="C-2", **{"from": created[4]})] == [9, 6]
    assert _all_pages(decision_log, **{"from": "2999-01-01"}) == []
    decision_log.close()


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_backfill_indexes_a_log_written_before_the_index(target, decider, validator):
    decision_log = from_env()
    _fill(decision_log, decider, validator, 5)
    decision_log.close()
    for table in ("decision_measures", "decision_index", "decision_index_meta"):  # as a log of before issue 12
        target.execute(f"DROP TABLE {table}")
    decision_log = from_env()
    assert search(decision_log, Query())["index"] == {"complete": False, "unindexed_below": 6}
    _fill(decision_log, decider, validator, 1)  # the first append after the upgrade creates the index
    page = search(decision_log, Query())
    assert [r["seq"] for r in page["decisions"]] == [6]
    assert page["index"] == {"complete": False, "unindexed_below": 6}
    assert backfill(decision_log, batch=2) == 5
    page = search(decision_log, Query())
    assert [r["seq"] for r in page["decisions"]] == [6, 5, 4, 3, 2, 1] and page["index"]["complete"]
    assert backfill(decision_log) == 0  # idempotent
    decision_log.close()
    assert search_cli(["backfill", "--database", target.location]) == 0


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_http_list_and_record_with_input(target, decider):
    app = create_app(decider)
    client = app.test_client()
    posted = [client.post("/v1/decisions", json=_case(f"H-{i}")).get_json() for i in range(3)]
    listed = client.get("/v1/decisions?case_id=H-1").get_json()
    assert [r["decision_id"] for r in listed["decisions"]] == [posted[1]["decision_id"]]
    page = client.get("/v1/decisions?limit=2").get_json()
    assert len(page["decisions"]) == 2 and page["next_cursor"] == "2"
    rest = client.get(f"/v1/decisions?limit=2&cursor={page['next_cursor']}").get_json()
    assert [r["seq"] for r in rest["decisions"]] == [1] and rest["next_cursor"] is None

    decision_id = posted[0]["decision_id"]
    plain = client.get(f"/v1/decisions/{decision_id}")
    record = app.extensions["decision_log"].get(decision_id)
    assert plain.get_data(as_text=True) == record.decision  # the old answer, byte for byte
    full = client.get(f"/v1/decisions/{decision_id}?include=input").get_json()
    assert full["decision"] == posted[0] and full["input"] == _case("H-0")
    assert full["input_sha256"] == hashlib.sha256(orjson.dumps(full["input"], option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert full["input_sha256"] == posted[0]["input_sha256"] and full["input_sha256_matches"] is True
    assert (full["seq"], full["hash"]) == (record.seq, record.hash)
    assert client.get(f"/v1/decisions/{decision_id}?include=secrets").status_code == 400
    close_log(app)


def test_every_bad_parameter_is_reported_at_once():
    with pytest.raises(SearchError) as caught:
        parse_query({"from": "yesterday", "to": "2026-13-01", "limit": "0", "cursor": "-1", "outcome": "denied"})
    assert sorted(e["path"] for e in caught.value.errors) == ["cursor", "from", "limit", "outcome", "to"]
    with pytest.raises(SearchError):
        parse_query({"limit": "501"})
    with pytest.raises(SearchError) as caught:
        parse_query({"cursor": str(2**63), "case_id": "a\x00b", "measure": "m" * 101})
    assert sorted(e["path"] for e in caught.value.errors) == ["case_id", "cursor", "measure"]
    assert parse_query({"cursor": str(2**63 - 1), "case_id": "钦州-7"}).cursor == 2**63 - 1
    with pytest.raises(SearchError):
        parse_query({"measure": "m", "outcome": "maybe"})


def test_http_bad_query_is_a_400_listing_each_error(decider):
    client = create_app(decider).test_client()
    response = client.get("/v1/decisions?limit=x&from=nope")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert sorted(e["path"] for e in response.get_json()["errors"]) == ["from", "limit"]
    assert client.get("/v1/decisions?case_id=%00&cursor=99999999999999999999").status_code == 400


def test_one_statement_for_both_databases():
    sql, params = build_sql(Query(case_id="C", measure="m", created_from="a", created_before="b", cursor=9, limit=3))
    assert "%s" not in sql and sql.count("?") == len(params) == 7
    assert sql.endswith("ORDER BY m.seq DESC LIMIT ?") and params[-1] == 4  # one more than asked: is there a next page
    sql, _ = build_sql(Query())
    assert "decision_measures" not in sql and sql.endswith("ORDER BY i.seq DESC LIMIT ?")


def test_an_empty_log_lists_nothing_and_is_complete(decider, tmp_path, monkeypatch):
    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "none.sqlite3"))
    body = create_app(decider).test_client().get("/v1/decisions").get_json()
    assert body == {"decisions": [], "next_cursor": None, "index": {"complete": True, "unindexed_below": 1}}


def test_log_off_is_a_501(decider, monkeypatch):
    monkeypatch.setenv("RAC_DECISION_LOG", "off")
    assert create_app(decider).test_client().get("/v1/decisions").status_code == 501


def test_listed_fields_are_json(decider, validator, tmp_path, monkeypatch):
    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "x.sqlite3"))
    decision_log = from_env()
    _fill(decision_log, decider, validator, 1)
    [row] = search(decision_log, Query())["decisions"]
    assert json.loads(json.dumps(row)) == row and set(row) == {"seq", "decision_id", "case_id", "created_at", "granted", "totals"}
    decision_log.close()


def test_answers_match_their_openapi_schemas(decider, validator, tmp_path, monkeypatch):
    from jsonschema import Draft202012Validator

    from service.http.openapi import build_document

    doc = build_document(validator)
    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "doc.sqlite3"))
    app = create_app(decider)
    client = app.test_client()
    decision = client.post("/v1/decisions", json=_case("DOC-1")).get_json()

    def errors(name, instance):
        schema = dict(doc["components"]["schemas"][name], components=doc["components"])
        return list(Draft202012Validator(schema).iter_errors(instance))

    assert errors("DecisionList", client.get("/v1/decisions").get_json()) == []
    assert errors("DecisionRecord", client.get(f"/v1/decisions/{decision['decision_id']}?include=input").get_json()) == []
    assert errors("DecisionList", {"decisions": [{"seq": "1"}], "next_cursor": None, "index": {}}) != []
    operations = doc["paths"]["/v1/decisions"]
    assert operations["get"]["operationId"] == "listDecisions" and "post" in operations
    assert [p["name"] for p in doc["paths"]["/v1/decisions/{decision_id}"]["get"]["parameters"]] == ["decision_id", "include"]
    close_log(app)
