"""Caps and stacking hold for every document, on cases generated from the whole vocabulary.

Nothing here is specific to one document: event types and fields come from
schemas/vocabulary.yaml (+ vocabulary.d), caps and stacking groups from the
ruleset files, so a new document is covered as soon as it is registered.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from service.settle.settlement import scope_key

EXAMPLES = settings(max_examples=120, derandomize=True, deadline=None, database=None)

ZONES = [
    {"kind": "enterprise", "zone": "qinzhou-htz", "city": "qinzhou", "zone_level": "regional", "zone_type": "htz"},
    {"kind": "enterprise", "zone": "liuzhou-national-htz", "city": "liuzhou", "zone_level": "national", "zone_type": "htz"},
    {"kind": "zone", "zone": "nanning-htz", "city": "nanning", "zone_level": "national", "zone_type": "htz"},
    {"kind": "zone", "zone": "hexi-liuzhou-htz", "city": "liuzhou", "zone_level": "regional", "zone_type": "htz"},
    {"kind": "enterprise", "zone": "nanning-etdz", "city": "nanning", "zone_level": "national", "zone_type": "etdz"},
    {"kind": "zone", "zone": "qinzhou-port-etdz", "city": "qinzhou", "zone_level": "national", "zone_type": "etdz"},
]
IDS = ["P1", "P2"]
days = st.dates(date(2020, 6, 1), date(2028, 12, 31)).map(date.isoformat)
small_money = st.integers(0, 50_000_000).map(lambda n: f"{n // 100}.{n % 100:02d}")
big_money = st.integers(0, 4_000_000_000).map(lambda n: f"{n // 100}.{n % 100:02d}")
money = st.one_of(small_money, big_money)


def field_strategy(spec):
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "date":
        return st.one_of(st.none(), days)
    if spec.type == "money":
        return money
    if spec.type == "decimal":
        return st.integers(0, 9_000_000).map(lambda n: f"{n // 1_000_000}.{n % 1_000_000:06d}")
    if spec.type == "int":
        return st.integers(0, 200)
    if spec.type == "enum":
        return st.sampled_from(spec.values)
    return st.sampled_from(IDS)


@st.composite
def cases(draw, vocab, registry):
    event_types = sorted(vocab.live_events)
    events = []
    for i in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(event_types))
        event = {"id": f"e{i}", "type": kind, "date": draw(days)}
        for name, spec in vocab.events[kind].fields.items():
            value = draw(field_strategy(spec))
            if value is not None and (spec.required or draw(st.booleans())):
                event[name] = value
        if draw(st.booleans()):
            event["project_id"] = draw(st.sampled_from(IDS))
        events.append(event)
    applicant = dict(draw(st.sampled_from(ZONES)))
    attributes = {}
    for name, spec in vocab.attributes.items():
        if spec.type == "bool":
            attributes[name] = draw(st.sampled_from([True, True, True, False]))
        elif spec.type == "date" and draw(st.booleans()):
            attributes[name] = draw(days)
    applicant["attributes"] = attributes
    measures = sorted({m.id for v in registry.all_versions() for m in v.measures})
    keyed = _keyed_by(registry)
    priors = []
    for _ in range(draw(st.integers(0, 3))):
        # a prior award names the fact it paid: its year (drawn apart from the day it was
        # paid) and, where a cap or group of its measure is keyed by one, its project or platform
        measure = draw(st.sampled_from(measures))
        prior = {"measure": measure, "amount": draw(small_money), "date": draw(days), "year": draw(st.integers(2020, 2028))}
        if "project" in keyed.get(measure, ()) or draw(st.booleans()):
            prior["project_id"] = draw(st.sampled_from(IDS))
        if "platform" in keyed.get(measure, ()) or draw(st.booleans()):
            prior["platform_id"] = draw(st.sampled_from(IDS))
        priors.append(prior)
    options = {"include_drafts": draw(st.booleans()), "lang": "en"}
    return {"case_id": "gen", "applicant": applicant, "events": events, "prior_awards": priors, "options": options}


def _keyed_by(registry) -> dict:
    """Measure id -> the ``per`` of every cap and stacking group that counts it."""
    keyed: dict[str, set] = defaultdict(set)
    for version in registry.all_versions():
        for cap in version.caps:
            for mid in cap.counts:
                keyed[mid].add(cap.per)
        for group in version.stacking:
            for mid in group.members:
                keyed[mid].add(group.per)
    return keyed


def _decide(decider, validator, payload):
    case, errors = validator.validate(payload)
    assert not errors, errors
    return case, decider.decide(case)


def _by_scope(registry, case, decision, table: str) -> dict:
    """Each (cap or stacking group, scope key) → (its limit, the outcomes under it);
    ``table`` is the version's lookup: ``cap_of`` or ``group_of``."""
    scoped = {}
    for outcome in decision["outcomes"]:
        version = registry.get(outcome["policy"], outcome["version"])
        limit = getattr(version, table).get(outcome["measure"])
        if limit is not None:
            key = (limit.id, scope_key(limit.per, _event_fact(case, outcome["event"])))
            scoped.setdefault(key, (limit, []))[1].append(outcome)
    return scoped


def _event_fact(case, event_id):
    event = next(e for e in case["events"] if e["id"] == event_id)
    return {"id": event["id"], "year": event["date"].year, "platform_id": event.get("platform_id"),
            "project_id": event.get("project_id"), "key_platform": event.get("platform_id") or event["id"],
            "key_project": event.get("project_id") or event["id"]}


def test_caps_hold_across_documents(decider, validator):
    registry = decider.registry

    @EXAMPLES
    @given(cases(decider.vocab, registry))
    def check(payload):
        case, decision = _decide(decider, validator, payload)
        for (cap_id, key), (cap, outcomes) in _by_scope(registry, case, decision, "cap_of").items():
            total = sum(Decimal(o.get("amount") or o.get("amount_max") or "0") for o in outcomes)
            priors = [p for p in case["prior_awards"] if p["measure"] in cap.counts
                      and scope_key(cap.per, None, p) == key]
            if cap.amount_fen is not None:
                limit = max(Decimal(0), Decimal(cap.amount_fen) / 100 - sum(p["amount"] for p in priors))
                assert total <= limit, f"{cap_id}[{key}] granted {total} > {limit}"
            if cap.count is not None:
                assert len(outcomes) <= max(0, cap.count - len(priors)), f"{cap_id}[{key}] count"
            if cap.span:
                ordered = sorted(_event_fact(case, o["event"])["year"] for o in outcomes)
                assert all(b - a >= cap.span for a, b in zip(ordered, ordered[1:])), f"{cap_id} span {ordered}"
                # a run already paid is measured from the year of the fact it paid
                paid = [p["year"] for p in priors]
                assert all(year - last >= cap.span for year in ordered for last in paid), f"{cap_id} span {ordered} after {paid}"

    check()


def test_stacking_holds_and_drafts_never_displace_the_law(decider, validator):
    registry = decider.registry

    @EXAMPLES
    @given(cases(decider.vocab, registry))
    def check(payload):
        case, decision = _decide(decider, validator, payload)
        members = {key: outcomes for key, (_, outcomes) in _by_scope(registry, case, decision, "group_of").items()}
        for key, outcomes in members.items():
            in_force = [o for o in outcomes if not o["what_if"]]
            assert len({o["measure"] for o in in_force}) <= 1, f"{key}: {[o['measure'] for o in in_force]}"
            if in_force:
                for o in outcomes:
                    if o["what_if"] and o["measure"] not in {x["measure"] for x in in_force}:
                        assert o.get("conflicts"), f"{key}: what-if {o['measure']} stands beside the law without a conflict note"

    check()


def test_drafts_never_reach_the_totals(decider, validator):
    @EXAMPLES
    @given(cases(decider.vocab, decider.registry))
    def check(payload):
        _, decision = _decide(decider, validator, payload)
        expected = defaultdict(Decimal)
        for o in decision["outcomes"]:
            if not o["what_if"] and o["kind"] in ("fixed", "computed") and "amount" in o:
                expected[o["currency"]] += Decimal(o["amount"])
        assert decision["totals"] == {c: f"{v:.2f}" for c, v in sorted(expected.items())}
        draft_statuses = {"draft", "announced"}
        for o in decision["outcomes"]:
            assert o["what_if"] == (o["status"] in draft_statuses)

    check()
