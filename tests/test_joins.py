"""Joins in linear time (issue 10): one event per year and scope, and decisions unchanged by
the encoding that reads aggregates instead of scanning every pair of events."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.decide import Decider, canonical_sha256
from service.evaluate import compile as compile_module
from service.log import from_env
from service.replay import replay_record
from service.rulebook.registry import Registry
from service.validate.request import CaseValidator


@pytest.fixture(scope="module")
def decider():
    return Decider()


@pytest.fixture(scope="module")
def scanning_decider():
    """The law compiled as before the rewrite: every join a scan of its pairs."""
    patch = pytest.MonkeyPatch()
    patch.setattr(compile_module.Leaner, "_aggregated", lambda self, pattern: pattern)
    patch.setattr(compile_module, "_by_year", lambda patterns, reads: [patterns])
    try:
        reference = Decider(Registry.load())
    finally:
        patch.undo()
    assert not any(c.aggregates for c in reference.registry.compiled.values())
    return reference


@pytest.fixture(scope="module")
def validator(decider):
    return CaseValidator(decider.vocab, decider.registry)


def _ranking(event_id, year, scope, rank, month=12):
    return {"id": event_id, "type": "zone_evaluated", "date": f"{year}-{month:02d}-28", "scope": scope,
            "rank": rank, "list_size": 169 if scope == "national" else 20}


def _zone_case(events, zone="nanning-htz", lang="en"):
    return {"applicant": {"kind": "zone", "zone": zone}, "events": events, "options": {"lang": lang}}


# -- one event per year and scope -------------------------------------------------------
def test_a_second_ranking_of_the_same_year_and_scope_is_refused_naming_the_first(validator):
    case, errors = validator.validate(_zone_case([
        _ranking("n23", 2023, "national", 30), _ranking("r23", 2023, "regional", 3),
        _ranking("n23b", 2023, "national", 31, month=6)]))
    assert case is None
    assert errors == [{"path": "events/2/date",
                       "message": "only one zone_evaluated event per year and scope (here national): "
                                  "2023 already has event 'n23' (events/0)"}]


def test_the_refusal_is_in_chinese_when_the_case_asks(validator):
    _, errors = validator.validate(_zone_case([_ranking("a", 2023, "national", 30), _ranking("b", 2023, "national", 31)],
                                              lang="zh"))
    assert [e["path"] for e in errors] == ["events/1/date"]
    assert "只能有一个 zone_evaluated 事件" in errors[0]["message"] and "“a”" in errors[0]["message"]


def test_one_event_per_year_and_scope_is_accepted(validator):
    case, errors = validator.validate(_zone_case([_ranking(f"{s[0]}{y}", y, s, 10) for y in (2021, 2022, 2023)
                                                  for s in ("national", "regional")]))
    assert errors == [] and len(case["events"]) == 6


@pytest.mark.parametrize("event_type, fields", [
    ("zone_new_hte_counted", {"new_hte_count": 3}),
    ("investment_funds_received", {"project_id": "p1", "amount": "100.00"}),
])
def test_other_one_per_year_types(validator, event_type, fields):
    events = [{"id": "a", "type": event_type, "date": "2024-02-01", **fields},
              {"id": "b", "type": event_type, "date": "2024-11-01", **fields},
              {"id": "c", "type": event_type, "date": "2025-01-01", **fields}]
    _, errors = validator.validate(_zone_case(events))
    assert [e["path"] for e in errors if "2024 already has event 'a'" in e["message"]] == ["events/1/date"]
    assert not any(e["path"].startswith("events/2") for e in errors)


def test_funds_of_two_projects_in_one_year_are_two_facts(validator):
    events = [{"id": p, "type": "investment_funds_received", "date": "2024-02-01", "project_id": p, "amount": "1.00"}
              for p in ("p1", "p2")]
    _, errors = validator.validate(_zone_case(events))
    assert not any("only one" in e["message"] for e in errors)


@pytest.mark.parametrize("event_type, fields", [("gazelle_regional_award", {"amount": "1.00"}), ("gazelle_recognized", {})])
def test_gazelle_events_are_not_limited_to_one_a_year(validator, event_type, fields):
    events = [{"id": a, "type": event_type, "date": f"2024-0{m}-01", **fields} for a, m in (("a", 3), ("b", 9))]
    _, errors = validator.validate(_zone_case(events))
    assert not any("only one" in e["message"] for e in errors)


def test_an_event_with_an_invalid_date_is_not_judged_again(validator):
    _, errors = validator.validate(_zone_case([_ranking("a", 2023, "national", 1),
                                               dict(_ranking("b", 2023, "national", 2), date="2023-13-40")]))
    assert [e["path"] for e in errors] == ["events/1/date"] and "only one" not in errors[0]["message"]


# -- the decision is unchanged by the rewrite -------------------------------------------
def _comparable(decision: dict) -> dict:
    return {key: decision[key] for key in ("outcomes", "denials", "totals", "not_applicable")}


ZONES = ["nanning-htz", "liuzhou-national-htz", "hexi-liuzhou-htz", "wuzhou-htz", "nanning-etdz", "luzhai-etdz"]


@st.composite
def ranking_histories(draw):
    """One ranking per year and scope over a few years around the documents' windows."""
    first = draw(st.integers(2017, 2026))
    events = []
    for year in range(first, first + draw(st.integers(1, 7))):
        for scope in ("national", "regional"):
            if draw(st.booleans()):
                size = 169 if scope == "national" else 20
                events.append(_ranking(f"{scope[0]}{year}", year, scope, draw(st.integers(1, size))))
    return _zone_case(events, zone=draw(st.sampled_from(ZONES)))


@st.composite
def gazelle_histories(draw):
    """Gazelle recognitions and regional awards in any years (twice in some)."""
    years = range(2020, 2028)
    recognised = draw(st.lists(st.sampled_from(years), max_size=3))
    awards = draw(st.lists(st.sampled_from(years), max_size=5))
    events = [{"id": f"g{k}", "type": "gazelle_recognized", "date": f"{y}-{5 + k:02d}-01"} for k, y in enumerate(recognised)]
    events += [{"id": f"a{k}", "type": "gazelle_regional_award", "date": f"{y}-{1 + k % 12:02d}-15",
                "amount": str(100000 + k)} for k, y in enumerate(awards)]
    since = draw(st.sampled_from([None, "2019-01-01", "2023-06-01"]))
    attributes = {name: True for name in ("registered_in_zone", "tax_in_zone", "statistics_in_zone",
                                           "independent_legal_person", "independent_accounting",
                                           "sound_financial_system", "operates_honestly", "pays_taxes_lawfully",
                                           "fits_industrial_policy")}
    if since:
        attributes["high_tech_enterprise_since"] = since
    return {"applicant": {"kind": "enterprise", "zone": "qinzhou-htz", "attributes": attributes},
            "events": events, "options": {"lang": "en"}}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(ranking_histories(), gazelle_histories()))
def test_decisions_are_those_of_the_scanning_encoding(decider, scanning_decider, validator, payload):
    case, errors = validator.validate(payload)
    assert errors == []
    assert _comparable(decider.decide(case)) == _comparable(scanning_decider.decide(case))


def test_the_rewrite_reads_aggregates_where_rankings_were_scanned(decider):
    """Guards the test above from comparing two identical encodings."""
    compiled = decider.registry.compiled
    assert any(a.event_type == "zone_evaluated" and a.keep == "min" for c in compiled.values() for a in c.aggregates)
    assert any(a.event_type == "gazelle_recognized" for c in compiled.values() for a in c.aggregates)
    grants = [name for c in compiled.values() for name in c.ruleset.definition if name.startswith("qz-htz/2.3:grant")]
    assert grants and all(":y" in name for name in grants)


def test_first_entry_into_the_top_35_over_a_long_history(decider, validator):
    """gx-htz/23.1 reads "no earlier top-35 ranking" from an aggregate: the first entry is granted once."""
    events = [_ranking(f"n{y}", y, "national", 40 if y < 2024 else 30) for y in range(2021, 2030)]
    case, errors = validator.validate(_zone_case(events))
    assert errors == []
    decision = decider.decide(case)
    firsts = [o["event"] for o in decision["outcomes"] if o["measure"] == "gx-htz/23.1"]
    assert firsts == ["n2024"]
    later = {d["event"] for d in decision["denials"] if d["measure"] == "gx-htz/23.1" and d.get("condition") == "first_entry"}
    assert later == {f"n{y}" for y in range(2025, 2030)}


# -- a long ranking history decides -------------------------------------------------------
def test_a_500_event_ranking_case_decides(decider, validator):
    """250 years of both rankings, validated at the 500-event limit and decided; every event is
    judged by the ranking measures (a quadratic encoding took seconds here, a cubic minutes)."""
    events = [_ranking(f"{s[0]}{y}", y, s, 1 + (y * 7) % (60 if s == "national" else 20))
              for y in range(2021, 2271) for s in ("national", "regional")]
    case, errors = validator.validate(_zone_case(events, zone="nanning-htz"))
    assert errors == [] and len(case["events"]) == 500
    decision = decider.decide(case)
    judged = {o["event"] for o in decision["outcomes"]} | {d["event"] for d in decision["denials"]}
    assert judged == {e["id"] for e in events}
    # the session held one aggregate fact per aggregate, not one per pair of events
    assert all(len(c.aggregates) < 50 for c in decider.registry.compiled.values())


# -- a case logged before the rule still replays ------------------------------------------
def test_a_logged_case_with_two_rankings_of_one_year_replays(decider, validator, tmp_path, monkeypatch):
    """Refused today, such a case was decided and logged before the rule: replay (``replaying=True``)
    does not apply the rule, so the record is decided again rather than reported as invalid input."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "log.sqlite3"))
    payload = _zone_case([_ranking("n22", 2022, "national", 40), _ranking("n23", 2023, "national", 30),
                          _ranking("n23b", 2023, "national", 31, month=6)])
    assert validator.validate(payload)[1][0]["path"] == "events/2/date"  # refused as a new request
    case, errors = validator.validate(payload, replaying=True)
    assert errors == []
    record = from_env().append(payload, decider.decide(case, input_sha256=canonical_sha256(payload)))
    assert replay_record(decider, validator, record) == {"status": "identical"}
