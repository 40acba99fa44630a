"""Read one ruleset file, check it, and refuse it with file:path: reason if bad.

Checks, in order: YAML syntax; the JSON schema (`schemas/ruleset.schema.json`);
the file's place (`<policy>/<version>.yaml`); every cited phrase present in the
source document with whitespace removed; every trigger, field, operator,
reading, formula and cap reference known.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..paths import SCHEMAS_DIR
from ..vocabulary import Vocabulary, vocabulary
from .conditions import ConditionError, Conjunction, Ref, dnf
from .figures import figure_problems
from .formula import Formula, FormulaError


class RulesetError(ValueError):
    """A ruleset file is invalid. ``problems`` holds ``(path, reason)`` pairs."""

    def __init__(self, file: Path | str, problems: list[tuple[str, str]]):
        self.file = str(file)
        self.problems = problems
        super().__init__("\n".join(f"{self.file}:{path}: {reason}" for path, reason in problems))


class _StringDates(yaml.SafeLoader):
    """YAML loader that leaves dates as the strings the auditor wrote."""


_StringDates.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@lru_cache(maxsize=1)
def _schema_validator():
    schema = json.loads((SCHEMAS_DIR / "ruleset.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def to_fen(yuan: str | Decimal) -> int:
    value = Decimal(yuan) * 100
    if value != value.to_integral_value():
        raise ValueError(f"{yuan} has fractions of a fen")
    return int(value)


RESERVED_ALIASES = ("e", "p", "b", "u", "self", "trigger", "t")
MICRO = Decimal(1_000_000)


def to_micro(text: str | Decimal) -> int:
    """A decimal (rate, share) as integer millionths: how the engine carries it."""
    value = Decimal(text) * MICRO
    if value != value.to_integral_value():
        raise ValueError(f"{text} has more than six decimals")
    return int(value)


def date_int(text: str | None) -> int:
    """``2021-12-30`` -> ``20211230``; the engine compares dates as integers."""
    return int(text.replace("-", "")) if text else 0


@dataclass(frozen=True)
class Condition:
    id: str
    cites: str
    explain: dict
    alternatives: list  # DNF of the test
    negation: list  # DNF of its negation
    on: str = "trigger"  # the pattern tested: the trigger or a join alias


@dataclass(frozen=True)
class Join:
    """Another event of the case the measure needs (a recognition, last year's ranking)."""
    alias: str
    event: str
    match: list  # DNF: which events of that type can serve (may refer to @trigger)
    missing: dict  # why not, when no event of the case matches


@dataclass(frozen=True)
class Unless:
    """An exception: the measure is not granted if the case holds such an event."""
    id: str
    event: str
    where: list  # DNF on the excepting event (may refer to @trigger and join aliases)
    explain: dict
    cites: str


@dataclass(frozen=True)
class Branch:
    """One case of an outcome whose amount depends on the facts (``outcome.cases``)."""
    when: list  # DNF on the trigger
    amount: int | None  # fen
    formula: object | None  # Formula
    note: dict | None


@dataclass(frozen=True)
class EligibilityCondition:
    id: str
    cites: str
    explain: dict
    on: str  # "applicant" or "incident"
    # applicant: the DNF of what fails; incident: the DNF of a disqualifying incident
    failing: list
    readings: tuple = ()
    holding: list = ()  # applicant: the DNF of the test itself (what must hold)


@dataclass(frozen=True)
class Measure:
    id: str
    policy: str
    article: str
    cites: str
    beneficiary: str
    trigger: str
    kind: str
    eligibility: bool
    conditions: tuple
    joins: tuple  # of Join
    unless: tuple  # of Unless
    window_anchor: str  # "self" or a join alias
    amounts: dict  # table value -> fen; {"*": fen} for a single fixed amount
    amount_by: str | None
    formula: Formula | None  # computed amount, ceiling max or obligation floor
    formula_types: dict  # formula variable -> vocabulary type (money variables are yuan)
    branches: tuple  # of Branch, when the amount depends on the facts
    split: tuple  # ({"payer": …, "share": Decimal}, …): who pays which share
    currency: str
    basis: dict | None
    readings: tuple
    handled_by: str
    payer: str
    raw: dict = field(repr=False, hash=False, compare=False, default=None)


@dataclass(frozen=True)
class Cap:
    id: str
    counts: tuple
    per: str
    amount_fen: int | None
    count: int | None
    cites: str
    reading: str | None
    policy: str
    span: int | None = None  # years: no grant within `span` years of the last one (runs do not overlap)

    def law(self) -> tuple:
        """What two files declaring this shared cap must agree on."""
        return (self.id, frozenset(self.counts), self.per, self.amount_fen, self.count, self.span)


@dataclass(frozen=True)
class StackingGroup:
    id: str
    members: tuple
    per: str
    keep: str
    cites: str
    article: str
    policy: str


@dataclass
class RulesetVersion:
    policy: str
    version: str
    status: str
    document: dict
    effective_from: int
    effective_until: int | None  # inclusive; None: no end
    scope: dict
    readings: dict
    notes: list
    eligibility: dict | None
    eligibility_conditions: list
    measures: list
    caps: list
    stacking: list
    directives: list
    sha256: str
    path: Path
    raw: dict
    # renderings that depend only on this file (per measure and language), filled on first use
    rendered: dict = field(default_factory=dict, repr=False, compare=False)
    cap_of: dict = field(default_factory=dict, repr=False, compare=False)  # measure id -> Cap
    group_of: dict = field(default_factory=dict, repr=False, compare=False)  # measure id -> StackingGroup

    revision: int = 1  # a corrected encoding of the same law version is a new revision, never an edit
    absent_facts: str = "read_as_false"  # or "missing_data": see LANGUAGE.md, "Absent is not false"
    # "per_event" (the first encodings, as their decisions were logged) or "said_once": see LANGUAGE.md
    denials: str = "per_event"
    # "in_no_zone" (an applicant that names no zone is in none, as revision 2 read it) or "missing_data"
    absent_zone: str = "in_no_zone"
    key: str = field(default="", repr=False, compare=False)  # policy@version, policy@version#rN from revision 2

    def __post_init__(self):
        self.cap_of = {mid: cap for cap in self.caps for mid in cap.counts}
        self.group_of = {mid: group for group in self.stacking for mid in group.members}
        self.key = revision_key(self.policy, self.version, self.revision)

    @property
    def law_key(self) -> str:
        """The law version this file encodes, whatever its revision."""
        return f"{self.policy}@{self.version}"

    @property
    def revision_name(self) -> str:
        """How a pin names this revision: ``<version>#r<N>`` (``Registry.get`` reads it)."""
        return f"{self.version}#r{self.revision}"

    def in_window(self, day: int) -> bool:
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)

    def window_text(self) -> str:
        until = self.raw["effective"].get("until")
        return f"{self.raw['effective']['from']} – {until or '…'}"


def revision_key(policy: str, version: str, revision: int) -> str:
    """Revision 1 keeps the key it was logged under before revisions existed."""
    return f"{policy}@{version}" if revision == 1 else f"{policy}@{version}#r{revision}"


def revision_file(policy: str, version: str, revision: int) -> Path:
    return Path(policy) / (f"{version}.yaml" if revision == 1 else f"{version}.r{revision}.yaml")


def _locate(error: jsonschema.ValidationError) -> str:
    return "/" + "/".join(str(p) for p in error.absolute_path)


def load_ruleset(path: Path, sources_dir: Path, vocab: Vocabulary | None = None, *,
                 check_figures: bool = False) -> RulesetVersion:
    """``check_figures``: also refuse every number its cited words do not state (figures.py)."""
    vocab = vocab or vocabulary()
    data_bytes = path.read_bytes()
    try:
        raw = yaml.load(data_bytes.decode("utf-8"), Loader=_StringDates)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise RulesetError(path, [("/", f"not readable YAML: {error}")]) from None
    if not isinstance(raw, dict):
        raise RulesetError(path, [("/", "a ruleset file is a mapping")])
    schema_problems = sorted(
        ((_locate(e), e.message) for e in _schema_validator().iter_errors(raw)), key=lambda p: p[0]
    )
    if schema_problems:
        raise RulesetError(path, schema_problems)
    problems: list[tuple[str, str]] = []
    checker = _Checker(raw, path, sources_dir, vocab, problems)
    version = checker.build(hashlib.sha256(data_bytes).hexdigest())
    if check_figures:
        problems.extend(figure_problems(raw, vocab))
    if problems:
        raise RulesetError(path, problems)
    return version


class _Checker:
    def __init__(self, raw, path, sources_dir, vocab, problems):
        self.raw = raw
        self.path = path
        self.vocab = vocab
        self.problems = problems
        self.policy = raw["policy"]
        source = sources_dir / raw["document"]["source"]
        if not source.is_file():
            self.problem("/document/source", f"source document {source.name} not found in {sources_dir}")
            self.source_text = None
        else:
            self.source_text = squash(source.read_text(encoding="utf-8"))
        self.readings = raw.get("readings") or {}

    def problem(self, where: str, reason: str) -> None:
        self.problems.append((where, reason))

    def cited(self, where: str, words: str | None) -> None:
        if words and self.source_text is not None and squash(words) not in self.source_text:
            self.problem(where, f"cited words not found in {self.raw['document']['source']}: {words}")

    def reading_refs(self, where: str, names) -> None:
        for name in names or ():
            if name not in self.readings:
                self.problem(where, f"unknown reading {name!r}")

    def build(self, sha256: str) -> RulesetVersion:
        raw = self.raw
        revision = raw.get("revision", 1)
        expected = revision_file(self.policy, raw["version"], revision)
        if tuple(self.path.parts[-2:]) != expected.parts:
            self.problem("/", f"file must be at {expected} (policy/version.yaml, policy/version.rN.yaml for revision N)")
        eff = raw["effective"]
        self.cited("/effective/cites", eff.get("cites"))
        for i, note in enumerate(raw.get("notes") or []):
            self.cited(f"/notes/{i}/cites", note.get("cites"))
        elig = raw.get("eligibility")
        elig_conditions = self.eligibility(elig) if elig else []
        measures = [self.measure(i, m) for i, m in enumerate(raw.get("measures") or [])]
        ids = [m.id for m in measures]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            self.problem("/measures", f"measure id {dup} appears twice")
        for m in measures:
            if not m.id.startswith(self.policy + "/"):
                self.problem("/measures", f"measure id {m.id} must start with {self.policy}/")
        caps = [self.cap(i, c) for i, c in enumerate(raw.get("caps") or [])]
        stacking = [self.group(i, g) for i, g in enumerate(raw.get("stacking") or [])]
        capped: dict[str, str] = {}
        for i, cap in enumerate(caps):
            for j, mid in enumerate(cap.counts):
                if mid in capped:
                    self.problem(f"/caps/{i}/counts/{j}", f"{mid} is counted by two caps ({capped[mid]}, {cap.id}); a measure has one cap")
                capped[mid] = cap.id
                if mid.startswith(self.policy + "/") and mid not in ids:
                    self.problem(f"/caps/{i}/counts/{j}", f"cap {cap.id} counts unknown measure {mid}")
        for i, group in enumerate(stacking):
            for j, mid in enumerate(group.members):
                if mid.startswith(self.policy + "/") and mid not in ids:
                    self.problem(f"/stacking/{i}/members/{j}", f"stacking group {group.id} names unknown measure {mid}")
        return RulesetVersion(
            policy=self.policy,
            version=raw["version"],
            status=raw["status"],
            document=raw["document"],
            effective_from=date_int(eff["from"]),
            effective_until=date_int(eff["until"]) if eff.get("until") else None,
            scope=raw.get("scope") or {},
            readings=self.readings,
            notes=raw.get("notes") or [],
            eligibility=elig,
            eligibility_conditions=elig_conditions,
            measures=measures,
            caps=caps,
            stacking=stacking,
            directives=raw.get("directives") or [],
            sha256=sha256,
            path=self.path,
            raw=raw,
            revision=revision,
            absent_facts=raw.get("absent_facts", "read_as_false"),
            denials=raw.get("denials", "per_event"),
            absent_zone=raw.get("absent_zone", "in_no_zone"),
        )

    # -- eligibility -------------------------------------------------------
    def eligibility(self, elig: dict) -> list[EligibilityCondition]:
        self.cited("/eligibility/cites", elig.get("cites"))
        out = []
        for i, cond in enumerate(elig["conditions"]):
            where = f"/eligibility/conditions/{i}"
            self.cited(f"{where}/cites", cond["cites"])
            self.reading_refs(f"{where}/readings", cond.get("readings"))
            on = "applicant" if "applicant" in cond else "incident"
            try:
                if on == "applicant":
                    failing = dnf(cond["applicant"], f"{where}/applicant", self.applicant_literal, negate=True)
                    holding = dnf(cond["applicant"], f"{where}/applicant", self.applicant_literal)
                    self.check_fields(failing, f"{where}/applicant", self.vocab.applicant_field_type)
                else:
                    failing = dnf(cond["incident"], f"{where}/incident", self.incident_literal)
                    holding = []
                    self.check_fields(failing, f"{where}/incident", lambda f: {"type": "string", "grade": "int"}.get(f))
            except ConditionError as error:
                self.problem(error.path, error.reason)
                continue
            out.append(EligibilityCondition(cond["id"], cond["cites"], cond["explain"], on, failing,
                                            tuple(cond.get("readings") or ()), holding))
        return out

    def applicant_literal(self, field_name: str, value: Any) -> Any:
        if self.vocab.applicant_field_type(field_name) == "date" and isinstance(value, str):
            return date_int(value)
        return value

    def incident_literal(self, field_name: str, value: Any) -> Any:
        if field_name == "grade":
            if value not in self.vocab.grades:
                raise ValueError(f"unknown grade {value!r}; grades are {', '.join(self.vocab.grades)}")
            return self.vocab.grade_rank(value)
        if field_name == "type" and value not in self.vocab.incident_types:
            raise ValueError(f"unknown incident type {value!r}")
        return value

    def check_fields(self, alternatives: list[Conjunction], where: str, field_type, aliases: dict | None = None) -> None:
        for conj in alternatives:
            for atom in conj:
                if field_type(atom.field) is None:
                    self.problem(where, f"unknown field {atom.field!r}")
                if isinstance(atom.value, Ref) and aliases is not None:
                    target = aliases.get(atom.value.alias)
                    if target is None:
                        self.problem(where, f"unknown reference @{atom.value.alias}")
                    elif target(atom.value.field) is None:
                        self.problem(where, f"unknown field @{atom.value.alias}.{atom.value.field}")

    # -- measures ------------------------------------------------------------
    def literal_for(self, field_type):
        """Turn a ruleset literal into what facts carry for that field."""
        def literal(field_name, value):
            kind = field_type(field_name)
            if isinstance(value, Ref) or value is None:
                return value
            if kind == "date" and isinstance(value, str):
                return date_int(value)
            if kind == "money" and isinstance(value, (str, int)) and not isinstance(value, bool):
                return to_fen(str(value))
            if kind == "decimal" and isinstance(value, (str, int)) and not isinstance(value, bool):
                return to_micro(str(value))
            return value
        return literal

    def test(self, test, where, field_type, aliases, *, negate_too=False):
        literal = self.literal_for(field_type)
        try:
            positive = dnf(test, where, literal)
            negative = dnf(test, where, literal, negate=True) if negate_too else None
        except ConditionError as error:
            self.problem(error.path, error.reason)
            return None, None
        self.check_fields(positive, where, field_type, aliases)
        return positive, negative

    def event_type_of(self, event: str):
        if event not in self.vocab.events:
            return lambda f: None
        return lambda f, t=event: self.vocab.event_field_type(t, f)

    def measure(self, i: int, m: dict) -> Measure:
        where = f"/measures/{i}"
        self.cited(f"{where}/cites", m["cites"])
        self.reading_refs(f"{where}/readings", m.get("readings"))
        trigger = m["trigger"]
        if trigger not in self.vocab.events:
            self.problem(f"{where}/trigger", f"unknown event type {trigger!r}")
        trigger_type = self.event_type_of(trigger)
        # patterns in engine order: the trigger, then each join; a pattern may refer to earlier ones
        pattern_types = {"trigger": trigger_type}
        joins = []
        raw_joins = list(m.get("joins") or []) + ([m["join"]] if m.get("join") else [])
        for k, raw in enumerate(raw_joins):
            jwhere = f"{where}/joins/{k}"
            alias = raw["alias"]
            if alias in pattern_types or alias in RESERVED_ALIASES:
                self.problem(f"{jwhere}/alias", f"alias {alias!r} is reserved or used twice")
                continue
            if raw["event"] not in self.vocab.events:
                self.problem(f"{jwhere}/event", f"unknown event type {raw['event']!r}")
            jtype = self.event_type_of(raw["event"])
            match = [()]
            if raw.get("match"):
                match, _ = self.test(raw["match"], f"{jwhere}/match", jtype, dict(pattern_types, self=jtype))
                match = match or [()]
            joins.append(Join(alias, raw["event"], match, raw["missing"]))
            pattern_types[alias] = jtype
        anchor = m.get("window_anchor", "self")
        if anchor != "self" and anchor not in pattern_types:
            self.problem(f"{where}/window_anchor", f"window_anchor {anchor!r} is neither 'self' nor a join alias")
        conditions = []
        for k, cond in enumerate(m.get("conditions") or []):
            cwhere = f"{where}/conditions/{k}"
            self.cited(f"{cwhere}/cites", cond.get("cites"))
            on = cond.get("of", "trigger")  # the event the test is about ("on" would read as a YAML boolean)
            if on not in pattern_types:
                self.problem(f"{cwhere}/of", f"unknown pattern {on!r}")
                continue
            visible = {}
            for name, ftype in pattern_types.items():  # the trigger and the joins declared up to `on`
                visible[name] = ftype
                if name == on:
                    break
            visible["self"] = pattern_types[on]
            positive, negative = self.test(cond["test"], f"{cwhere}/test", pattern_types[on], visible, negate_too=True)
            if positive is None:
                continue
            conditions.append(Condition(cond["id"], cond.get("cites", ""), cond["explain"], positive, negative, on))
        unless = []
        for k, raw in enumerate(m.get("unless") or []):
            uwhere = f"{where}/unless/{k}"
            self.cited(f"{uwhere}/cites", raw.get("cites"))
            if raw["event"] not in self.vocab.events:
                self.problem(f"{uwhere}/event", f"unknown event type {raw['event']!r}")
            utype = self.event_type_of(raw["event"])
            found, _ = self.test(raw["where"], f"{uwhere}/where", utype, dict(pattern_types, self=utype))
            if found is not None and len(found) != 1:
                # one negated pattern per exception: the engine cannot negate an alternative
                self.problem(f"{uwhere}/where", "an exception must be a single conjunction (no any, in or not-all)")
            elif found is not None:
                unless.append(Unless(raw["id"], raw["event"], found, raw["explain"], raw.get("cites", "")))
        outcome = m["outcome"]
        kind = outcome["kind"]
        amounts: dict = {}
        amount_by = None
        formula_types: dict = {}
        amount = outcome.get("amount")
        if isinstance(amount, dict):
            amount_by = amount["by"]
            spec = self.vocab.events[trigger].fields.get(amount_by) if trigger in self.vocab.events else None
            if spec is None or spec.type != "enum":
                self.problem(f"{where}/outcome/amount/by", f"{amount_by!r} is not an enum field of {trigger}")
            for key, value in amount.items():
                if key == "by":
                    continue
                if spec is not None and key not in spec.values:
                    self.problem(f"{where}/outcome/amount/{key}", f"{key!r} is not a value of {amount_by}")
                try:
                    amounts[key] = to_fen(value)
                except Exception:
                    self.problem(f"{where}/outcome/amount/{key}", f"not an amount: {value!r}")
        elif amount is not None:
            amounts["*"] = to_fen(amount)

        def formula_of(text, fwhere):
            if not text:
                return None
            try:
                parsed = Formula(text)
            except FormulaError as error:
                self.problem(fwhere, str(error))
                return None
            for name in parsed.names:
                formula_types[name] = trigger_type(name)
                if trigger_type(name) not in ("money", "int", "decimal"):
                    self.problem(fwhere, f"formula uses {name!r}, not a money, decimal or int field of {trigger}")
            return parsed

        formula = formula_of(outcome.get("formula") or outcome.get("amount_max") or outcome.get("floor"), f"{where}/outcome")
        branches = []
        for k, case in enumerate(outcome.get("cases") or []):
            bwhere = f"{where}/outcome/cases/{k}"
            when, _ = self.test(case["when"], f"{bwhere}/when", trigger_type, {"self": trigger_type})
            branches.append(Branch(when or [()], to_fen(case["amount"]) if case.get("amount") else None,
                                   formula_of(case.get("formula") or case.get("amount_max"), bwhere), case.get("note")))
        split = tuple({"payer": p["payer"], "share": Decimal(str(p["share"]))} for p in outcome.get("split") or ())
        if split and sum(p["share"] for p in split) != 1:
            self.problem(f"{where}/outcome/split", "the shares must add up to 1")
        if kind == "fixed" and not amounts and not any(b.amount is not None for b in branches):
            self.problem(f"{where}/outcome", "a fixed outcome needs an amount")
        if kind == "computed" and not formula and not branches:
            self.problem(f"{where}/outcome", "a computed outcome needs a formula")
        eligibility = m.get("eligibility")
        applies = self.raw.get("eligibility", {}).get("applies_to", []) if self.raw.get("eligibility") else []
        needs_eligibility = (eligibility != "exempt") and m["beneficiary"] in applies
        return Measure(
            id=m["id"], policy=self.policy, article=m["article"], cites=m["cites"], beneficiary=m["beneficiary"],
            trigger=trigger, kind=kind, eligibility=needs_eligibility, conditions=tuple(conditions),
            joins=tuple(joins), unless=tuple(unless), window_anchor=anchor, amounts=amounts, amount_by=amount_by,
            formula=formula, formula_types=formula_types, branches=tuple(branches), split=split,
            currency=outcome.get("currency", "CNY"), basis=outcome.get("basis"),
            readings=tuple(m.get("readings") or ()), handled_by=m.get("handled_by", ""), payer=m.get("payer", ""), raw=m,
        )

    def cap(self, i: int, c: dict) -> Cap:
        self.cited(f"/caps/{i}/cites", c.get("cites"))
        if c.get("reading"):
            self.reading_refs(f"/caps/{i}/reading", [c["reading"]])
        return Cap(c["id"], tuple(c["counts"]), c["per"], to_fen(c["amount"]) if c.get("amount") else None,
                   c.get("count"), c.get("cites", ""), c.get("reading"), self.policy, c.get("span"))

    def group(self, i: int, g: dict) -> StackingGroup:
        self.cited(f"/stacking/{i}/cites", g.get("cites"))
        return StackingGroup(g["id"], tuple(g["members"]), g["per"], g["keep"], g.get("cites", ""), g.get("article", ""), self.policy)
