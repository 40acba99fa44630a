"""YAML case files, in the spirit of OpenFisca's YAML tests.

A file holds a list of cases::

    - name: a tech SME recognised as HTE gets 200,000
      case: {…the request body…}
      expect:
        outcomes: [{measure: qz-htz/2.1, event: e1, amount: "200000.00"}]
        denials: [{measure: qz-htz/2.1, event: e2, reason: outside_window}]
        totals: {CNY: "200000.00"}
        exact: true        # no outcome or denial beyond those listed
      # or, for an invalid case:
      errors: [events/0/amount]

Each expected item must match one actual item on every key it gives.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .decide import Decider
from .validate.request import CaseValidator


@dataclass
class CaseResult:
    name: str
    file: str
    failures: list

    @property
    def passed(self) -> bool:
        return not self.failures


def load_cases(path: Path) -> list[dict]:
    cases = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(cases, list):
        raise ValueError(f"{path}: a case file is a list of cases")
    return cases


def _matches(expected: dict, actual: dict) -> bool:
    for key, value in expected.items():
        if key not in actual:
            return False
        if isinstance(value, dict) and isinstance(actual[key], dict):
            if not _matches(value, actual[key]):
                return False
        elif actual[key] != value:
            return False
    return True


def check(decision: dict, expect: dict) -> list[str]:
    failures = []
    for section in ("outcomes", "denials"):
        actual = decision.get(section, [])
        used: set[int] = set()
        for item in expect.get(section, []) or []:
            index = next((i for i, a in enumerate(actual) if i not in used and _matches(item, a)), None)
            if index is None:
                failures.append(f"{section}: no match for {item}; got {[_brief(a) for a in actual]}")
            else:
                used.add(index)
        if expect.get("exact") and len(used) != len(actual):
            extra = [_brief(a) for i, a in enumerate(actual) if i not in used]
            failures.append(f"{section}: unexpected {extra}")
    for key in ("totals", "what_if_totals", "ceiling_totals"):
        if key in expect and decision.get(key) != expect[key]:
            failures.append(f"{key}: expected {expect[key]}, got {decision.get(key)}")
    return failures


def _brief(item: dict) -> dict:
    return {k: item[k] for k in ("measure", "event", "reason", "amount", "amount_max", "condition") if k in item}


def run_case(decider: Decider, validator: CaseValidator, spec: dict, file: str = "") -> CaseResult:
    case, errors = validator.validate(spec["case"])
    if "errors" in spec:
        got = sorted(e["path"] for e in errors)
        want = sorted(spec["errors"])
        failures = [] if got == want else [f"errors: expected {want}, got {got} ({errors})"]
        return CaseResult(spec["name"], file, failures)
    if errors:
        return CaseResult(spec["name"], file, [f"invalid case: {errors}"])
    decision = decider.decide(case)
    return CaseResult(spec["name"], file, check(decision, spec.get("expect") or {}))
