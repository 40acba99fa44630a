"""Run each assigned ruleset version over the case; collect candidates and denials."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..resolve import Resolution
from ..rulebook.registry import Registry
from ..vocabulary import APPLICANT_FIELDS, APPLICANT_PREFIX
from .facts import EVENT_ID_PREFIX, aggregate_facts, applicant_fields


@dataclass(slots=True)
class Candidate:
    version: object  # RulesetVersion
    measure: object  # Measure
    event: dict  # the trigger's engine fact
    supporting: list  # the joined events that made it, in the measure's join order
    amount: int | None  # fen, fixed and computed
    amount_max: int | None  # fen, ceiling and competitive
    floor: int | None  # fen, obligation
    branch: object | None  # the outcome case that applied, if the measure has cases
    what_if: bool
    cid: str  # version|measure|event: one candidate per measure and event
    why: object = None  # explain on: what the grant rule that made it matched (Why), else None


@dataclass(slots=True)
class Denial:
    version: object
    measure: object
    event: dict
    reason: str
    condition: str | None
    explain: dict | None
    article: str | None = None
    cites: str | None = None
    what_if: bool = False
    extra: dict = field(default_factory=dict)
    why: object = None  # explain on: what the denial rule that made it matched (Why), else None


@dataclass(slots=True)
class Why:
    """What one rule the engine fired matched, as its action saw it (explain on only): the
    ``steps`` the compiler tied to that rule (conditions with the alternative the rule tests,
    joins, the amount's case), the values they read from the matched facts, and the formula's
    working. Rendered by render/derivation.py; nothing here is evaluated again."""
    steps: tuple  # compile.Step, in the measure's order
    reads: list  # per step: [(path, field, event type or None, value as the engine held it), …]
    formula: dict | None = None  # {text, inputs, exact, rounding, fen}
    bar: dict | None = None  # a denial by an eligibility bar: what the bar's rule read


class Evaluation:
    """What the engine's actions report to, for one version session."""

    def __init__(self, what_if: bool, trace: list[str], label: str, events_by_id: dict, deriving: bool = False):
        self.what_if = what_if
        self.deriving = deriving  # explain on: actions hand over what they matched (Why)
        self.bars: dict[str, dict] = {}  # bar fact id -> what its rule read, when deriving
        self.about: list = []  # the applicant and incident facts the session is given, when deriving
        self._events = events_by_id  # the full facts; the engine holds trimmed copies
        self.candidates: dict[str, Candidate] = {}
        self.denials: dict[tuple, Denial] = {}
        self._trace = trace
        self.tracing = trace is not None
        self._label = label

    def trace_rule(self, text: str) -> None:
        if self._trace is not None:
            self._trace.append(f"{self._label}: {text}")

    def full(self, event: dict) -> dict:
        """The full fact of an event the engine holds a trimmed copy of."""
        return self._events[event["id"]]

    def candidate(self, cid, version, measure, event, supporting, amount, amount_max, floor, branch, why=None) -> None:
        """``event``: the trigger's full fact; ``supporting``: the joined events as the engine holds them."""
        if supporting:
            supporting = [self._events[s["id"]] for s in supporting]
        # several joined events can support one grant: the first one derived stands, but for the
        # events it names, the earliest in the case's canonical order, whatever order the engine
        # derived them in (the rules that read a window of years fire one year at a time)
        standing = self.candidates.get(cid)
        if standing is not None:
            if (supporting and (standing.amount, standing.amount_max, standing.floor, standing.branch)
                    == (amount, amount_max, floor, branch)
                    and [s["ord"] for s in supporting] < [s["ord"] for s in standing.supporting]):
                standing.supporting = supporting
                standing.why = why
            return
        self.candidates[cid] = Candidate(version, measure, event, supporting, amount, amount_max, floor, branch,
                                         self.what_if, cid, why)
        if self._trace is not None:
            self.trace_rule(f"{measure.id} candidate on {event['id']}"
                            + (f" (with {', '.join(s['id'] for s in supporting)})" if supporting else ""))

    def denial(self, version, measure, event, reason, condition, explain, *, article=None, cites=None,
               unstated: tuple | None = None, why=None) -> None:
        """``unstated``: (the fact as the engine holds it, or None for the applicant; the field) the case does not state."""
        event = self._events[event["id"]]
        key = (measure.id, event["id"], reason, condition)
        if key not in self.denials:
            denial = self.denials[key] = Denial(version, measure, event, reason, condition, explain, article, cites,
                                                self.what_if, why=why)
            if unstated is not None:
                holder, field_name = unstated
                denial.extra["field"] = unstated_path(None if holder is None else self._events[holder["id"]], field_name)
            if self._trace is not None:
                self.trace_rule(f"{measure.id} denied on {event['id']}: {reason}" + (f" ({condition})" if condition else ""))


def evaluate(registry: Registry, about: list[dict], events: list[dict], resolution: Resolution,
             trace: list[str] | None, builder, deriving: bool = False) -> tuple[list[Candidate], list[Denial], list[Denial]]:
    """Candidates in canonical order (see ``candidate_order``), denials, and the denials that make
    a measure inapplicable to the applicant (see ``_reported``).
    ``about``: the applicant and incident facts (FactBuilder.applicant);
    ``events``: the full event facts (FactBuilder.events), in canonical order;
    ``trace``: a list to record fired rules in, or None when no one asked;
    ``builder``: the FactBuilder, whose defaults a ``read_as_false`` version reads absent fields as;
    ``deriving``: explain on, the actions record what they matched (``Why``)."""
    candidates: list[Candidate] = []
    denials: list[Denial] = []
    inapplicable: list[Denial] = []
    # in a session an event's id is prefixed, so that no event id can collide with
    # the ids of the applicant, incident, year and phase facts (which skip the core's content hash)
    by_id = {EVENT_ID_PREFIX + f["id"]: f for f in events}
    stated_applicant = about[0]
    as_stated = {"about": about, "applicant": None}  # applicant_<name> fields built when a version tests one
    as_defaults = None
    as_stated_no_zone = None
    for assignment in resolution.assignments:
        version = assignment.version
        compiled = registry.compiled[version.key]
        roles = assignment.roles
        context = Evaluation(assignment.what_if, trace, version.key, by_id, deriving)
        trims, tested = compiled.trims, compiled.fact_types
        if compiled.reads_absent_as_default:
            if as_defaults is None:
                as_defaults = {"about": [builder.applicant_defaults | stated_applicant] + about[1:], "applicant": None}
            seen = as_defaults
        elif compiled.zone_may_be_unstated and not stated_applicant.get("zone"):
            if as_stated_no_zone is None:
                unzoned = {k: v for k, v in stated_applicant.items() if k != "zone"}
                as_stated_no_zone = {"about": [unzoned] + about[1:], "applicant": None}
            seen = as_stated_no_zone
        else:
            seen = as_stated
        facts_about = seen["about"]
        if deriving:
            context.about = facts_about
        # an event no rule of this version tests has nothing to do in its session,
        # and the facts of a kind no rule tests would match nothing
        trimmed = []
        for f in events:
            trim = trims.get(f["type"])
            if trim is not None:
                if trim.defaults is not None:
                    f = trim.defaults | f
                fact = {name: f[source] for name, source in trim.sources if source in f}
                if trim.of_applicant:
                    if seen["applicant"] is None:
                        seen["applicant"] = applicant_fields(facts_about[0])
                    of_applicant = seen["applicant"]
                    fact.update({k: of_applicant[k] for k in trim.of_applicant if k in of_applicant})
                fact["id"] = EVENT_ID_PREFIX + f["id"]
                fact["role"] = roles.get(f["id"], "ctx")
                trimmed.append(fact)
        # the phase fact closes the events' batch: the core takes a batch's facts in
        # order, so the rules it wakes see every event; no action on an event derives
        # a fact, so nothing needs draining between them. It only wakes rules that
        # start from an event of certain types.
        if compiled.aggregates:
            # what the rules that would scan every pair of events read instead (compile.Leaner)
            trimmed += aggregate_facts(compiled.aggregates, trimmed)
        if not compiled.phase_types.isdisjoint([fact.get("type") for fact in trimmed]):
            trimmed.append({"t": "ph", "id": "ph", "n": 3})
        compiled.ruleset.run_phases([[fact for fact in facts_about if fact["t"] in tested], trimmed], context)
        candidates += context.candidates.values()
        if context.denials:
            said, standing = _reported(version, context, compiled.standing)
            denials += said
            inapplicable += standing
    candidates.sort(key=candidate_order)
    return candidates, denials, inapplicable


def _reported(version, context: Evaluation, standing: dict) -> tuple[list[Denial], list[Denial]]:
    """The denials worth saying: none on a (measure, event) that another joined event grants,
    and no missing_data on a condition the case's stated facts already fail; and apart from them,
    one denial per (measure, event) that fails a condition on what the applicant is (``standing``:
    measure id -> those condition ids, in the measure's order), whose other denials on that event
    say nothing: the measure does not apply to this applicant."""
    granted = context.candidates
    failed = {(d.measure.id, d.event["id"], d.condition) for d in context.denials.values() if d.reason == "not_eligible"}
    not_for_applicant: dict[tuple, Denial] = {}
    for d in context.denials.values():
        order = standing.get(d.measure.id, ())
        if d.reason == "not_eligible" and d.condition in order:
            key = (d.measure.id, d.event["id"])
            held = not_for_applicant.get(key)
            if held is None or order.index(d.condition) < order.index(held.condition):
                not_for_applicant[key] = d
    said = [d for d in context.denials.values()
            if (d.measure.id, d.event["id"]) not in not_for_applicant
            and candidate_id(version.key, d.measure.id, d.event["id"]) not in granted
            and not (d.reason == "missing_data" and (d.measure.id, d.event["id"], d.condition) in failed)]
    return said, list(not_for_applicant.values())


def read_values(conj, facts: dict, keys: dict) -> list[tuple]:
    """(path, field, event type, value) of each field the atoms of ``conj`` read from the
    matched ``facts`` (frame key -> fact), ``keys`` mapping a pattern's name (trigger, a join
    alias, self) to its frame key; a reference reads the referred fact's field too."""
    found = []
    for atom in conj:
        if atom.op in ("ex", "nex"):
            continue
        found.append(_read(facts.get(keys.get("self")), atom.field))
        ref = atom.value
        if hasattr(ref, "alias"):
            found.append(_read(facts.get(keys.get(ref.alias, ref.alias)), ref.field))
    seen, unique = set(), []
    for read in found:  # a field two atoms test (a range) is read once
        if read is not None and read[0] not in seen:
            seen.add(read[0])
            unique.append(read)
    return unique


def _read(fact: dict | None, field_name: str) -> tuple | None:
    if fact is None:
        return None
    kind = fact.get("t")
    if kind == "app":
        return (unstated_path(None, field_name), field_name, None, fact.get(field_name))
    if kind == "inc":
        return (f"applicant/incidents/{fact['i']}/{field_name}", field_name, "incident", fact.get(field_name))
    if kind == "ev":
        event_id = fact["id"][len(EVENT_ID_PREFIX):] if fact["id"].startswith(EVENT_ID_PREFIX) else fact["id"]
        value = event_id if field_name == "id" else fact.get(field_name)  # the id as the request names it
        return (unstated_path({"id": event_id}, field_name), field_name, fact.get("type"), value)
    # an aggregate (compile.Leaner): the least or greatest value of the events that pass
    return (f"events[*]/{field_name}", field_name, None, fact.get(field_name))


def unstated_path(event: dict | None, field_name: str) -> str:
    """Where in the request the unstated field would go; an event is named by its id
    (``events[e1]/platform_type``), not its position, so that the decision does not depend on
    the order of the case's events."""
    if field_name == "hte_since":
        return "applicant/attributes/high_tech_enterprise_since"
    if field_name.startswith(APPLICANT_PREFIX):
        event, field_name = None, field_name[len(APPLICANT_PREFIX):]
    if event is None:
        return f"applicant/{field_name}" if field_name in APPLICANT_FIELDS else f"applicant/attributes/{field_name}"
    return f"events[{event['id']}]/{field_name}"


def candidate_id(version_key: str, measure_id: str, event_id: str) -> str:
    """One candidate per version, measure and triggering event."""
    return f"{version_key}|{measure_id}|{event_id}"


def candidate_order(cand: Candidate | Denial) -> tuple:
    """In-force before what-if, then the case's canonical event order: the order caps are
    claimed in, and the order of a decision's outcomes and denials."""
    return (cand.what_if, cand.event["ord"], cand.measure.id, cand.version.key)
