"""Absent is not false: when a condition can be neither held nor failed by what the case states.

A fact reaches a ``missing_data`` version's session with only the fields the case
states. The engine fails every comparison on a field its fact lacks, so a
condition's grant rules (its alternatives) and its denial rules (its negation)
are both silent when the case leaves a field they read unstated. This module
derives the third set of rules: the condition is *unknown* — some alternative
reads an unstated field, and no other alternative holds — which the service
answers ``missing_data``, naming the field.

For an alternative ``A_i`` reading field ``f`` that may be unstated, one rule
per way the other alternatives can fail to hold::

    unstated(f) and for every j != i: (some atom of A_j is false, or a field it reads is unstated)

A rule whose tests contradict each other (a field both unstated and compared) is
dropped. When the condition is also false on the stated facts, both a
``not_eligible`` and a ``missing_data`` may be drawn; the evaluation keeps the
``not_eligible`` (run.py), which no statement of the missing field could change.
"""
from __future__ import annotations

from itertools import product
from typing import Callable

from ..rulebook.conditions import Atom, Ref, stated, unstated
from ..vocabulary import APPLICANT_PREFIX, Vocabulary

# at most this many rules per unstated field of an alternative: past it, the alternatives with the
# most ways to fail are left out of the rule (the decision is the same; a denial may then name a
# field the outcome did not need)
MAX_WAYS = 32

MayBeAbsent = Callable[[str, str], bool]  # (pattern, field) -> whether the case may leave it unstated


class Unstated:
    """Which fields of which patterns a case may leave unstated, for one version's patterns."""

    def __init__(self, vocab: Vocabulary, zone_may_be_unstated: bool = False):
        self.vocab = vocab
        # absent_zone: missing_data: an applicant that names no zone has not said it is in none
        self.zone_may_be_unstated = zone_may_be_unstated

    def of_applicant(self, field: str) -> bool:
        return (field == "zone" and self.zone_may_be_unstated) or self.vocab.applicant_field_may_be_absent(field)

    def for_patterns(self, types: dict) -> MayBeAbsent:
        """``types``: pattern name (``trigger``, a join alias) -> event type."""
        vocab, zone_field = self.vocab, (APPLICANT_PREFIX + "zone") if self.zone_may_be_unstated else None

        def may_be_absent(pattern: str, field: str) -> bool:
            return field == zone_field or vocab.event_field_may_be_absent(types[pattern], field)
        return may_be_absent


def _target(atom: Atom, pattern: str) -> tuple[str, str] | None:
    if not isinstance(atom.value, Ref):
        return None
    alias = atom.value.alias
    return (pattern if alias == "self" else alias, atom.value.field)


def reads(atom: Atom, pattern: str, may_be_absent: MayBeAbsent) -> list[tuple[str, str]]:
    """The (pattern, field) pairs an atom reads that a case may leave unstated."""
    found = []
    if atom.op not in ("ex", "nex") and may_be_absent(pattern, atom.field):
        found.append((pattern, atom.field))
    target = _target(atom, pattern)
    if target is not None and may_be_absent(*target):
        found.append(target)
    return found


def guarded(atoms: dict, may_be_absent: MayBeAbsent) -> dict | None:
    """``atoms`` (pattern -> atoms) with a ``stated`` test on every field a reference reads
    that may be unstated: the engine cannot compare with a field its fact lacks (it fails the
    whole assertion, or compares a fact with itself as if the field held). None when the
    tests contradict each other (a field both unstated and read)."""
    out = {pattern: list(tests) for pattern, tests in atoms.items()}
    for pattern, tests in atoms.items():
        for atom in tests:
            target = _target(atom, pattern)
            if target is not None and may_be_absent(*target):
                guard = stated(target[1])
                if guard not in out.setdefault(target[0], []):
                    out[target[0]].insert(0, guard)
    for pattern, tests in out.items():
        absent = {a.field for a in tests if a.op == "nex"}
        if absent and any(a.field in absent for a in tests if a.op != "nex"):
            return None
        for other, other_tests in out.items():
            for atom in other_tests:
                target = _target(atom, other)
                if target is not None and target[0] == pattern and target[1] in absent:
                    return None
    return out


def _merge(*parts: dict) -> dict:
    merged: dict[str, list] = {}
    for part in parts:
        for pattern, tests in part.items():
            bucket = merged.setdefault(pattern, [])
            bucket.extend(t for t in tests if t not in bucket)
    return merged


def _ways_not_true(alternative: tuple, on: str, may_be_absent: MayBeAbsent) -> list[dict]:
    """Each way an alternative (a conjunction) fails to hold: one of its atoms is false,
    or one field it reads is unstated."""
    ways = []
    for atom in alternative:
        ways.append({on: [atom.negated()]})
        ways += [{pattern: [unstated(field)]} for pattern, field in reads(atom, on, may_be_absent)]
    return ways


def unknown_when(alternatives: list, on: str, may_be_absent: MayBeAbsent) -> list[tuple[dict, tuple[str, str]]]:
    """The conjunctions (pattern -> atoms, guarded) under which a condition, whose
    alternatives test pattern ``on``, is unknown; each with the unstated (pattern, field) it names."""
    found: list[tuple[dict, tuple[str, str]]] = []
    seen = []
    for i, alternative in enumerate(alternatives):
        unread = []
        for atom in alternative:
            unread += [r for r in reads(atom, on, may_be_absent) if r not in unread]
        if not unread:
            continue
        others = sorted((_ways_not_true(alt, on, may_be_absent) for j, alt in enumerate(alternatives) if j != i), key=len)
        # as many of the other alternatives as fit, the cheapest first: one left out only makes the
        # rule fire more often (a missing_data beside a grant is dropped; beside a denial it is noise)
        kept, ways = [], 1
        for other in others:
            if ways * len(other) > MAX_WAYS:
                break
            kept.append(other)
            ways *= len(other)
        combos = list(product(*kept)) if kept else [()]
        for pattern, field in unread:
            for combo in combos:
                tests = guarded(_merge({pattern: [unstated(field)]}, *combo), may_be_absent)
                if tests is None:
                    continue
                key = sorted((p, sorted(map(repr, t))) for p, t in tests.items())
                if key in seen:
                    continue
                seen.append(key)
                found.append((tests, (pattern, field)))
    return found
