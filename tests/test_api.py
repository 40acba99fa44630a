"""The HTTP contract (shared/docs/contract.md) through the Flask test client."""
from __future__ import annotations

import hashlib
import json
import re

import pytest

from service.http.app import create_app

from tests.helpers import QZ_CURRENT, QZ_FILE, TWO_DECIMALS, qz_case

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def client(decider):
    return create_app(decider).test_client()


@pytest.fixture(scope="module")
def small_client(decider):
    return create_app(decider, max_body=1000).test_client()


def _hte(date="2024-12-05", **extra):
    return dict({"id": "e1", "type": "hte_recognized", "date": date, "was_tech_sme": True}, **extra)


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    for key in ("type", "title", "detail"):
        assert isinstance(body.get(key), str) and body[key], key
    return body


def test_decision_has_the_contract_fields(client):
    payload = qz_case([_hte(), {"id": "p1", "type": "platform_recognized", "date": "2024-06-01", "level": "national"}],
                      case_id="QZ-2024-000123")
    response = client.post("/v1/decisions", json=payload)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    for key in ("case_id", "decision_id", "evaluated_at", "engine", "rulesets", "outcomes", "denials", "totals"):
        assert key in body, key
    assert body["case_id"] == "QZ-2024-000123"
    assert re.fullmatch(r"[0-9a-f-]{36}", body["decision_id"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", body["evaluated_at"])
    assert body["engine"]["name"] and body["engine"]["version"]
    # the Qinzhou HTZ is an HTZ (schemas/zones.yaml), so gx-htz judges the case too
    assert sorted(r["policy"] for r in body["rulesets"]) == ["gx-htz", "qz-htz"]
    [ruleset] = [r for r in body["rulesets"] if r["policy"] == "qz-htz"]
    assert ruleset["policy"] == "qz-htz" and ruleset["version"] == "2021-12-30"
    assert ruleset["status"] == "in_force"
    assert ruleset["document"] == "钦政办规〔2021〕12号"
    assert ruleset["sha256"] == hashlib.sha256(QZ_CURRENT.read_bytes()).hexdigest()
    measures = sorted((o["measure"], o["event"], o["amount"]) for o in body["outcomes"])
    assert measures == [("qz-htz/2.1", "e1", "200000.00"), ("qz-htz/4", "p1", "1000000.00")]
    for outcome in body["outcomes"]:
        for key in ("measure", "article", "kind", "beneficiary", "event", "currency", "handled_by", "citation", "notes"):
            assert key in outcome, key
        assert TWO_DECIMALS.match(outcome["amount"])
    assert [d for d in body["denials"] if d["policy"] == "qz-htz"] == []
    assert body["totals"] == {"CNY": "1200000.00"}


def test_two_decisions_have_different_ids(client):
    payload = qz_case([_hte()])
    first = client.post("/v1/decisions", json=payload).get_json()
    second = client.post("/v1/decisions", json=payload).get_json()
    assert first["decision_id"] != second["decision_id"]
    assert first["outcomes"] == second["outcomes"]


def test_invalid_case_lists_every_invalid_field_at_once(client):
    payload = qz_case([
        {"id": "e1", "type": "gazelle_regional_award", "date": "2024-12-05", "amount": 1.5},
        {"id": "e2", "type": "nonsense", "date": "2024-12-05"},
        {"id": "e3", "type": "hte_recognized", "date": "2024-02-30"},
        {"id": "e4", "type": "patent_purchased", "date": "2024-01-01", "patent_kind": "invention"},
    ], attributes={"is_unicorn": True})
    body = _problem(client.post("/v1/decisions", json=payload), 400)
    paths = sorted(e["path"] for e in body["errors"])
    assert paths == sorted(["events/0/amount", "events/1/type", "events/2/date", "events/3/cost",
                            "applicant/attributes/is_unicorn"])
    assert all(e["message"] for e in body["errors"])
    unknown_type = next(e for e in body["errors"] if e["path"] == "events/1/type")
    assert "hte_recognized" in unknown_type["message"], "an unknown type lists the known ones"


def test_an_event_of_no_known_type_still_has_its_common_fields_checked(client):
    payload = qz_case([
        {"id": 1},  # no type, an id that is not a string, no date
        {"id": "e2", "type": "nonsense", "date": "2024-02-30", "whatever": True},
    ])
    body = _problem(client.post("/v1/decisions", json=payload), 400)
    paths = sorted(e["path"] for e in body["errors"])
    assert paths == ["events/0/date", "events/0/id", "events/0/type", "events/1/date", "events/1/type"]
    missing_type = next(e for e in body["errors"] if e["path"] == "events/0/type")
    assert missing_type["message"].startswith("缺少事件类型"), "messages are in zh unless options.lang says en"


def test_an_event_type_that_is_not_a_string_is_a_400_not_a_crash(client):
    payload = qz_case([
        {"id": "e1", "type": {"nested": "object"}, "date": "2024-01-01"},
        {"id": "e2", "type": ["a", "list"], "date": "2024-01-01"},
        {"id": "e3", "type": 7, "date": "2024-01-01"},
    ])
    body = _problem(client.post("/v1/decisions", json=payload), 400)
    assert sorted(e["path"] for e in body["errors"]) == ["events/0/type", "events/1/type", "events/2/type"]
    assert all(e["message"].startswith("事件类型须为字符串") for e in body["errors"])


def test_float_money_is_a_400_never_rounded(client):
    payload = qz_case([], prior_awards=[{"measure": "qz-htz/5", "amount": 100.0, "date": "2023-01-01"}])
    data = json.dumps(payload)
    assert '"amount": 100.0' in data
    body = _problem(client.post("/v1/decisions", data=data, content_type="application/json"), 400)
    assert [e["path"] for e in body["errors"]] == ["prior_awards/0/amount"]


def test_malformed_json_is_a_400(client):
    _problem(client.post("/v1/decisions", data='{"applicant": ', content_type="application/json"), 400)


def test_non_object_json_is_a_400(client):
    _problem(client.post("/v1/decisions", data="[1, 2]", content_type="application/json"), 400)


def test_body_over_the_limit_is_a_413(small_client):
    payload = qz_case([_hte()], case_id="X" * 90)
    payload["applicant"]["name"] = "钦州" * 600
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    assert len(data) > 1000
    _problem(small_client.post("/v1/decisions", data=data, content_type="application/json"), 413)


def test_body_under_the_limit_passes_the_small_app(small_client):
    data = json.dumps(qz_case([_hte()])).encode("utf-8")
    assert len(data) < 1000
    assert small_client.post("/v1/decisions", data=data, content_type="application/json").status_code == 200


def test_text_plain_is_a_415(client):
    _problem(client.post("/v1/decisions", data=json.dumps(qz_case([_hte()])), content_type="text/plain"), 415)


def test_unknown_policy_in_pin_is_a_404(client):
    body = _problem(client.post("/v1/decisions", json=qz_case([_hte()], options={"pin": {"xx-none": "2021-12-30"}})), 404)
    assert [e["path"] for e in body.get("errors", [])] == ["options/pin/xx-none"]


def test_unknown_version_in_pin_is_a_404(client):
    body = _problem(client.post("/v1/decisions", json=qz_case([_hte()], options={"pin": {"qz-htz": "2019-01-01"}})), 404)
    assert [e["path"] for e in body.get("errors", [])] == ["options/pin/qz-htz"]
    assert "2021-12-30" in body["errors"][0]["message"], "the known versions are listed"


def test_pin_of_the_known_version_replays_it(client):
    body = client.post("/v1/decisions", json=qz_case([_hte("2026-01-01")], options={"pin": {"qz-htz": "2021-12-30"}})).get_json()
    assert body["options"]["pin"] == {"qz-htz": "2021-12-30"}
    assert [(d["measure"], d["reason"]) for d in body["denials"]] == [("qz-htz/2.1", "outside_window")]


def test_put_decisions_is_a_405(client):  # GET lists logged decisions (issue 12); PUT is still no method of it
    response = client.put("/v1/decisions", json={})
    _problem(response, 405)
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_unknown_route_is_a_404(client):
    _problem(client.get("/v1/nothing-here"), 404)


def test_rulesets_lists_the_qinzhou_version(client):
    response = client.get("/v1/rulesets")
    assert response.status_code == 200
    policies = {p["policy"]: p for p in response.get_json()["policies"]}
    [version] = [v for v in policies["qz-htz"]["versions"] if v["version"] == "2021-12-30"]
    assert version["status"] == "in_force"
    assert version["document"] == "钦政办规〔2021〕12号"
    assert version["effective"] == {"from": "2021-12-30", "until": "2025-12-31"}
    assert version["sha256"] == hashlib.sha256(QZ_CURRENT.read_bytes()).hexdigest()
    assert version["measures"] == 12


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["engine"]["name"]
    assert body["rulesets"] >= 1


def _denial_detail(client, lang):
    payload = qz_case([_hte()], attributes={"fits_industrial_policy": False}, options={"lang": lang})
    body = client.post("/v1/decisions", json=payload).get_json()
    [denial] = body["denials"]
    assert (denial["measure"], denial["reason"], denial["condition"]) == ("qz-htz/2.1", "not_eligible", "fits_industrial_policy")
    return denial["detail"], body


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_lang_changes_the_denial_detail(client):
    zh, zh_body = _denial_detail(client, "zh")
    en, en_body = _denial_detail(client, "en")
    assert zh != en
    assert _has_han(zh) and "产业政策" in zh
    assert "industrial policy" in en and not _has_han(en.replace("qz-htz", ""))
    assert zh_body["options"]["lang"] == "zh" and en_body["options"]["lang"] == "en"


def test_lang_defaults_to_zh(client):
    body = client.post("/v1/decisions", json=qz_case([_hte("2026-01-01")])).get_json()
    assert body["options"]["lang"] == "zh"
    assert _has_han(body["denials"][0]["detail"])


def test_lang_en_translates_the_outcome_notes(client):
    zh = client.post("/v1/decisions", json=qz_case([_hte()], options={"lang": "zh"})).get_json()["outcomes"][0]["notes"]
    en = client.post("/v1/decisions", json=qz_case([_hte()], options={"lang": "en"})).get_json()["outcomes"][0]["notes"]
    assert len(zh) == len(en) >= 2
    assert all(a != b for a, b in zip(zh, en))
    assert any("prevails" in note for note in en)
    assert any("为准" in note for note in zh)


def test_include_drafts_is_accepted(client):
    plain = client.post("/v1/decisions", json=qz_case([_hte()])).get_json()
    response = client.post("/v1/decisions", json=qz_case([_hte()], options={"include_drafts": True}))
    assert response.status_code == 200
    body = response.get_json()
    assert body["options"]["include_drafts"] is True
    assert body["totals"] == plain["totals"] == {"CNY": "200000.00"}
    assert body["what_if_totals"] == {}


def test_include_drafts_must_be_a_bool(client):
    body = _problem(client.post("/v1/decisions", json=qz_case([_hte()], options={"include_drafts": "yes"})), 400)
    assert [e["path"] for e in body["errors"]] == ["options/include_drafts"]


def test_an_applicant_outside_qinzhou_is_told_the_document_does_not_apply(client):
    payload = qz_case([_hte(), {"id": "p1", "type": "platform_recognized", "date": "2024-06-01", "level": "national"}],
                      zone="liuzhou-national-htz", city="liuzhou")
    response = client.post("/v1/decisions", json=payload)
    assert response.status_code == 200
    body = response.get_json()
    reasons = {n["policy"]: n["reason"] for n in body["not_applicable"]}
    assert "qz-htz" in reasons and "qinzhou-htz" in reasons["qz-htz"]
    assert all(o["policy"] != "qz-htz" for o in body["outcomes"] + body["denials"])
    assert all(r["policy"] != "qz-htz" for r in body["rulesets"])


def test_a_qinzhou_applicant_is_not_listed_as_not_applicable(client):
    body = client.post("/v1/decisions", json=qz_case([_hte()])).get_json()
    assert all(n["policy"] != "qz-htz" for n in body["not_applicable"])


def test_a_bug_is_a_500_problem_with_an_id_and_nothing_from_the_stack(decider, monkeypatch):
    app = create_app(decider)

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail /srv/path.py line 12")

    monkeypatch.setattr(decider, "decide", broken)
    response = app.test_client().post("/v1/decisions", json=qz_case([{"id": "e1", "type": "hte_recognized",
                                                                       "date": "2024-12-05", "was_tech_sme": True}]))
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert re.fullmatch(r"[0-9a-f-]{36}", body["decision_id"])
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)


def test_decision_ids_are_distinct_version_4_uuids():
    import uuid

    from service.decide import decision_id

    ids = [decision_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
