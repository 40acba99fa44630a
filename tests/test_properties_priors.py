"""Prior awards are filed by the fact they paid, never by the day they were paid (issue 9 §4).

A prior award names its measure (a registered one), the year of the fact it paid and,
where a cap or stacking group of its measure is keyed by one, its project or platform;
its payment ``date`` is a record only. So: re-dating prior awards never changes a
decision; a prior award without what its caps and groups key it by, or of a measure
no document defines, is a 400 naming the field. The oracle of which fields a measure
needs is computed here from the ruleset files' caps and groups, not asked of the service.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.http.app import create_app
from service.settle.settlement import scope_key

from tests.helpers import decide, qz_case, stable
from tests.test_properties import qz_cases
from tests.test_properties_all import cases as vocabulary_cases

EXAMPLES = settings(max_examples=120, derandomize=True, deadline=None, database=None)

# mostly near the facts' years, where a payment date taken for the fact's year would move
# an award into (or out of) a year or run that a claim falls in; sometimes any day at all
near_day = st.dates(date(2020, 1, 1), date(2028, 12, 31))
any_day = st.one_of(near_day, near_day, near_day, st.dates(date(1990, 1, 1), date(2100, 12, 31))).map(date.isoformat)
ZONES = {
    "regional": {"kind": "zone", "zone": "wuzhou-htz", "city": "wuzhou", "zone_level": "regional", "zone_type": "htz"},
    "national": {"kind": "zone", "zone": "nanning-htz", "city": "nanning", "zone_level": "national", "zone_type": "htz"},
}
RANKING_MEASURES = ["gx-htz/23.1", "gx-htz/23.2", "gx-htz/23.3"]


@st.composite
def ranking_cases(draw) -> dict:
    """A zone's evaluations over some of 2021–2027, with prior awards of the ranking
    measures for facts of years around them: where a prior award filed under its payment
    year instead of its fact's would move a run or a year's cap."""
    level = draw(st.sampled_from(sorted(ZONES)))
    scope, list_size = ("regional", 20) if level == "regional" else ("national", 169)
    years = draw(st.lists(st.integers(2021, 2027), min_size=1, max_size=7, unique=True))
    # regional: often a top-3 run; national: steps of 15 places, so rises of 10+ into the top 60 are common
    ranks = st.integers(1, 5) if level == "regional" else st.sampled_from([25, 40, 55, 70, 85])
    events = [{"id": f"y{year}", "type": "zone_evaluated", "date": f"{year}-09-01", "scope": scope,
               "rank": draw(ranks), "list_size": list_size} for year in sorted(years)]
    priors = [{"measure": draw(st.sampled_from(RANKING_MEASURES)), "amount": "1000000.00", "date": draw(any_day),
               "year": draw(st.integers(2020, 2027))} for _ in range(draw(st.integers(1, 3)))]
    return {"case_id": "priors", "applicant": dict(ZONES[level]), "events": events, "prior_awards": priors}


def _redated(data, case: dict) -> dict:
    moved = copy.deepcopy(case)
    for prior in moved["prior_awards"]:
        prior["date"] = data.draw(any_day, label="date")
    return moved


def _assert_date_free(decider, validator, case, data) -> None:
    first = decide(decider, validator, case)
    second = decide(decider, validator, _redated(data, case))
    assert stable(first) == stable(second)


# --- the decision does not depend on a prior award's payment date -------------------------
@EXAMPLES
@given(case=ranking_cases(), data=st.data())
def test_zone_rankings_do_not_depend_on_when_a_prior_award_was_paid(decider, validator, case, data):
    _assert_date_free(decider, validator, case, data)


@EXAMPLES
@given(case=qz_cases(), data=st.data())
def test_qinzhou_decisions_do_not_depend_on_when_a_prior_award_was_paid(decider, validator, case, data):
    _assert_date_free(decider, validator, case, data)


def test_no_decision_depends_on_when_a_prior_award_was_paid(decider, validator):
    @EXAMPLES
    @given(case=vocabulary_cases(decider.vocab, decider.registry), data=st.data())
    def check(case, data):
        _assert_date_free(decider, validator, case, data)

    check()


def test_the_year_of_the_fact_paid_is_what_counts(decider, validator):
    """Guard: the properties above are not met by ignoring prior awards — the same award
    filed under another fact's year changes the decision (gx-htz/23.2#year, once a year)."""
    def granted(year: int) -> list:
        case = {"applicant": dict(ZONES["national"]), "prior_awards": [
                    {"measure": "gx-htz/23.2", "amount": "8000000.00", "date": "2024-04-20", "year": year}],
                "events": [{"id": f"n{y}", "type": "zone_evaluated", "date": f"20{y}-12-31", "scope": "national",
                            "rank": rank, "list_size": 169} for y, rank in ((22, 70), (23, 55), (24, 42))]}
        return [o["event"] for o in decide(decider, validator, case)["outcomes"] if o["measure"] == "gx-htz/23.2"]

    assert granted(2023) == ["n24"]
    assert granted(2024) == ["n23"]
    assert granted(2022) == ["n23", "n24"]


# --- what a prior award must state --------------------------------------------------------
def _needs(registry) -> dict:
    """Measure id -> the fields a prior award of it must state, from the caps and groups."""
    field_of = {"year": "year", "project": "project_id", "platform": "platform_id"}
    needs: dict[str, set] = defaultdict(set)
    for version in registry.all_versions():
        for measure in version.measures:
            needs[measure.id]  # registered, maybe nothing to state
        for limit, members, span in [(c, c.counts, c.span) for c in version.caps] + \
                                    [(g, g.members, None) for g in version.stacking]:
            for mid in members:
                if limit.per in field_of:
                    needs[mid].add(field_of[limit.per])
                if span:
                    needs[mid].add("year")
    return dict(needs)


def _paths(validator, prior: dict) -> list[str]:
    _, errors = validator.validate(qz_case([], prior_awards=[prior]))
    return sorted(e["path"] for e in errors)


def test_the_measures_that_need_a_year_include_those_of_the_issue(decider):
    needs = _needs(decider.registry)
    for mid in ("gx-htz/23.2", "gx-htz/23.3", "qz-htz/2.3", "qz-htz/3.1", "qz-htz/3.3"):
        assert "year" in needs[mid], mid
    assert needs["qz-htz/4"] == {"platform_id"} and needs["gx-htz/8"] == {"project_id"}
    assert needs["gx-htz/6"] == set() and needs["qz-htz/2.1"] == set()


def test_each_registered_measure_asks_exactly_what_its_caps_and_groups_key_it_by(decider, validator):
    needs = _needs(decider.registry)

    @settings(max_examples=200, derandomize=True, deadline=None, database=None)
    @given(measure=st.sampled_from(sorted(needs)), given_fields=st.sets(st.sampled_from(["year", "project_id", "platform_id"])),
           paid=any_day)
    def check(measure, given_fields, paid):
        values = {"year": 2023, "project_id": "P1", "platform_id": "LAB-1"}
        prior = {"measure": measure, "amount": "1000.00", "date": paid, **{f: values[f] for f in given_fields}}
        assert _paths(validator, prior) == sorted(f"prior_awards/0/{f}" for f in needs[measure] - given_fields)

    check()


def test_an_unregistered_measure_is_refused_naming_it_and_the_closest(decider, validator):
    registered = set(_needs(decider.registry))

    @EXAMPLES
    @given(policy=st.sampled_from(["gx-htz", "qz-htz", "lz-htz", "gx-etdz", "xx-nope"]), number=st.integers(0, 120))
    def check(policy, number):
        measure = f"{policy}/{number}"
        _, errors = validator.validate(qz_case([], prior_awards=[
            {"measure": measure, "amount": "1.00", "date": "2023-01-01", "year": 2023}], options={"lang": "en"}))
        if measure in registered:
            assert not errors
        else:
            [error] = errors
            assert error["path"] == "prior_awards/0/measure" and repr(measure) in error["message"]

    check()
    _, [error] = validator.validate(qz_case([], prior_awards=[
        {"measure": "gx-htz/99", "amount": "1.00", "date": "2023-01-01"}], options={"lang": "en"}))
    assert error["path"] == "prior_awards/0/measure"
    assert "'gx-htz/99'" in error["message"] and "gx-htz/9" in error["message"]


def test_the_messages_follow_the_language_and_name_the_cap(validator):
    prior = {"measure": "qz-htz/2.3", "amount": "1.00", "date": "2024-01-15"}
    _, [en] = validator.validate(qz_case([], prior_awards=[prior], options={"lang": "en"}))
    _, [zh] = validator.validate(qz_case([], prior_awards=[prior], options={"lang": "zh"}))
    assert en["path"] == zh["path"] == "prior_awards/0/year"
    assert "qz-htz/2.3#year" in en["message"] and "payment date" in en["message"]
    assert "qz-htz/2.3#year" in zh["message"] and "年度" in zh["message"]


def test_an_empty_key_is_no_key(validator):
    assert _paths(validator, {"measure": "qz-htz/4", "amount": "1.00", "date": "2023-01-01", "platform_id": ""}) == \
        ["prior_awards/0/platform_id"]
    # null is the schema's to report, once
    assert _paths(validator, {"measure": "qz-htz/2.3", "amount": "1.00", "date": "2023-01-01", "year": None}) == \
        ["prior_awards/0/year"]


def test_a_malformed_measure_is_reported_once(validator):
    _, errors = validator.validate(qz_case([], prior_awards=[{"measure": "GX-HTZ/1", "amount": "1.00", "date": "2023-01-01"}]))
    assert [e["path"] for e in errors] == ["prior_awards/0/measure"]


def test_every_problem_of_a_case_is_reported_at_once_over_http(decider):
    client = create_app(decider).test_client()
    payload = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True, "amount": 1.5}],
                      prior_awards=[{"measure": "gx-htz/99", "amount": "1.00", "date": "2023-01-01"},
                                    {"measure": "qz-htz/3.1", "amount": "1.00", "date": "2024-03-01"},
                                    {"measure": "qz-htz/4", "amount": "1.00", "date": "2024-03-01", "year": 1900}])
    response = client.post("/v1/decisions", json=payload)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    paths = [e["path"] for e in response.get_json()["errors"]]
    assert paths == ["events/0/amount", "prior_awards/0/measure", "prior_awards/1/year",
                     "prior_awards/2/platform_id", "prior_awards/2/year"]


def test_settlement_never_files_an_unkeyed_prior_award_under_a_guess():
    """A case that skipped validation is a bug: settlement says so rather than filing the award nowhere."""
    assert scope_key("year", None, {"measure": "qz-htz/2.3", "year": 2023}) == "2023"
    assert scope_key("enterprise", None, {"measure": "qz-htz/5"}) == ""
    with pytest.raises(ValueError, match="year"):
        scope_key("year", None, {"measure": "qz-htz/2.3", "date": "2024-01-15"})
    with pytest.raises(ValueError, match="platform_id"):
        scope_key("platform", None, {"measure": "qz-htz/4"})
