"""POST /v1/decisions:batch and ``python -m service batch``: each case answered or failed on its own,
exactly as POST /v1/decisions answers it."""
from __future__ import annotations

import json

import pytest

from service.cli import main
from service.http.app import create_app
from service.http.batch_routes import MAX_BATCH

from tests.helpers import VOLATILE, qz_case

PROBLEM = "application/problem+json"
URL = "/v1/decisions:batch"


@pytest.fixture(scope="module")
def client(decider, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DATABASE_URL", raising=False)
        patch.setenv("RAC_DECISION_LOG", str(tmp_path_factory.mktemp("batch-log") / "decisions.sqlite3"))
        yield create_app(decider).test_client()


def _hte(event_id="e1", date="2024-12-05"):
    return {"id": event_id, "type": "hte_recognized", "date": date, "was_tech_sme": True}


def _platform(event_id, level, date="2024-06-01"):
    return {"id": event_id, "type": "platform_recognized", "date": date, "level": level}


def _same(a: dict, b: dict) -> None:
    assert {k: v for k, v in a.items() if k not in VOLATILE} == {k: v for k, v in b.items() if k not in VOLATILE}


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    return body


def test_mixed_batch_answers_each_case_as_the_single_endpoint_does(client):
    valid = qz_case([_hte(), _platform("p1", "national")], case_id="OK-1")
    invalid = qz_case([{"id": "e1", "type": "gazelle_regional_award", "date": "2024-12-05", "amount": 1.5},
                       {"id": "e2", "type": "nonsense", "date": "2024-12-05"}], case_id="BAD")
    unknown_pin = qz_case([_hte()], options={"pin": {"qz-htz": "1999-01-01"}}, case_id="PIN")
    response = client.post(URL, json={"cases": [valid, invalid, unknown_pin, "not a case", valid]})
    assert response.status_code == 200 and response.mimetype == "application/json"
    results = response.get_json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [(0, 200), (1, 400), (2, 404), (3, 400), (4, 200)]
    assert set(results[0]) == {"index", "status", "decision"}
    assert set(results[1]) == {"index", "status", "problem"}

    single = client.post("/v1/decisions", json=valid).get_json()
    _same(results[0]["decision"], single)
    assert results[0]["decision"]["totals"] == {"CNY": "1200000.00"}
    assert results[0]["decision"]["input_sha256"] == single["input_sha256"], "same canonical hash of the same case"
    assert results[0]["decision"]["decision_id"] != results[4]["decision"]["decision_id"]

    for index, payload, status in ((1, invalid, 400), (2, unknown_pin, 404), (3, "not a case", 400)):
        alone = _problem(client.post("/v1/decisions", json=payload), status)
        assert results[index]["problem"] == alone
    assert sorted(e["path"] for e in results[1]["problem"]["errors"]) == ["events/0/amount", "events/1/type"]
    assert [e["path"] for e in results[2]["problem"]["errors"]] == ["options/pin/qz-htz"]


def test_batch_options_are_defaults_of_each_case(client):
    own = qz_case([_hte(date="2026-01-01")], options={"lang": "zh"})
    plain = qz_case([_hte(date="2026-01-01")])
    results = client.post(URL, json={"cases": [own, plain], "options": {"lang": "en"}}).get_json()["results"]
    assert [r["decision"]["options"]["lang"] for r in results] == ["zh", "en"]
    bad = client.post(URL, json={"cases": [plain], "options": {"lang": "fr"}}).get_json()["results"]
    assert bad[0]["status"] == 400 and [e["path"] for e in bad[0]["problem"]["errors"]] == ["options/lang"]


def test_batch_decisions_are_logged_and_found_by_id(client):
    [result] = client.post(URL, json={"cases": [qz_case([_hte()])]}).get_json()["results"]
    found = client.get(f"/v1/decisions/{result['decision']['decision_id']}")
    assert found.status_code == 200
    assert found.get_json()["decision_id"] == result["decision"]["decision_id"]


def test_at_most_100_cases(client):
    case = qz_case([])
    full = client.post(URL, json={"cases": [case] * MAX_BATCH})
    assert MAX_BATCH == 100
    assert full.status_code == 200 and len(full.get_json()["results"]) == MAX_BATCH
    body = _problem(client.post(URL, json={"cases": [case] * (MAX_BATCH + 1)}), 400)
    assert [e["path"] for e in body["errors"]] == ["cases"]
    assert "at most 100" in body["errors"][0]["message"]


@pytest.mark.parametrize("payload, paths", [
    ([qz_case([])], [""]),
    ({}, ["cases"]),
    ({"cases": []}, ["cases"]),
    ({"cases": {"a": 1}}, ["cases"]),
    ({"cases": [qz_case([])], "extra": 1}, ["extra"]),
    ({"cases": [qz_case([])], "options": "en"}, ["options"]),
])
def test_a_bad_envelope_is_a_400(client, payload, paths):
    body = _problem(client.post(URL, json=payload), 400)
    assert [e["path"] for e in body["errors"]] == paths


def test_malformed_and_non_json_bodies(client):
    _problem(client.post(URL, data='{"cases": [', content_type="application/json"), 400)
    _problem(client.post(URL, data=json.dumps({"cases": [qz_case([])]}), content_type="text/plain"), 415)
    _problem(client.get(URL), 405)


def test_cli_batch_writes_one_decision_or_problem_per_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAC_DECISION_LOG", "off")
    lines = [json.dumps(qz_case([_hte()], case_id="L1")), "", "not json",
             json.dumps(qz_case([{"id": "x", "type": "nonsense", "date": "2024-01-01"}], case_id="L4")),
             json.dumps(qz_case([_platform("p1", "regional")], case_id="L5"))]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["batch", str(path)]) == 1, "a failed line makes the exit status 1"
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 4, "one line per non-blank input line"
    assert out[0]["case_id"] == "L1" and out[0]["totals"] == {"CNY": "200000.00"}
    assert out[1]["status"] == 400 and out[1]["type"].endswith("/malformed-json") and "line 3" in out[1]["detail"]
    assert out[2]["status"] == 400 and [e["path"] for e in out[2]["errors"]] == ["events/0/type"]
    assert out[3]["case_id"] == "L5" and out[3]["totals"] == {"CNY": "200000.00"}

    path.write_text(lines[0] + "\n", encoding="utf-8")
    assert main(["batch", str(path)]) == 0
