"""The condition language of ruleset files, and its translation to engine tests.

A test is a mapping ``{field: value}`` (equality) or ``{field: {op: value}}``,
combined with ``all``, ``any`` and ``not``. Values are literals or references
``@alias.field`` with an optional ``+N`` / ``-N`` offset; ``@self`` is the fact
under test. A test is normalised to disjunctive normal form: each conjunction
becomes one engine rule, because the engine's ``$or`` inside joins is the code
path of its worst bugs and one rule per alternative is easier to audit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "nin")
_NEGATE = {"eq": "neq", "neq": "eq", "gt": "lte", "lte": "gt", "lt": "gte", "gte": "lt"}
_REF = re.compile(r"^@(?P<alias>[a-z_][a-z0-9_]*)\.(?P<field>[a-z_][a-z0-9_]*)(?P<offset>[+-]\d+)?$")


class ConditionError(ValueError):
    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Ref:
    alias: str
    field: str
    offset: int = 0


@dataclass(frozen=True)
class Atom:
    field: str
    op: str  # one of eq neq gt gte lt lte
    value: Any  # literal or Ref

    def negated(self) -> "Atom":
        return Atom(self.field, _NEGATE[self.op], self.value)


Conjunction = tuple  # tuple[Atom, ...]


def parse_value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        match = _REF.match(value)
        if not match:
            raise ValueError(f"bad reference {value!r}")
        return Ref(match["alias"], match["field"], int(match["offset"] or 0))
    return value


def dnf(test: Any, path: str, literal: Callable[[str, Any], Any] = lambda f, v: v, negate: bool = False) -> list[Conjunction]:
    """Return ``test`` (or its negation) as a list of alternative conjunctions.

    ``literal(field, value)`` lets the caller translate vocabulary values
    (ordered grades, dates) into what facts carry.
    """
    if not isinstance(test, dict) or not test:
        raise ConditionError(path, "a test must be a non-empty mapping")
    parts: list[list[Conjunction]] = []
    for key, value in test.items():
        here = f"{path}/{key}"
        if key == "all":
            sub = [dnf(t, f"{here}/{i}", literal, negate) for i, t in enumerate(_as_list(value, here))]
            parts.append(_or(sub) if negate else _and(sub))
        elif key == "any":
            sub = [dnf(t, f"{here}/{i}", literal, negate) for i, t in enumerate(_as_list(value, here))]
            parts.append(_and(sub) if negate else _or(sub))
        elif key == "not":
            parts.append(dnf(value, here, literal, not negate))
        else:
            parts.append(_field_test(key, value, here, literal, negate))
    # the keys of one mapping are a conjunction
    return _or(parts) if negate else _and(parts)


def _as_list(value: Any, path: str) -> list:
    if not isinstance(value, list) or not value:
        raise ConditionError(path, "expected a non-empty list of tests")
    return value


def _field_test(field: str, spec: Any, path: str, literal, negate: bool) -> list[Conjunction]:
    ops = spec if isinstance(spec, dict) else {"eq": spec}
    alternatives: list[list[Conjunction]] = []
    for op, raw in ops.items():
        if op not in OPS:
            raise ConditionError(f"{path}/{op}", f"unknown operator; expected one of {', '.join(OPS)}")
        try:
            if op in ("in", "nin"):
                values = [literal(field, parse_value(v)) for v in _as_list(raw, f"{path}/{op}")]
                if (op == "in") != negate:  # some value equals
                    alternatives.append(_or([[(Atom(field, "eq", v),)] for v in values]))
                else:  # no value equals
                    alternatives.append(_and([[(Atom(field, "neq", v),)] for v in values]))
                continue
            atom = Atom(field, op, literal(field, parse_value(raw)))
        except ValueError as error:
            raise ConditionError(f"{path}/{op}", str(error)) from None
        alternatives.append([((atom.negated() if negate else atom),)])
    return _or(alternatives) if negate else _and(alternatives)


def _and(parts: list[list[Conjunction]]) -> list[Conjunction]:
    result: list[Conjunction] = [()]
    for alternatives in parts:
        result = [left + right for left in result for right in alternatives]
    return _absorb([_dedupe(c) for c in result])


def _or(parts: list[list[Conjunction]]) -> list[Conjunction]:
    seen: list[Conjunction] = []
    for alternatives in parts:
        for conj in alternatives:
            if conj not in seen:
                seen.append(conj)
    return _absorb(seen)


def _absorb(alternatives: list[Conjunction]) -> list[Conjunction]:
    """Drop alternatives implied by a shorter one: (a) or (a and b) is (a)."""
    kept = []
    for conj in alternatives:
        if not any(set(other) < set(conj) for other in alternatives):
            kept.append(conj)
    return kept


def _dedupe(conj: Conjunction) -> Conjunction:
    out: list[Atom] = []
    for atom in conj:
        if atom not in out:
            out.append(atom)
    return tuple(out)


def stated(field: str) -> Atom:
    """The fact states this field (an engine-side test, not a ruleset operator)."""
    return Atom(field, "ex", None)


def unstated(field: str) -> Atom:
    return Atom(field, "nex", None)


def to_engine(atom: Atom) -> dict:
    """One atom as a durable-rules JSON test."""
    if atom.op in ("ex", "nex"):
        return {f"${atom.op}": {atom.field: 1}}
    value = atom.value
    if isinstance(value, Ref):
        source = {"self": "$m", "trigger": "e"}.get(value.alias, value.alias)
        target: Any = {source: value.field}
        if value.offset:
            target = {"$add": {"$l": target, "$r": value.offset}}
        value = target
    if atom.op == "eq":
        return {atom.field: value}
    return {f"${atom.op}": {atom.field: value}}
