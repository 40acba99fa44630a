"""Compile one ruleset version into one engine ruleset.

The chain the engine runs for a case, in three assertions:

1. applicant, incident and year facts → ``bar`` facts, one per eligibility
   condition that fails in a year (art. 十四 style conditions);
2. event facts → for each measure: a candidate (trigger matches, every condition
   holds, no bar in the event's year, the window anchor judged by this version),
   or the denials that explain why not (a condition fails, a bar, the window,
   drafts not requested);
3. a phase fact → ``missing_data`` for measures whose joined event is absent
   (negation is only safe once every event is in working memory).

Candidates and denials are handed to ``Evaluation`` (see run.py); caps and
stacking are settled across documents afterwards (settle/).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import product

from ..engine import Rule, Ruleset
from ..rulebook.conditions import Atom, Ref, to_engine
from ..rulebook.loader import Measure, RulesetVersion

FEN = Decimal("0.01")


def _pattern(base: dict, atoms) -> dict:
    tests = [{k: v} for k, v in base.items()] + [to_engine(a, "self") for a in atoms]
    return tests[0] if len(tests) == 1 else {"$and": tests}


def _conjoin(condition_alternatives: list[list[tuple]]) -> list[tuple]:
    """All conditions hold: the product of their alternatives."""
    if not condition_alternatives:
        return [()]
    return [sum(choice, ()) for choice in product(*condition_alternatives)]


BASE_EVENT_FIELDS = ("t", "id", "type", "date", "year", "role", "ord")


@dataclass(frozen=True)
class CompiledVersion:
    ruleset: Ruleset
    event_fields: dict  # event type -> the fields its rules test; facts carry no others


def compile_version(version: RulesetVersion) -> CompiledVersion:
    rules: list[Rule] = _eligibility_rules(version)
    for measure in version.measures:
        rules += _measure_rules(version, measure)
    rules += _shared_denial_rules(version)
    return CompiledVersion(Ruleset(f"{version.policy}@{version.version}", rules), _event_fields(version))


def _event_fields(version: RulesetVersion) -> dict:
    """Only what rules test crosses into the engine: less to encode, parse and store."""
    used: dict[str, set] = {}
    for measure in version.measures:
        mine = used.setdefault(measure.trigger, set())
        aliases = {"self": mine, "e": mine}
        if measure.join:
            aliases[measure.join["alias"]] = used.setdefault(measure.join["event"], set())
        for cond in measure.conditions:
            for conj in list(cond.alternatives) + list(cond.negation):
                for atom in conj:
                    mine.add(atom.field)
                    if isinstance(atom.value, Ref):
                        aliases[atom.value.alias].add(atom.value.field)
        if measure.amount_by:
            mine.add(measure.amount_by)
        if measure.formula:
            mine.update(measure.formula.names)
    return {event: BASE_EVENT_FIELDS + tuple(sorted(fields - set(BASE_EVENT_FIELDS))) for event, fields in used.items()}


# -- stage 1: eligibility -----------------------------------------------------
def _eligibility_rules(version: RulesetVersion) -> list[Rule]:
    rules = []
    for cond in version.eligibility_conditions:
        for k, conj in enumerate(cond.failing):
            if cond.on == "applicant":
                condition = {"all": [{"a": _pattern({"t": "app"}, conj)}, {"y": {"t": "yr"}}]}
                year_of = lambda frame: frame["y"]["year"]  # noqa: E731
            else:
                condition = {"all": [{"i": _pattern({"t": "inc"}, conj)}]}
                year_of = lambda frame: frame["i"]["year"]  # noqa: E731
            rules.append(Rule(f"bar:{cond.id}:{k}", condition, _bar_action(cond.id, year_of)))
    return rules


def _bar_action(cond_id: str, year_of):
    def bar(session, frame):
        year = year_of(frame)
        if session.context.tracing:
            session.context.trace_rule(f"eligibility {cond_id} fails in {year}")
        session.assert_fact({"t": "bar", "cond": cond_id, "year": year}, idempotent=True)
    return bar


# -- stage 2 and 3: measures -----------------------------------------------------
def _measure_rules(version: RulesetVersion, measure: Measure) -> list[Rule]:
    rules: list[Rule] = []
    trig = {"t": "ev", "type": measure.trigger}
    join = measure.join
    anchor_is_self = measure.window_anchor == "self"

    def patterns(trigger_atoms, *, anchor_role: str | None, extra: list | None = None):
        """The ``all`` list: the joined event first, so the trigger can refer to it."""
        out = []
        if join:
            jbase = {"t": "ev", "type": join["event"]}
            if anchor_role and not anchor_is_self:
                jbase["role"] = anchor_role
            out.append({join["alias"]: _pattern(jbase, [])})
        base = dict(trig)
        if anchor_role and anchor_is_self:
            base["role"] = anchor_role
        out.append({"e": _pattern(base, trigger_atoms)})
        return out + (extra or [])

    tables = [(key, [Atom(measure.amount_by, "eq", key)]) for key in measure.amounts] if measure.amount_by else [(None, [])]
    alternatives = _conjoin([list(c.alternatives) for c in measure.conditions])
    no_bar = [{"b$not": {"$and": [{"t": "bar"}, {"year": {"e": "year"}}]}}] if measure.eligibility else []
    # no_bar must follow "e": the engine resolves references to earlier patterns only
    for (key, table_atoms), (k, conj) in product(tables, enumerate(alternatives)):
        rules.append(Rule(
            f"{measure.id}:grant:{key or '-'}:{k}",
            {"all": patterns(list(conj) + table_atoms, anchor_role="in") + no_bar},
            _grant_action(version, measure, key),
        ))
    for cond in measure.conditions:
        for k, conj in enumerate(cond.negation):
            rules.append(Rule(
                f"{measure.id}:deny:{cond.id}:{k}",
                {"all": patterns(list(conj), anchor_role="in")},
                _deny_action(version, measure, "not_eligible", cond.id, cond.explain),
            ))
    if not join:
        return rules  # its bar and window denials come from the shared rules below
    if measure.eligibility:
        rules.append(Rule(
            f"{measure.id}:deny:bar",
            {"all": patterns([], anchor_role="in", extra=[{"b": {"$and": [{"t": "bar"}, {"year": {"e": "year"}}]}}])},
            _bar_denial_action(version, measure),
        ))
    for role, reason in (("out", "outside_window"), ("draft", "draft_not_requested")):
        rules.append(Rule(
            f"{measure.id}:deny:{role}",
            {"all": patterns([], anchor_role=role)},
            _deny_action(version, measure, reason, None, None),
        ))
    if join:
        rules.append(Rule(
            f"{measure.id}:deny:missing",
            {"all": [{"p": {"t": "ph"}}, {"e": _pattern(trig, [])},
                     {"j$not": {"$and": [{"t": "ev"}, {"type": join["event"]}]}}]},
            _deny_action(version, measure, "missing_data", f"join:{join['alias']}", join["missing"]),
        ))
    return rules


def _shared_denial_rules(version: RulesetVersion) -> list[Rule]:
    """One rule per reason, not per measure, for measures judged on their own event.

    Every engine rule costs each session its working memory, so the denials that
    depend only on the event (its window role, a bar in its year) are drawn once
    per event and fanned out to the measures that event triggers.
    """
    own = [m for m in version.measures if not m.join]
    by_trigger: dict[str, list[Measure]] = {}
    for measure in own:
        by_trigger.setdefault(measure.trigger, []).append(measure)
    conditions = {c.id: c for c in version.eligibility_conditions}
    rules = []
    for role, reason in (("out", "outside_window"), ("draft", "draft_not_requested")):
        def window(session, frame, reason=reason):
            event = frame["e"]
            for measure in by_trigger.get(event["type"], ()):
                session.context.denial(version, measure, event, reason, None, None)
        rules.append(Rule(f"window:{role}", {"all": [{"e": {"$and": [{"t": "ev"}, {"role": role}]}}]}, window))
    if any(m.eligibility for m in own):
        def barred(session, frame):
            event, cond = frame["e"], conditions[frame["b"]["cond"]]
            for measure in by_trigger.get(event["type"], ()):
                if measure.eligibility:
                    session.context.denial(version, measure, event, "not_eligible", cond.id, cond.explain,
                                           article=version.eligibility["article"], cites=cond.cites)
        rules.append(Rule("eligibility:deny", {"all": [
            {"e": {"$and": [{"t": "ev"}, {"role": "in"}]}},
            {"b": {"$and": [{"t": "bar"}, {"year": {"e": "year"}}]}}]}, barred))
    return rules


def _money(fen: int) -> Decimal:
    return Decimal(fen) / 100


def _evaluate(measure: Measure, event: dict) -> int:
    values = {}
    for name in measure.formula.names:
        raw = event.get(name, 0)
        values[name] = _money(raw) if measure.formula_types.get(name) == "money" else Decimal(raw)
    result = measure.formula(values).quantize(FEN, rounding=ROUND_HALF_UP)
    return int(result * 100)


def _grant_action(version: RulesetVersion, measure: Measure, table_key: str | None):
    def grant(session, frame):
        event = frame["e"]
        anchor = frame.get(measure.join["alias"]) if measure.join else None
        amount = max_amount = floor = None
        if measure.kind == "fixed":
            amount = measure.amounts[table_key or "*"]
        elif measure.kind == "computed":
            amount = _evaluate(measure, event)
        elif measure.kind in ("ceiling", "competitive"):
            max_amount = _evaluate(measure, event) if measure.formula else measure.amounts.get(table_key or "*")
        elif measure.kind == "obligation" and measure.formula:
            floor = _evaluate(measure, event)
        session.context.candidate(version, measure, event, anchor, amount, max_amount, floor, table_key)
    return grant


def _deny_action(version: RulesetVersion, measure: Measure, reason: str, condition: str | None, explain: dict | None):
    def deny(session, frame):
        session.context.denial(version, measure, frame["e"], reason, condition, explain)
    return deny


def _bar_denial_action(version: RulesetVersion, measure: Measure):
    conditions = {c.id: c for c in version.eligibility_conditions}

    def deny(session, frame):
        cond = conditions[frame["b"]["cond"]]
        session.context.denial(version, measure, frame["e"], "not_eligible", cond.id, cond.explain,
                               article=version.eligibility["article"], cites=cond.cites)
    return deny
