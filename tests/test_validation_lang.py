"""Validation messages and problems follow options.lang (zh by default, as
decisions), marshmallow's own messages included; the paths never change."""
from __future__ import annotations

import json
import re

import pytest

from service.http.app import create_app

from tests.helpers import qz_case

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def client(decider):
    return create_app(decider).test_client()


def _invalid_case(lang: str | None) -> dict:
    """One case with an invalid value of every kind the validator knows."""
    case = qz_case(
        [
            {"id": "e|1", "type": "hte_recognized", "date": "2024-02-30", "was_tech_sme": 1},  # bar, date, bool
            {"id": "e2", "type": "nonsense", "date": "2024-01-01"},  # unknown type
            {"id": "e2", "type": "patent_purchased", "date": "2024-01-01", "cost": 1.5, "extra": 1},  # dup, float, unknown, required
            {"id": "e4", "type": "zone_evaluated", "date": "2024-01-01", "scope": "planet", "rank": "1"},  # enum, integer
            "not an event",
        ],
        attributes={"manufacturing": "yes"},
        incidents=[{"year": 1800, "type": "safety_accident"}],  # range, grade required
        prior_awards=[{"measure": "qz-htz", "amount": "-1", "date": "2023-01-01"}],  # pattern, negative
        zone="qinzhou-hzt", city="qinzou", case_id="X" * 101,  # unknown zone and city, too long
    )
    case["applicant"]["kind"] = None  # null
    case["applicant"]["incidents"].append("not an object")
    case["unexpected"] = True
    if lang is not None:
        case["options"] = {"lang": lang, "explain": "no"}
    return case


def _errors(client, payload, **headers) -> tuple[dict, list[tuple[str, str]]]:
    response = client.post("/v1/decisions", data=json.dumps(payload, ensure_ascii=False),
                           content_type="application/json", headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json(force=True)
    return {"title": body["title"], "detail": body["detail"], "language": response.headers.get("Content-Language")}, \
        [(e["path"], e["message"]) for e in body["errors"]]


def test_messages_differ_by_language_and_paths_do_not(client):
    zh_problem, zh = _errors(client, _invalid_case("zh"))
    en_problem, en = _errors(client, _invalid_case("en"))
    assert [p for p, _ in zh] == [p for p, _ in en]
    assert len(zh) >= 20, zh
    for (path, zh_message), (_, en_message) in zip(zh, en):
        assert zh_message != en_message, path
        assert CJK.search(zh_message), f"{path}: an English message in a zh answer: {zh_message}"
        assert not CJK.search(en_message), f"{path}: {en_message}"
    assert zh_problem == {"title": "案件无效", "detail": f"{len(zh)} 个字段无效", "language": "zh"}
    assert en_problem == {"title": "Invalid case", "detail": f"{len(en)} invalid field(s)", "language": "en"}


def test_the_case_covers_marshmallow_s_own_messages(client):
    _, zh = _errors(client, _invalid_case("zh"))
    _, en = _errors(client, _invalid_case("en"))
    zh, en = dict(zh), dict(en)
    assert (zh["events/2/patent_kind"], en["events/2/patent_kind"]) == ("缺少必填字段", "missing: this field is required")
    assert (zh["applicant/incidents/0/grade"], en["applicant/incidents/0/grade"]) == (
        "此类事件须注明等级（grade）", "a grade is required for this incident type")
    assert (zh["unexpected"], en["unexpected"]) == ("未知字段", "unknown field")
    assert (zh["events/3/rank"], en["events/3/rank"]) == ("须为整数", "not an integer")
    assert (zh["events/3/scope"].split("：")[0], en["events/3/scope"].split(":")[0]) == ("须为以下之一", "must be one of")
    assert (zh["applicant/kind"], en["applicant/kind"]) == ("不得为 null", "must not be null")
    assert (zh["case_id"], en["case_id"]) == ("长度不得超过 100 个字符", "longer than 100 characters")
    assert (zh["applicant/incidents/1"], en["applicant/incidents/1"]) == ("须为 JSON 对象", "must be a JSON object")


def test_without_options_messages_are_in_zh(client):
    problem, errors = _errors(client, _invalid_case(None))
    assert problem["language"] == "zh" and all(CJK.search(m) for _, m in errors)


def test_invalid_options_fall_back_to_zh_or_to_accept_language(client):
    case = _invalid_case("en")
    case["options"]["lang"] = "fr"
    problem, errors = _errors(client, case)
    assert problem["title"] == "案件无效"
    assert dict(errors)["options/lang"] == "须为以下之一：zh, en"
    problem, errors = _errors(client, case, **{"Accept-Language": "en-GB,en;q=0.9"})
    assert problem["title"] == "Invalid case" and problem["language"] == "en"
    assert dict(errors)["options/lang"] == "must be one of: zh, en"


def test_options_lang_wins_over_accept_language(client):
    problem, errors = _errors(client, _invalid_case("zh"), **{"Accept-Language": "en"})
    assert problem["title"] == "案件无效" and all(CJK.search(m) for _, m in errors)


def test_problems_before_the_case_is_read_follow_accept_language(client):
    response = client.post("/v1/decisions", data='{"applicant": ', content_type="application/json")
    assert response.get_json(force=True)["title"] == "JSON 格式错误"
    response = client.post("/v1/decisions", data='{"applicant": ', content_type="application/json",
                           headers={"Accept-Language": "en"})
    body = response.get_json(force=True)
    assert body["title"] == "Malformed JSON" and body["detail"].startswith("the body is not valid UTF-8 JSON")
    response = client.post("/v1/decisions", data="{}", content_type="text/plain", headers={"Accept-Language": "en"})
    assert (response.status_code, response.get_json(force=True)["title"]) == (415, "Unsupported Media Type")


def test_an_unknown_pin_is_titled_in_the_case_s_language(client):
    hte = {"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}
    for lang, title in (("zh", "未知的规则集版本"), ("en", "Unknown ruleset version")):
        response = client.post("/v1/decisions", json=qz_case([hte], options={"lang": lang, "pin": {"qz-htz": "2019-01-01"}}))
        assert response.status_code == 404
        body = response.get_json(force=True)
        assert body["title"] == title and [e["path"] for e in body["errors"]] == ["options/pin/qz-htz"]


def test_each_case_of_a_batch_is_answered_in_its_language(client):
    bad = {"id": "e1", "type": "hte_recognized", "date": "2024-02-30"}
    cases = [qz_case([bad]), qz_case([bad], options={"lang": "zh"})]
    response = client.post("/v1/decisions:batch", json={"cases": cases, "options": {"lang": "en"}})
    assert response.status_code == 200
    first, second = (r["problem"] for r in response.get_json()["results"])
    assert (first["title"], first["errors"]) == ("Invalid case", [{"path": "events/0/date", "message": "not a valid date (YYYY-MM-DD)"}])
    assert (second["title"], second["errors"]) == ("案件无效", [{"path": "events/0/date", "message": "不是有效日期（YYYY-MM-DD）"}])
