"""Property: whatever a request holds, the answer is a decision or a problem —
never a 5xx. A valid case has one value somewhere in it replaced by arbitrary JSON."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.http.app import create_app

from tests.helpers import qz_case

PROBLEM = "application/problem+json"

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(["2024-01-01", "2024-02-30", "100.00", "-0.01", "qz-htz/5", "hte_recognized", "e1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _base() -> dict:
    return qz_case(
        [{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True},
         {"id": "e2", "type": "patent_purchased", "date": "2023-02-01", "cost": "60000.00",
          "patent_kind": "invention", "core_of_successful_hte_application": True},
         {"id": "e3", "type": "platform_recognized", "date": "2024-03-01", "level": "national",
          "platform_type": "key_laboratory", "platform_id": "P-1"}],
        incidents=[{"year": 2023, "type": "safety_accident", "grade": "general"}],
        prior_awards=[{"measure": "qz-htz/5", "amount": "10000.00", "date": "2022-01-01"}],
        options={"lang": "en", "include_drafts": True},
    )


def _paths(node, prefix=()):
    """Every place in a JSON document a value sits at."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


PATHS = [p for p in _paths(_base()) if p]


def _replace(document, path, value):
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return document


@pytest.fixture(scope="module")
def client(decider):
    return create_app(decider).test_client()


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), value=JSON_VALUES)
def test_a_value_replaced_anywhere_gives_a_decision_or_a_problem(client, path, value):
    payload = _replace(_base(), path, value)
    response = client.post("/v1/decisions", data=json.dumps(payload), content_type="application/json")
    assert response.status_code in (200, 400, 404), response.get_data(as_text=True)[:500]
    if response.status_code != 200:
        assert response.mimetype == PROBLEM
        body = response.get_json(force=True)
        assert body["status"] == response.status_code and body["detail"]


def test_a_field_named_by_a_superscript_digit_is_reported_not_a_500(validator):
    # '³'.isdigit() is True and int('³') raises: sorting the error paths crashed with a 500
    payload = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True, "³": 1,
                        "²": {}}])
    case, errors = validator.validate(payload)
    assert case is None or errors
    assert any("³" in error["path"] for error in errors), errors
