"""Properties of decisions over generated Qinzhou cases (hypothesis, derandomized).

The law these check comes from the ruleset's caps and stacking groups and from
measures.md: caps net of prior awards, 3.1/3.3 never in one year, order of the
facts irrelevant, no state between cases, totals and money formatting.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.decide import Decider

from tests.helpers import GOOD_ATTRIBUTES, TWO_DECIMALS, decide, half_up_fen, qz_case, stable

EXAMPLES = settings(max_examples=150, derandomize=True, deadline=None, database=None)

QZ_MEASURES = ["qz-htz/2.1", "qz-htz/2.2", "qz-htz/2.3", "qz-htz/3.1", "qz-htz/3.2", "qz-htz/3.3", "qz-htz/3.4",
               "qz-htz/4", "qz-htz/5", "qz-htz/7", "qz-htz/8", "qz-htz/12"]
LEVELS = ["national", "regional", "city"]
BOUNDARY_DAYS = [date(2021, 12, 29), date(2021, 12, 30), date(2025, 12, 31), date(2026, 1, 1)]
PLATFORM_IDS = ["LAB-1", "LAB-2"]

# --- strategies ---------------------------------------------------------------------------
# mostly inside the window (2021-12-30..2025-12-31), often on its boundary days
in_window = st.dates(date(2021, 12, 30), date(2025, 12, 31))
days = st.one_of(in_window, in_window, st.dates(date(2021, 1, 1), date(2028, 12, 31)),
                 st.sampled_from(BOUNDARY_DAYS)).map(date.isoformat)
fen = st.one_of(st.integers(0, 20_000_000), st.integers(0, 20_000_000_00), st.integers(0, 99))
money = fen.map(lambda n: f"{n // 100}.{n % 100:02d}")
maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731

EVENT_FIELDS = {
    "hte_recognized": {"was_tech_sme": st.sampled_from([True, True, False])},
    "gazelle_recognized": {},
    "gazelle_regional_award": {"amount": money},
    "incubator_recognized": {"level": st.sampled_from(LEVELS)},
    "incubatee_hte_recognized": {"graduated_on": maybe(days)},
    "incubator_evaluated": {"level": st.sampled_from(LEVELS),
                            "rating": st.sampled_from(["excellent", "excellent", "good", "pass", "fail"])},
    "incubation_space_rented": {"recognized_by_city_ht_service_center": st.booleans(),
                                "met_hte_pool_target": st.booleans()},
    "platform_recognized": {"level": st.sampled_from(LEVELS), "platform_id": maybe(st.sampled_from(PLATFORM_IDS))},
    "patent_purchased": {"cost": money, "patent_kind": st.sampled_from(["invention", "invention", "invention", "utility_model"]),
                         "core_of_successful_hte_application": st.sampled_from([True, True, True, False])},
    "talent_appointed": {"civil_servant": st.booleans()},
    "approval_requested": {"needs_level_by_level_forwarding": st.booleans()},
    "zone_local_tax_retained": {"amount": money},
}


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


EVENT_BODIES = {
    kind: st.fixed_dictionaries({"type": st.just(kind), "date": days, **fields}).map(_drop_none)
    for kind, fields in EVENT_FIELDS.items()
}

# a prior award names the year of the fact it paid, drawn apart from the day it was paid;
# one of a per-platform cap (qz-htz/4) always names its platform
fact_years = st.integers(2020, 2027)
prior_awards = st.fixed_dictionaries(
    {"measure": st.sampled_from(QZ_MEASURES + ["qz-htz/5", "qz-htz/5", "qz-htz/3.1", "qz-htz/2.3"]),
     "amount": money, "date": days, "year": fact_years},
    optional={"platform_id": st.sampled_from(PLATFORM_IDS)},
).map(lambda prior: prior if prior["measure"] != "qz-htz/4" or "platform_id" in prior
      else dict(prior, platform_id=PLATFORM_IDS[0]))

incidents = st.one_of(
    st.fixed_dictionaries({"year": st.integers(2021, 2028), "type": st.sampled_from(["safety_accident", "environmental_emergency"]),
                           "grade": st.sampled_from(["general", "relatively_major", "major", "extraordinarily_serious"])}),
    st.fixed_dictionaries({"year": st.integers(2021, 2028), "type": st.sampled_from(["major_economic_loss", "major_violation"])}),
)

attribute_overrides = st.dictionaries(
    st.sampled_from(sorted(GOOD_ATTRIBUTES) + ["registered_in_ftz_qinzhou_port", "operates_in_zone"]),
    st.booleans(), max_size=3,
)


def _in_year(year: int):
    return st.dates(date(year, 1, 1), date(year, 12, 31)).map(date.isoformat)


# Scenarios: (events, prior awards) where caps, stacking or the top-up years come into play.
def _priors(draw, measure: str, n_max: int, amounts=money, platform_ids=None, years=fact_years) -> list:
    out = []
    for _ in range(draw(st.integers(0, n_max))):
        prior = {"measure": measure, "amount": draw(amounts), "date": draw(days), "year": draw(years)}
        if platform_ids:
            prior["platform_id"] = draw(st.sampled_from(platform_ids))
        out.append(prior)
    return out


@st.composite
def _patents(draw):
    """Invention patents sharing the 100,000 cap, with prior awards of the cap."""
    n = draw(st.integers(1, 4))
    events = [{"type": "patent_purchased", "date": draw(in_window.map(date.isoformat)), "cost": draw(money),
               "patent_kind": "invention", "core_of_successful_hte_application": True} for _ in range(n)]
    up_to_cap = st.integers(0, 110_000_00).map(lambda n: f"{n // 100}.{n % 100:02d}")
    return events, _priors(draw, "qz-htz/5", 2, up_to_cap)


@st.composite
def _incubator_year(draw):
    """A recognition and an excellent evaluation, often in the same year; maybe a prior 3.1."""
    year = draw(st.integers(2022, 2025))
    other = draw(st.sampled_from([year, year, year - 1, year + 1]))
    events = [{"type": "incubator_recognized", "date": draw(_in_year(year)), "level": draw(st.sampled_from(LEVELS))},
              {"type": "incubator_evaluated", "date": draw(_in_year(other)), "level": draw(st.sampled_from(LEVELS)),
               "rating": "excellent"}]
    events = draw(st.sampled_from([events, events[1:]]))
    return events, _priors(draw, "qz-htz/3.1", 1, years=st.sampled_from([year, other, year - 1]))


@st.composite
def _gazelle(draw):
    """A gazelle recognition and regional awards around its three years; maybe prior top-ups."""
    recognised = draw(st.one_of(st.sampled_from(BOUNDARY_DAYS), in_window, in_window))
    n = draw(st.integers(1, 5))
    events = [{"type": "gazelle_recognized", "date": recognised.isoformat()}] + [
        {"type": "gazelle_regional_award", "date": draw(_in_year(recognised.year + draw(st.integers(-1, 3)))),
         "amount": draw(money)} for _ in range(n)]
    return events, _priors(draw, "qz-htz/2.3", 1, years=st.integers(recognised.year - 1, recognised.year + 3))


@st.composite
def _platforms(draw):
    n = draw(st.integers(2, 4))
    events = [{"type": "platform_recognized", "date": draw(days), "level": draw(st.sampled_from(LEVELS)),
               "platform_id": draw(st.sampled_from(PLATFORM_IDS))} for _ in range(n)]
    return events, _priors(draw, "qz-htz/4", 1, platform_ids=PLATFORM_IDS)


@st.composite
def qz_cases(draw) -> dict:
    # a few event types per case, so that events meet on caps, years and platforms
    kinds = draw(st.lists(st.sampled_from(sorted(EVENT_FIELDS)), min_size=1, max_size=4, unique=True))
    size = draw(st.integers(0, 12))
    bodies = draw(st.lists(st.one_of(*[EVENT_BODIES[k] for k in kinds]), min_size=size, max_size=size))
    # plus, often, a scenario where caps, stacking or the top-up years come into play
    scenario, scenario_priors = draw(st.one_of(st.just(([], [])), _patents(), _incubator_year(), _gazelle(), _gazelle(),
                                               _platforms()))
    bodies = (scenario + bodies)[:12]
    events = [dict(body, id=f"e{i}") for i, body in enumerate(bodies)]
    # mostly an eligible applicant, sometimes one to three attributes changed
    attributes = draw(st.one_of(st.just({}), st.just({}), attribute_overrides))
    hte_since = draw(st.one_of(st.just("2021-12-30"), maybe(days)))
    if hte_since:
        attributes["high_tech_enterprise_since"] = hte_since
    return qz_case(
        events,
        attributes=attributes,
        incidents=draw(st.one_of(st.just([]), st.lists(incidents, max_size=3))),
        prior_awards=scenario_priors + draw(st.one_of(st.just([]), st.lists(prior_awards, max_size=3))),
        kind=draw(st.sampled_from(["enterprise", "enterprise", "enterprise", "zone"])),
    )


# --- helpers ------------------------------------------------------------------------------
def _events(case: dict) -> dict:
    return {e["id"]: e for e in case["events"]}


def _year(text: str) -> int:
    return int(text[:4])


def _key(per: str, event: dict | None = None, prior: dict | None = None) -> str:
    """The slot of a cap, computed here from the case, independently of the service: a
    prior award's by the fact it paid (its year, its platform or project), not its payment date."""
    if per == "year":
        return str(_year(event["date"]) if event else prior["year"])
    if per == "platform":
        return (event.get("platform_id") or event["id"]) if event else prior["platform_id"]
    if per == "project":
        return (event.get("project_id") or event["id"]) if event else prior["project_id"]
    return ""


def _qz_caps(decider):
    [version] = [v for v in decider.registry.policy_versions("qz-htz") if v.version == "2021-12-30"]
    return version


def _of_qz(items: list[dict]) -> list[dict]:
    return [item for item in items if item["measure"].startswith("qz-htz/")]


def _in_force(decision: dict) -> list[dict]:
    return [o for o in decision["outcomes"] if not o.get("what_if")]


# --- properties ---------------------------------------------------------------------------
def test_the_generator_covers_the_vocabulary(decider):
    """Guard: the generated events cover every trigger of the Qinzhou measures, with known fields."""
    qinzhou = decider.registry.get("qz-htz", "2021-12-30")
    assert {m.trigger for m in qinzhou.measures} <= set(EVENT_FIELDS) <= set(decider.vocab.events)
    for kind, fields in EVENT_FIELDS.items():
        declared = set(decider.vocab.events[kind].fields)
        assert set(fields) <= declared, kind


@EXAMPLES
@given(case=qz_cases())
def test_caps_net_of_prior_awards_are_never_exceeded(decider, validator, case):
    decision = decide(decider, validator, case)
    events = _events(case)
    version = _qz_caps(decider)
    assert version.caps, "the Qinzhou ruleset declares caps"
    for cap in version.caps:
        granted: dict[str, list[Decimal]] = defaultdict(list)
        for outcome in _in_force(decision):
            if outcome["measure"] in cap.counts:
                value = outcome.get("amount", outcome.get("amount_max"))
                granted[_key(cap.per, event=events[outcome["event"]])].append(Decimal(value) if value is not None else None)
        for key, values in granted.items():
            priors = [p for p in case["prior_awards"] if p["measure"] in cap.counts and _key(cap.per, prior=p) == key]
            if cap.amount_fen is not None:
                room = max(Decimal(0), Decimal(cap.amount_fen) / 100 - sum(Decimal(p["amount"]) for p in priors))
                assert all(v is not None and v <= room for v in values), (cap.id, key, values, room)
                assert sum(values) <= room, (cap.id, key, values, room)
            if cap.count is not None:
                assert len(values) <= max(0, cap.count - len(priors)), (cap.id, key, len(values), len(priors))


@EXAMPLES
@given(case=qz_cases())
def test_incubator_recognition_and_evaluation_never_in_one_year(decider, validator, case):
    decision = decide(decider, validator, case)
    events = _events(case)
    years: dict[str, set] = defaultdict(set)
    for outcome in _in_force(decision):
        years[outcome["measure"]].add(_year(events[outcome["event"]]["date"]))
    assert not years["qz-htz/3.1"] & years["qz-htz/3.3"]
    prior_31 = {p["year"] for p in case["prior_awards"] if p["measure"] == "qz-htz/3.1"}
    assert not prior_31 & years["qz-htz/3.3"]


@EXAMPLES
@given(case=qz_cases(), data=st.data())
def test_the_order_of_the_events_does_not_matter(decider, validator, case, data):
    first = decide(decider, validator, case)
    shuffled = dict(case, events=data.draw(st.permutations(case["events"]), label="events"))
    second = decide(decider, validator, shuffled)
    assert stable(first) == stable(second)


@EXAMPLES
@given(case=qz_cases(), data=st.data())
def test_the_order_of_prior_awards_and_incidents_does_not_matter(decider, validator, case, data):
    first = decide(decider, validator, case)
    shuffled = dict(case, prior_awards=data.draw(st.permutations(case["prior_awards"]), label="prior_awards"))
    shuffled["applicant"] = dict(case["applicant"],
                                 incidents=data.draw(st.permutations(case["applicant"]["incidents"]), label="incidents"))
    second = decide(decider, validator, shuffled)
    assert stable(first) == stable(second)


@pytest.fixture(scope="module")
def fresh_decider():
    """A Decider of its own, so that 'B alone' is not evaluated after other cases."""
    return Decider()


@EXAMPLES
@given(a=qz_cases(), b=qz_cases())
def test_no_state_leaks_between_cases(decider, validator, fresh_decider, a, b):
    alone = decide(fresh_decider, validator, b)
    decide(decider, validator, a)
    after_a = decide(decider, validator, b)
    assert stable(after_a) == stable(alone)


@EXAMPLES
@given(case=qz_cases())
def test_totals_and_money_format(decider, validator, case):
    decision = decide(decider, validator, case)
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for outcome in decision["outcomes"]:
        for field in ("amount", "amount_max", "floor", "amount_before_cap"):
            if field in outcome:
                assert TWO_DECIMALS.match(outcome[field]), (field, outcome[field])
                assert Decimal(outcome[field]) >= 0
        cap = outcome.get("cap") or {}
        for field in ("amount", "remaining_before"):
            if field in cap:
                assert TWO_DECIMALS.match(cap[field]), (field, cap)
        if outcome["kind"] in ("fixed", "computed"):
            assert "amount" in outcome, outcome
        else:
            assert "amount" not in outcome, outcome
        if outcome["kind"] in ("ceiling", "competitive"):
            assert "amount_max" in outcome, outcome
        if outcome["kind"] in ("fixed", "computed") and not outcome.get("what_if"):
            sums[outcome["currency"]] += Decimal(outcome["amount"])
    assert decision["totals"] == {c: f"{v:.2f}" for c, v in sums.items()}
    for section in ("totals", "ceiling_totals", "what_if_totals"):
        for value in decision.get(section, {}).values():
            assert TWO_DECIMALS.match(value), (section, value)


@EXAMPLES
@given(case=qz_cases())
def test_computed_amounts_and_fixed_tables(decider, validator, case):
    decision = decide(decider, validator, case)
    events = _events(case)
    fixed = {"qz-htz/2.1": "200000.00", "qz-htz/2.2": "500000.00"}
    platform = {"national": "1000000.00", "regional": "200000.00", "city": "50000.00"}
    for outcome in _in_force(decision):
        event = events[outcome["event"]]
        measure = outcome["measure"]
        if measure in fixed:
            assert outcome["amount"] == fixed[measure]
        elif measure == "qz-htz/4":
            assert outcome["amount"] == platform[event["level"]]
        elif measure == "qz-htz/2.3":
            assert Decimal(outcome["amount"]) == half_up_fen(Decimal(event["amount"]) * Decimal("0.2"))
        elif measure == "qz-htz/12":
            assert Decimal(outcome["floor"]) == half_up_fen(Decimal(event["amount"]) * Decimal("0.6"))
        elif measure == "qz-htz/5":
            assert Decimal(outcome["amount_max"]) <= min(Decimal(event["cost"]), Decimal(100000))


@EXAMPLES
@given(case=qz_cases())
def test_every_event_is_answered_and_inside_the_window_only_when_granted(decider, validator, case):
    """Each measure whose trigger is present gets an outcome or a denial, never both;
    nothing is granted for an event outside 2021-12-30..2025-12-31 except a 2.3
    top-up anchored on a recognition inside it."""
    decision = decide(decider, validator, case)
    version = _qz_caps(decider)
    events = _events(case)
    granted = Counter((o["measure"], o["event"]) for o in decision["outcomes"])
    denied = {(d["measure"], d["event"]) for d in decision["denials"]}
    assert all(n == 1 for n in granted.values()), granted
    assert not set(granted) & denied
    for event in case["events"]:
        for measure in version.measures:
            if measure.trigger == event["type"]:
                assert (measure.id, event["id"]) in set(granted) | denied, (measure.id, event)
    for outcome in _of_qz(decision["outcomes"]):  # gx-htz judges a Qinzhou HTZ case too, in its own window
        day = events[outcome["event"]]["date"]
        if outcome["measure"] == "qz-htz/2.3":
            [anchor] = outcome["supporting_events"]
            day = events[anchor]["date"]
        assert "2021-12-30" <= day <= "2025-12-31", outcome


REASONS = {"not_eligible", "outside_window", "cap_exhausted", "not_stacked", "missing_data", "draft_not_requested",
           "already_granted"}


@EXAMPLES
@given(case=qz_cases())
def test_denials_and_outcomes_are_well_formed(decider, validator, case):
    """contract.md: a denial says why, in words, citing the text; measures.md: the
    art. 十五 precedence note is shown on every qz-htz outcome."""
    decision = decide(decider, validator, case)
    for denial in decision["denials"]:
        assert denial["reason"] in REASONS, denial
        assert denial["detail"] and denial["citation"], denial
        if denial["reason"] == "not_eligible":
            assert denial.get("condition"), denial
    for outcome in decision["outcomes"]:
        assert outcome["citation"] and outcome["handled_by"], outcome
    for outcome in _of_qz(decision["outcomes"]):
        assert any("以本措施为准" in note for note in outcome["notes"]), outcome["notes"]
