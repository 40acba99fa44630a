"""Retired event types (schemas/vocabulary.d/retired/): refused in a new case with the type that
replaces them, accepted where an old decision must still be read as it was — on replay, and in a
case that pins a revision whose rules read the type."""
from __future__ import annotations

import pytest

LIUZHOU_ZONE = {"kind": "zone", "zone": "hexi-liuzhou-htz", "city": "liuzhou"}
OLD_APPROVAL = {"id": "a", "type": "lz_zone_approved", "date": "2023-03-01", "level": "regional"}


def _case(options=None):
    case = {"applicant": dict(LIUZHOU_ZONE), "events": [dict(OLD_APPROVAL)]}
    if options is not None:
        case["options"] = options
    return case


@pytest.mark.parametrize("lang,text", [("en", "is retired; use 'zone_approved'"), ("zh", "已停用，请改用“zone_approved”")])
def test_a_new_case_is_refused_naming_the_replacement(validator, lang, text):
    case, errors = validator.validate(_case({"lang": lang}))
    assert case is None
    assert [e["path"] for e in errors] == ["events/0/type"]
    assert text in errors[0]["message"]


def test_the_list_of_known_types_offers_no_retired_one(validator):
    _, errors = validator.validate({"applicant": dict(LIUZHOU_ZONE), "events": [{"id": "x", "type": "nonsense", "date": "2023-01-01"}],
                                    "options": {"lang": "en"}})
    message = errors[0]["message"]
    assert "zone_approved" in message and "lz_zone_approved" not in message


def test_accepted_on_replay(validator):
    case, errors = validator.validate(_case(), replaying=True)
    assert errors == [] and case["events"][0]["type"] == "lz_zone_approved"


def test_accepted_with_a_pin_of_the_revision_that_reads_it(validator, decider):
    case, errors = validator.validate(_case({"pin": {"lz-htz": "2021-12-29#r1"}}))
    assert errors == []
    decision = decider.decide(case)
    assert [(r["policy"], r["revision"]) for r in decision["rulesets"] if r["policy"] == "lz-htz"] == [("lz-htz", 1)]


@pytest.mark.parametrize("pin", [{"qz-htz": "2021-12-30#r1"}, {"lz-htz": "2021-12-29#r2"}, {"lz-htz": "2021-12-29"}])
def test_refused_with_a_pin_of_a_revision_that_does_not_read_it(validator, pin):
    case, errors = validator.validate(_case({"pin": pin, "lang": "en"}))
    assert case is None and [e["path"] for e in errors] == ["events/0/type"], pin
