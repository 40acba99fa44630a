"""A measure a condition on what the applicant is rules out (its kind, zone, city, zone level or
type) is said once, in ``inapplicable``, with the events it was judged on — not as a denial per
event for every condition it fails (issue 9: the denials of a 5-year ranking history were mostly
measures of the other zone level)."""
from __future__ import annotations

import random

from service.evaluate.compile import standing_conditions

REGIONAL = {"kind": "zone", "zone": "wuzhou-htz", "city": "wuzhou", "zone_level": "regional", "zone_type": "htz"}
NATIONAL = {"kind": "zone", "zone": "nanning-htz", "city": "nanning", "zone_level": "national", "zone_type": "htz"}
NATIONAL_ONLY = ("gx-htz/23.1", "gx-htz/23.2", "gx-htz/23.4")
REGIONAL_ONLY = ("gx-htz/23.3", "gx-htz/23.5", "gx-htz/23.6-bottom2")


def _rankings(scope: str, years, rank: int = 5) -> list[dict]:
    return [{"id": f"r{year % 100}", "type": "zone_evaluated", "date": f"{year}-12-31", "scope": scope, "rank": rank,
             "list_size": 20} for year in years]


def _decide(decider, validator, applicant: dict, events: list[dict], **options) -> dict:
    case, errors = validator.validate({"applicant": applicant, "events": events, "options": options})
    assert errors == []
    return decider.decide(case)


def test_a_regional_zones_five_rankings_say_each_national_measure_once(decider, validator):
    decision = _decide(decider, validator, REGIONAL, _rankings("regional", range(2021, 2026)), lang="en")
    assert [d for d in decision["denials"] if d["measure"] in NATIONAL_ONLY] == []
    assert decision["inapplicable"] == [
        {"measure": measure, "policy": "gx-htz", "article": "（二十三）", "condition": "national_zone",
         "detail": f"{measure} does not apply to this applicant: the applicant must be a national high-tech zone.",
         "citation": citation, "events": ["r21", "r22", "r23", "r24", "r25"], "what_if": False}
        for measure, citation in (
            ("gx-htz/23.1", "对首次进入全国综合排名前 35 名的国家高新区给予 1000 万元经费支持"),
            ("gx-htz/23.2", "对年度全国综合排名提升 10 位以上且排名在前 60 名的国家高新区给予 800 万元经费支持"),
            ("gx-htz/23.4", "对年度全国综合排名下降 5 位以上的国家高新区，进行约谈"))]
    # the measures for regional zones are still judged, and denied per event
    assert {d["measure"] for d in decision["denials"]} == set(REGIONAL_ONLY)


def test_the_sentence_is_in_the_requested_language(decider, validator):
    [entry, *_] = _decide(decider, validator, REGIONAL, _rankings("regional", [2022]), lang="zh")["inapplicable"]
    assert entry["detail"] == "gx-htz/23.1不适用于本申请人：申请人须为国家高新区。"


def test_the_order_of_the_events_does_not_change_the_entries(decider, validator):
    events = _rankings("regional", range(2021, 2026))
    expected = _decide(decider, validator, REGIONAL, events)["inapplicable"]
    shuffled = list(events)
    random.Random(9).shuffle(shuffled)
    assert shuffled != events
    assert _decide(decider, validator, REGIONAL, shuffled)["inapplicable"] == expected


def test_a_missing_previous_year_says_nothing_of_a_measure_that_does_not_apply(decider, validator):
    # one national ranking: 23.3 (regional zones, three years running) would have said missing_data
    decision = _decide(decider, validator, NATIONAL, _rankings("national", [2022]))
    assert [d for d in decision["denials"] if d["measure"] in REGIONAL_ONLY] == []
    assert [(e["measure"], e["events"]) for e in decision["inapplicable"]] == [(m, ["r22"]) for m in REGIONAL_ONLY]
    # … while the national measures still say what they lack
    assert ("gx-htz/23.2", "missing_data", "join:prev") in {(d["measure"], d["reason"], d.get("condition"))
                                                           for d in decision["denials"]}


def test_an_event_outside_the_window_joins_the_entry_instead_of_a_denial(decider, validator):
    # 2019 is before gx-htz (2021-08-04): outside_window for the measures that apply, none for those that do not
    decision = _decide(decider, validator, REGIONAL, _rankings("regional", [2019, 2022]))
    assert {(d["measure"], d["event"]) for d in decision["denials"] if d["reason"] == "outside_window"} == \
        {(m, "r19") for m in REGIONAL_ONLY}
    assert all(e["events"] == ["r19", "r22"] for e in decision["inapplicable"])


def test_an_attribute_is_not_standing_and_stays_a_denial(decider, validator):
    # qz-htz 十四 (operates_honestly) bars per event: what the applicant does, not what it is
    events = [{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}]
    applicant = {"kind": "enterprise", "zone": "qinzhou-htz", "city": "qinzhou", "attributes": {"operates_honestly": False}}
    decision = _decide(decider, validator, applicant, events)
    assert ("qz-htz/2.1", "e1", "not_eligible") in {(d["measure"], d["event"], d["reason"]) for d in decision["denials"]}
    assert [e for e in decision["inapplicable"] if e["policy"] == "qz-htz"] == []


def test_a_draft_not_asked_for_is_not_judged_and_one_asked_for_is_what_if(decider, validator):
    applicant = {"kind": "zone", "zone": "liujiang-etdz", "city": "liuzhou", "zone_level": "regional", "zone_type": "etdz"}
    events = _rankings("regional", [2022])
    plain = _decide(decider, validator, applicant, events)
    assert [e for e in plain["inapplicable"] if e["policy"] == "gx-etdz"] == []
    assert {d["reason"] for d in plain["denials"] if d["policy"] == "gx-etdz"} == {"draft_not_requested"}
    drafts = _decide(decider, validator, applicant, events, include_drafts=True)
    entries = [e for e in drafts["inapplicable"] if e["policy"] == "gx-etdz"]
    assert entries and all(e["what_if"] and e["condition"] == "national_zone" for e in entries)


def test_standing_conditions_read_only_what_the_applicant_is(decider):
    def measure(measure_id):
        return next(m for v in decider.registry.versions["lz-htz"] if v.measures and v.revision == 3
                    for m in v.measures if m.id == measure_id)
    # lz-htz/3.1: in_liuzhou_zone reads the applicant's zone; backbone_enterprise an attribute
    assert standing_conditions(measure("lz-htz/3.1")) == ("in_liuzhou_zone",)
    gx = next(v for v in decider.registry.versions["gx-htz"] if v.measures)
    ranking = next(m for m in gx.measures if m.id == "gx-htz/23.1")
    assert standing_conditions(ranking) == ("national_zone",)  # not national_ranking (the event's scope)
