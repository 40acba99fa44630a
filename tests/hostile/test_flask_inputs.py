"""Every hostile input of issue 10 answered 4xx by the Flask app, as a bounded problem."""
from __future__ import annotations

import json
import time

import pytest

from service.validate import limits
from tests.hostile.figures import record
from tests.hostile.inputs import INPUTS, JSON, case, dumps, with_amount

MAX_ANSWER = 64_000  # bytes: the largest problem an input may cause


def post(client, body: bytes, content_type: str = JSON):
    started = time.perf_counter()
    answer = client.post("/v1/decisions", data=body, content_type=content_type)
    return answer, time.perf_counter() - started


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def assert_bounded_problem(answer, status):
    assert answer.status_code == status, answer.get_data(as_text=True)[:500]
    assert answer.mimetype == "application/problem+json"
    assert len(answer.get_data()) < MAX_ANSWER
    problem = answer.get_json()
    assert problem["status"] == status
    errors = problem.get("errors", [])
    assert len(errors) <= limits.MAX_ERRORS
    for error in errors:
        assert all(len(part) <= limits.MAX_ECHO for part in error["path"].split("/")), error["path"]
    return problem


def test_a_valid_case_decides(hostile_client):
    answer, _ = post(hostile_client, dumps(case()))
    assert answer.status_code == 200, answer.get_json()


@pytest.mark.parametrize("name, body, content_type, status", INPUTS, ids=[i[0] for i in INPUTS])
def test_each_hostile_input_is_a_bounded_4xx(hostile_client, name, body, content_type, status):
    answer, seconds = post(hostile_client, body, content_type)
    record("flask", name, seconds, f"{len(body):,} B in, {len(answer.get_data()):,} B out")
    assert_bounded_problem(answer, status)


def first_error(hostile_client, body: bytes) -> dict:
    answer, _ = post(hostile_client, body)
    return assert_bounded_problem(answer, 400)["errors"][0]


def test_the_errors_name_the_path_and_the_limit(hostile_client):
    from tests.hostile import inputs

    assert first_error(hostile_client, inputs.duplicate_keys()) == {"path": "case_id", "message": "键“case_id”重复"}
    assert first_error(hostile_client, inputs.lone_surrogate())["path"] == "case_id"
    deep = first_error(hostile_client, inputs.nested(40))
    assert deep["path"].startswith("applicant/attributes/x/0/0") and "json_depth" in deep["message"]
    assert "json_integer" in first_error(hostile_client, inputs.big_integer(str(2**64)))["message"]
    assert first_error(hostile_client, inputs.empty_events(100_000))["path"] == "events"
    money = first_error(hostile_client, with_amount("2" + "0" * 25))
    assert money["path"] == "prior_awards/0/amount" and "money_digits" in money["message"]


def test_nan_is_named(hostile_client):
    answer, _ = post(hostile_client, with_amount("@").replace(b'"@"', b"NaN"))
    assert assert_bounded_problem(answer, 400)["errors"] == [{"path": "prior_awards/0/amount", "message": "JSON 中不允许 NaN"}]


def test_the_largest_amount_decides_and_one_digit_more_does_not(hostile_client):
    largest = "9" * limits.MONEY_INTEGER_DIGITS + ".99"
    assert post(hostile_client, with_amount(largest))[0].status_code == 200
    assert post(hostile_client, with_amount(int("9" * limits.MONEY_INTEGER_DIGITS)))[0].status_code == 200
    assert post(hostile_client, with_amount("1" + "0" * limits.MONEY_INTEGER_DIGITS))[0].status_code == 400
    assert post(hostile_client, with_amount(10**limits.MONEY_INTEGER_DIGITS))[0].status_code == 400
    assert post(hostile_client, with_amount("0000000000000000001.00"))[0].status_code == 200  # digits of value count


def test_utf8_charset_is_accepted(hostile_client):
    for content_type in ("application/json; charset=utf-8", "application/json; charset=UTF8"):
        assert post(hostile_client, dumps(case()), content_type)[0].status_code == 200


def test_many_errors_are_capped_with_the_count_of_the_rest(hostile_client):
    events = [{"type": f"nope-{i}"} for i in range(400)]  # each: unknown type, no id, no date
    answer, _ = post(hostile_client, dumps(case(events=events)))
    problem = assert_bounded_problem(answer, 400)
    assert len(problem["errors"]) == limits.MAX_ERRORS
    assert problem["errors_omitted"] == 3 * 400 - limits.MAX_ERRORS
    known_lists = [e for e in problem["errors"] if "hte_recognized" in e["message"]]
    assert [e["path"] for e in known_lists] == ["events/0/type"]  # the known types named once


def test_a_long_unknown_key_is_echoed_cut(hostile_client):
    from tests.hostile.inputs import huge_key_event

    answer, _ = post(hostile_client, huge_key_event())
    problem = assert_bounded_problem(answer, 400)
    paths = [e["path"] for e in problem["errors"]]
    assert "events/0/" + "k" * (limits.MAX_ECHO - 1) + "…" in paths
    assert all(len(text) <= 1_000 for text in strings(problem))
