"""Compile one ruleset version into one engine ruleset.

The chain the engine runs for a case, in two assertions:

1. applicant and incident facts → ``bar`` facts, one per eligibility condition
   that fails, in an incident's year or in every year (art. 十四 style conditions);
2. event facts → for each measure: a candidate (trigger matches, every condition
   holds, no bar in the event's year, the window anchor judged by this version),
   or the denials that explain why not (a condition fails, a bar, the window,
   drafts not requested); then, last in the same batch, a phase fact →
   ``missing_data`` for measures whose joined event is absent (negation is only
   safe once every event is in working memory).

Candidates and denials are handed to ``Evaluation`` (see run.py); caps and
stacking are settled across documents afterwards (settle/).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import product

from ..engine import Rule, Ruleset
from ..rulebook.conditions import Atom, Ref, stated, to_engine, unstated
from ..rulebook.loader import MICRO, Measure, RulesetVersion
from ..vocabulary import APPLICANT_FIELDS, APPLICANT_PREFIX, Vocabulary, vocabulary
from .facts import HTE_STATUS, Aggregate, event_defaults, ref_of as _ref, split_test as _split
from .missing import Unstated, guarded, unknown_when
from .run import Why, candidate_id, read_values

FEN = Decimal("0.01")


def _pattern(base: dict, atoms) -> dict:
    tests = [{k: v} for k, v in base.items()] + [to_engine(a) for a in atoms]
    return tests[0] if len(tests) == 1 else {"$and": tests}


@dataclass(frozen=True)
class Step:
    """One step of a derivation, tied at compile time to the rule whose action reports it:
    a condition with the alternative of its DNF the rule tests (``atoms``), a join, the
    amount's case, an eligibility condition; ``test`` as the ruleset file writes it."""
    kind: str  # eligibility | condition | join | case | unless | missing_join | zero
    id: str
    on: str  # the pattern tested: trigger, a join alias, applicant, incident
    alternative: int | None  # index in the DNF of the test (or of its negation, on a denial)
    atoms: tuple  # the conjunction the rule tests
    test: object  # as written in the ruleset
    cites: str
    explain: dict | None
    result: str  # held | failed | unknown


def _raw_test(measure: Measure, cond_id: str):
    return next((c.get("test") for c in measure.raw.get("conditions") or () if c.get("id") == cond_id), None)


def _raw_joins(measure: Measure) -> list:
    return list(measure.raw.get("joins") or []) + ([measure.raw["join"]] if measure.raw.get("join") else [])


def eligibility_steps(version: RulesetVersion, result: str = "held") -> tuple:
    """Every eligibility condition of the version, as a grant rule's negated bars hold them."""
    raw = {c["id"]: c for c in (version.raw.get("eligibility") or {}).get("conditions") or ()}
    return tuple(_eligibility_step(version, cond, None, (), raw.get(cond.id, {}), result)
                 for cond in version.eligibility_conditions)


def _eligibility_step(version, cond, k, atoms, raw: dict, result: str) -> Step:
    return Step("eligibility", cond.id, cond.on, k, tuple(atoms), raw.get(cond.on), cond.cites, cond.explain, result)


def _condition_step(measure: Measure, cond, k: int, conj, result: str) -> Step:
    return Step("condition", cond.id, cond.on, k, tuple(conj), _raw_test(measure, cond.id), cond.cites or "",
                cond.explain, result)


def _grant_steps(version: RulesetVersion, measure: Measure, labels: tuple) -> tuple:
    """The steps of one grant rule: its combination's labels (a condition's, a join's or the
    amount case's alternative), the eligibility conditions its negated bars hold, its exceptions."""
    steps = eligibility_steps(version) if measure.eligibility else ()
    raw_unless = measure.raw.get("unless") or []
    steps += tuple(labels)
    steps += tuple(Step("unless", u.id, "trigger", None, (), raw_unless[k].get("where") if k < len(raw_unless) else None,
                        u.cites or "", u.explain, "held") for k, u in enumerate(measure.unless))
    return steps


# what every event fact in a session carries: its kind, identity, type, role, and the
# year that eligibility bars join on; its date and other fields only where a rule tests them
BASE_EVENT_FIELDS = ("t", "id", "type", "year", "role")


@dataclass(frozen=True)
class EventTrim:
    """How the full fact of one event type becomes its fact in a session: only the
    fields some rule tests, the applicant's ones (``applicant_<name>``) added from the applicant."""
    sources: tuple  # (name in the session, key in the full fact) of the event's own fields
    own: tuple
    of_applicant: tuple
    defaults: dict | None  # read_as_false: what an unstated field reads as; None: it stays unstated


@dataclass(frozen=True)
class CompiledVersion:
    ruleset: Ruleset
    trims: dict  # event type -> EventTrim; an event of another type has nothing to do in the session
    fact_types: frozenset  # the ``t`` of every fact some rule's pattern tests; no other fact can match
    phase_types: frozenset  # the event types that rules waiting for the phase fact start from
    applicant_attributes: frozenset  # the applicant attributes a rule tests, on the applicant or an event fact
    reads_absent_as_default: bool  # absent_facts: read_as_false (the first encodings)
    standing: dict  # measure id -> the ids of its conditions on what the applicant is (see standing_conditions)
    zone_may_be_unstated: bool  # absent_zone: missing_data: the applicant's facts leave out a zone it did not name
    aggregates: tuple = ()  # Aggregate: the ``agg`` facts rules read instead of scanning events (aggregate_facts)


def compile_version(version: RulesetVersion, vocab: Vocabulary | None = None) -> CompiledVersion:
    vocab = vocab or vocabulary()
    tri_state = version.absent_facts == "missing_data"
    zone_may_be_unstated = tri_state and version.absent_zone == "missing_data"
    unstated_field = Unstated(vocab, zone_may_be_unstated) if tri_state else None
    if tri_state:
        _refuse_unstated_negations(version, vocab)
    rules: list[Rule] = _eligibility_rules(version, unstated_field)
    lean = Leaner()
    for measure in version.measures:
        rules += _measure_rules(version, measure, unstated_field, lean)
    rules += _shared_denial_rules(version)
    fields = {event: tuple(f for f in names if f != "role") for event, names in _event_fields(version).items()}
    trims = {}
    defaults = None if tri_state else event_defaults(vocab)
    for event, names in fields.items():
        own = tuple(f for f in names if not f.startswith(APPLICANT_PREFIX))  # at least t, id, type, year
        # hte_since: the attribute alone in the first encodings; the status from either source since
        sources = tuple((f, HTE_STATUS if f == "hte_since" and tri_state else f) for f in own)
        trims[event] = EventTrim(sources, own, tuple(f for f in names if f.startswith(APPLICANT_PREFIX)),
                                 None if defaults is None else defaults[event])
    # a rule that waits for the phase fact joins it with a trigger event first (see patterns())
    gated = [rule.condition["all"][1]["e"] for rule in rules if rule.condition["all"][0] == {"p": {"t": "ph"}}]
    if len(gated) != sum("ph" in set(_fact_types(rule.condition)) for rule in rules):
        raise ValueError(f"{version.key}: a rule tests the phase fact other than as its first pattern")
    return CompiledVersion(Ruleset(version.key, rules), trims,
                           frozenset(t for rule in rules for t in _fact_types(rule.condition)),
                           frozenset(_trigger_type(pattern) for pattern in gated),
                           _applicant_attributes(version, fields), not tri_state,
                           _standing(version), zone_may_be_unstated, tuple(lean.aggregates.values()))


def _standing(version: RulesetVersion) -> dict:
    """Only a version that says its denials once (``denials: said_once``) reports a measure
    inapplicable: an earlier one keeps the per-event denials its logged decisions hold."""
    if version.denials != "said_once":
        return {}
    return {m.id: standing for m in version.measures if (standing := standing_conditions(m))}


STANDING_FIELDS = frozenset(APPLICANT_PREFIX + name for name in APPLICANT_FIELDS)


def standing_conditions(measure: Measure) -> tuple[str, ...]:
    """The ids of the measure's conditions on the trigger that read nothing but what the applicant
    is (its kind, zone, city, zone level and type), in the measure's order: the same on every event
    of the case, so that one failing makes the measure inapplicable to the applicant, not denied
    per event. An attribute (``operates_honestly``) or an event's field is not standing."""
    return tuple(cond.id for cond in measure.conditions
                 if cond.on == "trigger" and all(atom.field in STANDING_FIELDS and not isinstance(atom.value, Ref)
                                                 for conj in cond.alternatives + cond.negation for atom in conj))


def _refuse_unstated_negations(version: RulesetVersion, vocab: Vocabulary) -> None:
    """An exception (``unless``) or a join's match that reads a field the case may leave unstated
    would take the unstated field as "no such event": absent read as false. No rule derives a
    missing_data for them, so a missing_data version may not write one."""
    found = [f"{m.id} {what} reads {atom.field} of {event}, which a case may leave unstated"
             for m in version.measures
             for what, event, alternatives in [(f"unless {u.id}", u.event, u.where) for u in m.unless]
             + [(f"join {j.alias}", j.event, j.match) for j in m.joins]
             for conj in alternatives for atom in conj if vocab.event_field_may_be_absent(event, atom.field)]
    if found:
        raise ValueError(f"{version.key}: " + "; ".join(found))


def _applicant_attributes(version: RulesetVersion, event_fields: dict) -> frozenset:
    names = {atom.field for cond in version.eligibility_conditions if cond.on == "applicant"
             for conj in cond.failing for atom in conj}
    names |= {f[len(APPLICANT_PREFIX):] for fields in event_fields.values() for f in fields if f.startswith(APPLICANT_PREFIX)}
    return frozenset(names)


def _trigger_type(pattern: dict) -> str:
    tests = pattern.get("$and", [pattern])
    types = [test["type"] for test in tests if isinstance(test.get("type"), str)]
    if len(types) != 1:
        raise ValueError(f"a gated rule's trigger pattern names no single event type: {pattern}")
    return types[0]


def _fact_types(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "t" and isinstance(value, str):
                yield value
            else:
                yield from _fact_types(value)
    elif isinstance(node, list):
        for item in node:
            yield from _fact_types(item)


def _event_fields(version: RulesetVersion) -> dict:
    """Only what rules test crosses into the engine: less to encode, parse and store."""
    used: dict[str, set] = {}

    def note(event_type: str, conjunctions, aliases: dict) -> None:
        for conj in conjunctions:
            for atom in conj:
                used.setdefault(event_type, set()).add(atom.field)
                if isinstance(atom.value, Ref):
                    target = aliases.get(atom.value.alias, event_type)
                    used.setdefault(target, set()).add(atom.value.field)

    for measure in version.measures:
        types = {"trigger": measure.trigger, "self": measure.trigger}
        types.update({j.alias: j.event for j in measure.joins})
        used.setdefault(measure.trigger, set())
        for join in measure.joins:
            note(join.event, join.match, dict(types, self=join.event))
        for cond in measure.conditions:
            on = types[cond.on]
            note(on, list(cond.alternatives) + list(cond.negation), dict(types, self=on))
        for u in measure.unless:
            note(u.event, u.where, dict(types, self=u.event))
        for branch in measure.branches:
            note(measure.trigger, branch.when, types)
        if measure.amount_by:
            used[measure.trigger].add(measure.amount_by)
    return {event: BASE_EVENT_FIELDS + tuple(sorted(fields - set(BASE_EVENT_FIELDS))) for event, fields in used.items()}


# -- stage 1: eligibility -----------------------------------------------------
EVERY_YEAR = 0  # the year of a bar drawn from what the applicant is, not from an incident
# a bar in an event's year, or in every year
BAR_PATTERNS = ({"$and": [{"t": "bar"}, {"year": {"e": "year"}}]}, {"$and": [{"t": "bar"}, {"year": EVERY_YEAR}]})

def _eligibility_rules(version: RulesetVersion, unstated_field) -> list[Rule]:
    rules = []
    for cond in version.eligibility_conditions:
        if unstated_field is not None and cond.on == "applicant":
            # what the case does not state of the applicant bars every measure as missing_data
            ways = unknown_when(cond.holding, "a", lambda pattern, name: unstated_field.of_applicant(name))
            for k, (tests, (_, field_name)) in enumerate(ways):
                rules.append(Rule(f"bar:{cond.id}:unstated:{k}", {"all": [{"a": _pattern({"t": "app"}, tests["a"])}]},
                                  _unstated_bar_action(cond.id, field_name)))
        for k, conj in enumerate(cond.failing):
            if cond.on == "applicant":
                # what the applicant is does not change with the year: one bar for every year
                condition = {"all": [{"a": _pattern({"t": "app"}, conj)}]}
                year_of = lambda frame: EVERY_YEAR  # noqa: E731
            else:
                condition = {"all": [{"i": _pattern({"t": "inc"}, conj)}]}
                year_of = lambda frame: frame["i"]["year"]  # noqa: E731
            rules.append(Rule(f"bar:{cond.id}:{k}", condition, _bar_action(cond.id, year_of, k, conj, cond.on)))
    return rules


def _unstated_bar_action(cond_id: str, field_name: str):
    def bar(session, frame):
        if session.context.tracing:
            session.context.trace_rule(f"eligibility {cond_id} unknown: the case does not state {field_name}")
        session.assert_fact({"t": "bar", "id": f"bar|{cond_id}|{EVERY_YEAR}|unstated|{field_name}", "cond": cond_id,
                             "year": EVERY_YEAR, "unstated": field_name}, idempotent=True)
    return bar


def _bar_action(cond_id: str, year_of, k: int, conj, on: str):
    frame_key = "a" if on == "applicant" else "i"

    def bar(session, frame):
        year = year_of(frame)
        context = session.context
        if context.tracing:
            context.trace_rule(f"eligibility {cond_id} fails " + (f"in {year}" if year else "in every year"))
        bar_id = f"bar|{cond_id}|{year}"
        if context.deriving and bar_id not in context.bars:
            # what the first rule to draw this bar read (the alternative of the failing DNF it tests)
            reads = read_values(conj, frame, {"self": frame_key})
            if on != "applicant":  # the incident's year is the year of the events it bars
                reads += read_values((Atom("year", "eq", None),), frame, {"self": frame_key})
            context.bars[bar_id] = {"alternative": k, "atoms": tuple(conj), "reads": reads}
        # the same bar drawn twice has the same id, so the core observes it once
        session.assert_fact({"t": "bar", "id": bar_id, "cond": cond_id, "year": year}, idempotent=True)
    return bar


# -- stage 2 and 3: measures -----------------------------------------------------
def _atoms_by_pattern(conj, on: str) -> dict:
    return {on: list(conj)}


def _merge(*parts: dict) -> dict:
    merged: dict[str, list] = {}
    for part in parts:
        for pattern, atoms in part.items():
            merged.setdefault(pattern, []).extend(atoms)
    return merged


def _measure_rules(version: RulesetVersion, measure: Measure, unstated_field: Unstated | None,
                   lean: Leaner) -> list[Rule]:
    """The grant and denial rules of one measure.

    Patterns, in engine order: ``e`` the trigger event, then each join by its
    alias (a pattern may refer only to earlier ones), then negations: no bar in
    the trigger's year, no excepting event (``unless``). Rules with negations on
    events wait for the phase fact, when every event is in working memory.
    ``unstated_field``: for a ``missing_data`` version, which fields a case may leave
    unstated; each condition then also has rules saying so (see missing.py).
    ``lean``: rewrites each rule so that its joins are hashed or read an aggregate (see Leaner).
    """
    rules: list[Rule] = []
    anchor = "trigger" if measure.window_anchor == "self" else measure.window_anchor
    gated = bool(measure.unless)
    may_be_absent = None
    if unstated_field is not None:
        may_be_absent = unstated_field.for_patterns({"trigger": measure.trigger} | {j.alias: j.event for j in measure.joins})

    def patterns(atoms: dict, *, anchor_role: str | None, extra: list | None = None, gate: bool = False) -> list | None:
        if may_be_absent is not None:
            atoms = guarded(atoms, may_be_absent)
            if atoms is None:
                return None  # contradictory tests: the rule could never fire
        out = [{"p": {"t": "ph"}}] if gate else []
        base = {"t": "ev", "type": measure.trigger}
        if anchor_role and anchor == "trigger":
            base["role"] = anchor_role
        out.append({"e": _pattern(base, atoms.get("trigger", []))})
        for join in measure.joins:
            jbase = {"t": "ev", "type": join.event}
            if anchor_role and anchor == join.alias:
                jbase["role"] = anchor_role
            out.append({join.alias: _pattern(jbase, atoms.get(join.alias, []))})
        return out + (extra or [])

    # every way the measure can be granted: one alternative of each condition, of
    # each join's match, and one amount case
    # each choice carries the Step its alternative is, for a derivation (``_step``)
    choices = [[_atoms_by_pattern(conj, c.on) | {"_step": _condition_step(measure, c, k, conj, "held")}
                for k, conj in enumerate(c.alternatives)] for c in measure.conditions]
    raw_joins = _raw_joins(measure)
    choices += [[_atoms_by_pattern(conj, j.alias) | {"_step": Step("join", j.alias, j.alias, k, tuple(conj),
                                                                  raw_joins[n].get("match"), "", None, "held")}
                 for k, conj in enumerate(j.match)] for n, j in enumerate(measure.joins)]
    if measure.amount_by:
        choices.append([{"trigger": [Atom(measure.amount_by, "eq", key)], "_case": key,
                         "_step": Step("case", key, "trigger", None, (Atom(measure.amount_by, "eq", key),),
                                       {measure.amount_by: key}, "", None, "held")} for key in measure.amounts])
    elif measure.branches:
        raw_cases = measure.raw["outcome"].get("cases") or []
        choices.append([{"trigger": list(conj), "_case": k,
                         "_step": Step("case", str(k), "trigger", j, tuple(conj), raw_cases[k].get("when"), "", None, "held")}
                        for k, b in enumerate(measure.branches) for j, conj in enumerate(b.when)])
    no_bar = [{f"b{k}$not": bar} for k, bar in enumerate(BAR_PATTERNS)] if measure.eligibility else []
    no_exception = [{f"u{k}$not": _pattern({"t": "ev", "type": u.event}, u.where[0])}
                    for k, u in enumerate(measure.unless)]
    # an amount is computed only from what the case states
    amount_inputs = _formula_inputs(measure)
    if may_be_absent is not None:
        amount_inputs = [name for name in amount_inputs if may_be_absent("trigger", name)]
        stated_inputs = {"trigger": [stated(name) for name in amount_inputs]}
    else:
        amount_inputs, stated_inputs = [], {}
    for n, combination in enumerate(product(*choices) if choices else [()]):
        merged = _merge(stated_inputs, *[{k: v for k, v in part.items() if k[0] != "_"} for part in combination])
        case = next((part["_case"] for part in combination if "_case" in part), None)
        condition = patterns(merged, anchor_role="in", extra=no_bar + no_exception, gate=gated)
        if condition is not None:
            steps = _grant_steps(version, measure, tuple(part["_step"] for part in combination))
            rules += lean.rules(f"{measure.id}:grant:{n}", {"all": condition}, _grant_action(version, measure, case, steps),
                                reads=frozenset(j.alias for j in measure.joins))
    join_match = _merge(*[{j.alias: list(j.match[0])} for j in measure.joins if len(j.match) == 1])
    standing = set(standing_conditions(measure)) if anchor == "trigger" and version.denials == "said_once" else set()
    for cond in measure.conditions:
        if cond.id in standing:
            rules += _standing_denial_rules(version, measure, cond, may_be_absent)
            continue
        for k, conj in enumerate(cond.negation):
            condition = patterns(_merge(join_match, {cond.on: list(conj)}), anchor_role="in")
            if condition is not None:
                rules += lean.rules(f"{measure.id}:deny:{cond.id}:{k}", {"all": condition},
                                    _deny_action(version, measure, "not_eligible", cond.id, cond.explain,
                                                 step=_condition_step(measure, cond, k, conj, "failed")))
    if may_be_absent is not None:
        rules += _unstated_rules(version, measure, patterns, join_match, may_be_absent, amount_inputs, lean)
    raw_unless = measure.raw.get("unless") or []
    for k, u in enumerate(measure.unless):
        rules += lean.rules(
            f"{measure.id}:deny:unless:{u.id}",
            {"all": patterns(join_match, anchor_role="in", extra=[{"u": _pattern({"t": "ev", "type": u.event}, u.where[0])}])},
            _deny_action(version, measure, "not_eligible", u.id, u.explain, cites=u.cites or None,
                         step=Step("unless", u.id, "u", 0, tuple(u.where[0]), raw_unless[k].get("where"),
                                   u.cites or "", u.explain, "failed")),
        )
    for k, join in enumerate(measure.joins):
        earlier = {"trigger": []} | {j.alias: list(j.match[0]) for j in measure.joins[:k] if len(j.match) == 1}
        # judged only where the version judges the event: an event outside the window is told so, not this
        trigger_base = {"t": "ev", "type": measure.trigger} | ({"role": "in"} if anchor == "trigger" else {})
        missing = [{"p": {"t": "ph"}}, {"e": _pattern(trigger_base, [])}]
        for j in measure.joins[:k]:
            missing.append({j.alias: _pattern({"t": "ev", "type": j.event}, earlier.get(j.alias, []))})
        missing.append({f"{join.alias}$not": _pattern({"t": "ev", "type": join.event}, join.match[0] if len(join.match) == 1 else [])})
        rules += lean.rules(f"{measure.id}:deny:missing:{join.alias}", {"all": missing},
                            _deny_action(version, measure, "missing_data", f"join:{join.alias}", join.missing,
                                         step=Step("missing_join", join.alias, join.alias, None, (),
                                                   _raw_joins(measure)[k].get("match"), "", join.missing, "unknown")))
    if anchor == "trigger":
        return rules  # its bar and window denials come from the shared rules below
    if measure.eligibility:
        for k, bar in enumerate(BAR_PATTERNS):
            rules += lean.rules(
                f"{measure.id}:deny:bar:{k}",
                {"all": patterns(join_match, anchor_role="in", extra=[{"b": bar}])},
                _bar_denial_action(version, measure),
            )
    for role, reason in (("out", "outside_window"), ("draft", "draft_not_requested")):
        rules += lean.rules(
            f"{measure.id}:deny:{role}",
            {"all": patterns(join_match, anchor_role=role)},
            _deny_action(version, measure, reason, None, None),
        )
    return rules


# a trigger event its version judges, in its window or out of it (a draft not asked for is not judged)
JUDGED = (Atom("role", "neq", "ctx"), Atom("role", "neq", "draft"))


def _standing_denial_rules(version: RulesetVersion, measure: Measure, cond, may_be_absent) -> list[Rule]:
    """A condition on what the applicant is, judged on the trigger alone: without the joins (a
    missing previous year's ranking says nothing to a measure the applicant can never have) and
    out of the window too (run.py then reports the measure inapplicable and drops its other denials)."""
    rules = []
    for k, conj in enumerate(cond.negation):
        atoms = {"trigger": list(JUDGED) + list(conj)}
        if may_be_absent is not None:
            atoms = guarded(atoms, may_be_absent)
            if atoms is None:
                continue
        pattern = {"e": _pattern({"t": "ev", "type": measure.trigger}, atoms["trigger"])}
        rules.append(Rule(f"{measure.id}:deny:{cond.id}:{k}", {"all": [pattern]},
                          _deny_action(version, measure, "not_eligible", cond.id, cond.explain,
                                       step=_condition_step(measure, cond, k, conj, "failed"))))
    return rules


def _formula_inputs(measure: Measure) -> list[str]:
    names = set(measure.formula.names) if measure.formula is not None else set()
    for branch in measure.branches:
        if branch.formula is not None:
            names |= set(branch.formula.names)
    return sorted(names)


OUTCOME = "outcome"  # the condition a missing_data denial names when the amount cannot be worked out


def _unstated_rules(version, measure, patterns, join_match: dict, may_be_absent, amount_inputs: list,
                    lean: Leaner) -> list[Rule]:
    """missing_data denials: a condition, the outcome case or an amount's input reads what the case does not state."""
    unknowns = [(cond.id, cond.explain, unknown_when(cond.alternatives, cond.on, may_be_absent))
                for cond in measure.conditions]
    if measure.amount_by:
        cases = [(Atom(measure.amount_by, "eq", key),) for key in measure.amounts]
    else:
        cases = [conj for branch in measure.branches for conj in branch.when]
    explain = {"en": "the amount of the measure depends on it", "zh": "支持金额取决于此"}
    if cases:
        unknowns.append((OUTCOME, explain, unknown_when(cases, "trigger", may_be_absent)))
    unknowns.append((OUTCOME, explain, [({"trigger": [unstated(name)]}, ("trigger", name)) for name in amount_inputs]))
    rules = []
    for cond_id, cond_explain, ways in unknowns:
        for k, (tests, missing) in enumerate(ways):
            condition = patterns(_merge(join_match, tests), anchor_role="in")
            if condition is not None:
                holder = missing[0] if _names_the_event(missing[1]) and missing[0] != "trigger" else None
                rules += lean.rules(f"{measure.id}:unstated:{cond_id}:{missing[1]}:{k}", {"all": condition},
                                    _unstated_action(version, measure, cond_id, cond_explain, missing),
                                    reads=frozenset([holder]) if holder else frozenset())
    return rules


def _names_the_event(field_name: str) -> bool:
    """Whether the path of an unstated field names its event (``events[e1]/rank``), not the
    applicant's (``hte_since``, ``applicant_<name>``): only then does the denial read the joined fact."""
    return field_name != "hte_since" and not field_name.startswith(APPLICANT_PREFIX)


def _unstated_action(version, measure, cond_id: str, explain: dict, missing: tuple[str, str]):
    frame_key = "e" if missing[0] == "trigger" else missing[0]
    field_name = missing[1]
    of_event = _names_the_event(field_name)

    cond = next((c for c in measure.conditions if c.id == cond_id), None)
    step = Step("condition" if cond else "case", cond_id, cond.on if cond else "trigger", None, (),
                _raw_test(measure, cond_id) if cond else None, (cond.cites if cond else "") or "", explain, "unknown")

    def deny(session, frame):
        context = session.context
        why = Why((step,), [[]]) if context.deriving else None
        context.denial(version, measure, frame["e"], "missing_data", cond_id, explain,
                       unstated=(frame[frame_key] if of_event else None, field_name), why=why)
    return deny


def _shared_denial_rules(version: RulesetVersion) -> list[Rule]:
    """One rule per reason, not per measure, for measures judged on their own event.

    Every engine rule costs each session its working memory, so the denials that
    depend only on the event (its window role, a bar in its year) are drawn once
    per event and fanned out to the measures that event triggers.
    """
    own = [m for m in version.measures if m.window_anchor == "self"]
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
            event = frame["e"]
            for measure in by_trigger.get(event["type"], ()):
                if measure.eligibility:
                    _deny_by_bar(session, version, measure, event, frame["b"], conditions)
        for k, bar in enumerate(BAR_PATTERNS):
            rules.append(Rule(f"eligibility:deny:{k}", {"all": [
                {"e": {"$and": [{"t": "ev"}, {"role": "in"}]}}, {"b": bar}]}, barred))
    return rules


def _value(kind: str | None, raw) -> Decimal:
    if kind == "money":
        return Decimal(raw) / 100
    if kind == "decimal":
        return Decimal(raw) / MICRO
    return Decimal(raw)


def _evaluate(measure: Measure, formula, event: dict, working: list | None = None) -> int:
    """The amount in fen; ``working``: a list to append the formula's inputs and exact result to (explain on)."""
    values = {name: _value(measure.formula_types.get(name), event.get(name, 0)) for name in formula.names}
    exact = formula(values)
    result = exact.quantize(FEN, rounding=ROUND_HALF_UP)
    if working is not None:
        working.append({"text": formula.text, "event": event["id"],
                        "inputs": [(name, measure.formula_types.get(name), values[name]) for name in formula.names],
                        "exact": exact, "rounding": "half_up_fen", "fen": int(result * 100)})
    return int(result * 100)


def _steps_read(steps: tuple, frame: dict, about) -> list:
    """The values each step's atoms read from the facts the rule matched; an eligibility
    condition, from the applicant and incident facts the session was given (``about``), none
    of which its bar rules matched."""
    reads = []
    for step in steps:
        if step.kind == "eligibility":
            reads.append(_eligibility_reads(step, about))
        elif step.kind == "join":  # which event the join matched, then what its match tested
            reads.append(read_values((Atom("id", "eq", None),) + step.atoms, frame, {"trigger": "e", "self": step.on}))
        elif step.atoms:
            on = "e" if step.on == "trigger" else step.on
            reads.append(read_values(step.atoms, frame, {"trigger": "e", "self": on}))
        else:
            reads.append([])
    return reads


def _eligibility_reads(step: Step, about) -> list:
    names = [Atom(name, "eq", None) for name in sorted(set(_fields_of(step.test)))]
    if step.on == "applicant":
        return read_values(names, {"a": about[0]}, {"self": "a"}) if about else []
    # an incident condition holds when no incident of its kind falls in the event's year
    return [read for fact in about if fact.get("t") == "inc"
            for read in read_values(names + [Atom("year", "eq", None)], {"i": fact}, {"self": "i"})]


def _fields_of(test):
    if isinstance(test, dict):
        for key, value in test.items():
            if key in ("all", "any"):
                for item in value:
                    yield from _fields_of(item)
            elif key == "not":
                yield from _fields_of(value)
            else:
                yield key


def _grant_action(version: RulesetVersion, measure: Measure, case, steps: tuple = ()):
    branch = measure.branches[case] if measure.branches and case is not None else None
    formula = branch.formula if branch else measure.formula
    fixed = branch.amount if branch else measure.amounts.get(case if measure.amount_by else "*")
    zero_denial = measure.raw["outcome"].get("deny_if_zero")
    kind = measure.kind
    aliases = tuple(j.alias for j in measure.joins)
    cid_prefix = candidate_id(version.key, measure.id, "")  # + the event's id

    def grant(session, frame):
        context = session.context
        event = context.full(frame["e"])
        working = [] if context.deriving else None
        amount = max_amount = floor = None
        if kind == "fixed":
            amount = fixed
        elif kind == "computed" or kind == "tax":
            if formula is not None:
                amount = _evaluate(measure, formula, event, working)
        elif kind == "ceiling" or kind == "competitive":
            max_amount = _evaluate(measure, formula, event, working) if formula is not None else fixed
        elif kind == "obligation" and formula is not None:
            floor = _evaluate(measure, formula, event, working)
        why = None
        if working is not None:
            why = Why(steps, _steps_read(steps, frame, context.about), working[0] if working else None)
        if amount == 0 and zero_denial is not None:
            if why is not None:
                why.steps += (Step("zero", zero_denial["id"], "trigger", None, (), None, "", zero_denial["explain"], "failed"),)
                why.reads.append([])
            context.denial(version, measure, frame["e"], "not_eligible", zero_denial["id"], zero_denial["explain"], why=why)
            return
        context.candidate(cid_prefix + event["id"], version, measure, event, [frame[a] for a in aliases] if aliases else [],
                          amount, max_amount, floor, branch, why)
    return grant


def _deny_action(version: RulesetVersion, measure: Measure, reason: str, condition: str | None, explain: dict | None,
                 cites: str | None = None, step: Step | None = None):
    """``step``: the condition (and the alternative of its negation) the rule tests, for a derivation."""
    steps = (step,) if step is not None else ()

    def deny(session, frame):
        context = session.context
        why = Why(steps, _steps_read(steps, frame, ())) if context.deriving else None
        context.denial(version, measure, frame["e"], reason, condition, explain, cites=cites, why=why)
    return deny


def _bar_denial_action(version: RulesetVersion, measure: Measure):
    conditions = {c.id: c for c in version.eligibility_conditions}

    def deny(session, frame):
        _deny_by_bar(session, version, measure, frame["e"], frame["b"], conditions)
    return deny


def _deny_by_bar(session, version, measure, event, bar: dict, conditions: dict) -> None:
    """An eligibility condition the applicant fails (not_eligible) or that the case cannot
    decide, for an attribute it does not state (missing_data)."""
    cond = conditions[bar["cond"]]
    unstated_attribute = bar.get("unstated")
    context = session.context
    why = None
    if context.deriving:
        drawn = context.bars.get(bar["id"]) or {}
        raw = next((c for c in (version.raw.get("eligibility") or {}).get("conditions") or () if c["id"] == cond.id), {})
        step = _eligibility_step(version, cond, drawn.get("alternative"), drawn.get("atoms", ()), raw,
                                 "unknown" if unstated_attribute else "failed")
        why = Why((step,), [drawn.get("reads", [])], bar={"year": bar["year"]})
    context.denial(version, measure, event, "missing_data" if unstated_attribute else "not_eligible",
                   cond.id, cond.explain, article=version.eligibility["article"], cites=cond.cites,
                   unstated=(None, unstated_attribute) if unstated_attribute else None, why=why)


# -- joins in linear time -------------------------------------------------------------
# The core hashes a join on its equality tests only: a pattern joined to the trigger by an
# inequality (``year < @trigger.year``) or by nothing at all is tested against every trigger,
# and fires once per pair. Where no action reads the joined fact (denials, exceptions, a
# missing join), what the rule asks is only whether such a fact exists; that is the minimum
# (or maximum) of the compared field over the facts that pass the pattern's own tests, one
# ``agg`` fact per value of the fields it is equal on, worked out before the session
# (``aggregate_facts``). A grant reads its joined facts; there a window of a few years
# (``year`` between two offsets of the trigger's year) becomes one rule per year.
EXPANDED_YEARS = 10  # at most this many rules per window of years; a wider one stays a range
_LOWER = {"$gte": 0, "$gt": 1}
_UPPER = {"$lte": 0, "$lt": -1}
_RANGE = {"$lt": "min", "$lte": "min", "$gt": "max", "$gte": "max"}


def _tests(pattern: dict) -> list:
    return list(pattern["$and"]) if "$and" in pattern else [pattern]


def _aliases_read(pattern) -> set:
    found = set()
    for test in _tests(pattern):
        ref = _ref(_split(test)[2])
        if ref is not None:
            found.add(ref[0])
    return found


class Leaner:
    """Rewrites a version's rules so that none joins two kinds of events by a scan; collects the
    aggregate facts the rewritten rules read."""

    def __init__(self):
        self.aggregates: dict[str, Aggregate] = {}

    def rules(self, name: str, condition: dict, action, reads: frozenset = frozenset()) -> list[Rule]:
        """The rule, with the patterns no action ``reads`` (join aliases) made aggregates; a
        pattern it reads that spans a few years, one rule per year."""
        patterns = condition["all"]
        refs = [_aliases_read(next(iter(p.values()))) for p in patterns]
        lean = []
        for k, entry in enumerate(patterns):
            ((alias, pattern),) = entry.items()
            others = set().union(*(r for j, r in enumerate(refs) if j != k))
            if alias not in ("e", "p") and alias.split("$")[0] not in reads and alias not in others:
                pattern = self._aggregated(pattern)
            lean.append({alias: pattern})
        variants = _by_year(lean, reads)
        if len(variants) == 1:
            return [Rule(name, {"all": variants[0]}, action)]
        return [Rule(f"{name}:y{k}", {"all": variant}, action) for k, variant in enumerate(variants)]

    def _aggregated(self, pattern: dict) -> dict:
        tests = _tests(pattern)
        if {"t": "ev"} not in tests:
            return pattern
        own, group, compared = [], [], []
        for test in tests:
            op, field, value = _split(test)
            ref = _ref(value)
            if ref is None or ref[0] == "$m":
                own.append(test)
            elif op == "$eq":
                group.append(test)
            elif op in _RANGE:
                compared.append((op, field, test))
            else:
                return pattern  # $neq another pattern's field: neither a minimum nor a maximum answers it
        if len(compared) > 1:
            return pattern
        types = [value for test in own for op, field, value in [_split(test)] if op == "$eq" and field == "type"]
        if len(types) != 1:
            return pattern
        field, keep = (compared[0][1], _RANGE[compared[0][0]]) if compared else (None, None)
        group_fields = tuple(_split(test)[1] for test in group)
        spec = (types[0], tuple(repr(t) for t in own), group_fields, field, keep)
        key = self._key(spec)  # the same pattern in several rules reads one fact
        self.aggregates.setdefault(key, Aggregate(key, types[0], tuple(own), group_fields, field, keep))
        return {"$and": [{"t": "agg"}, {"k": key}] + group + [test for _, _, test in compared]}

    def _key(self, spec: tuple) -> str:
        for key, aggregate in self.aggregates.items():
            if (aggregate.event_type, tuple(repr(t) for t in aggregate.tests), aggregate.group, aggregate.field,
                    aggregate.keep) == spec:
                return key
        return f"g{len(self.aggregates)}"


def _by_year(patterns: list, reads: frozenset) -> list[list]:
    """One list of patterns per year of the first read pattern whose ``year`` lies between two
    offsets of another pattern's (``{gte: "@trigger.year-2", lte: "@trigger.year"}``): equal, not
    between, the core hashes the join. Unchanged when there is none or the window is wide."""
    for k, entry in enumerate(patterns):
        ((alias, pattern),) = entry.items()
        if alias not in reads:
            continue
        tests = _tests(pattern)
        lower = upper = None
        for test in tests:
            op, field, value = _split(test)
            ref = _ref(value)
            if field != "year" or ref is None or ref[0] == "$m":
                continue
            if op in _LOWER:
                lower = (test, ref[:2], ref[2] + _LOWER[op])
            elif op in _UPPER:
                upper = (test, ref[:2], ref[2] + _UPPER[op])
        if lower is None or upper is None or lower[1] != upper[1] or not 0 <= upper[2] - lower[2] < EXPANDED_YEARS:
            continue
        (source, source_field) = lower[1]
        rest = [t for t in tests if t is not lower[0] and t is not upper[0]]
        variants = []
        for offset in range(lower[2], upper[2] + 1):
            at = {source: source_field}
            year = {"year": {"$add": {"$l": at, "$r": offset}} if offset else at}
            variants.append(patterns[:k] + [{alias: {"$and": rest + [year]}}] + patterns[k + 1:])
        return variants
    return [patterns]
