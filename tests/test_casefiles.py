"""Every case of every YAML case file under tests/cases/ is its own test."""
from __future__ import annotations

from collections import Counter

import pytest

from service.casefiles import load_cases, run_case

from tests.helpers import CASES_DIR, ROOT

FILES = sorted(CASES_DIR.glob("**/*.yaml"))


def _collect():
    params = []
    for path in FILES:
        for index, spec in enumerate(load_cases(path)):
            name = spec.get("name") or f"case {index}"
            params.append(pytest.param(path, spec, id=f"{path.stem}::{name}"))
    return params


CASES = _collect()


def test_case_files_exist():
    assert FILES, f"no case files under {CASES_DIR}"
    assert (CASES_DIR / "qz-htz" / "smoke.yaml") in FILES


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_case_file_is_well_formed(path):
    specs = load_cases(path)
    assert specs, f"{path} holds no case"
    names = Counter(spec.get("name") for spec in specs)
    assert None not in names, f"{path}: every case needs a name"
    duplicated = [name for name, n in names.items() if n > 1]
    assert not duplicated, f"{path}: case names repeated: {duplicated}"
    for spec in specs:
        assert "case" in spec, f"{path}: {spec['name']}: no case"
        assert ("expect" in spec) != ("errors" in spec), f"{path}: {spec['name']}: give expect or errors, not both"
        unknown = set(spec) - {"name", "case", "expect", "errors", "note"}
        assert not unknown, f"{path}: {spec['name']}: unknown keys {unknown}"
        if "expect" in spec:
            keys = set(spec["expect"] or {}) - {"outcomes", "denials", "totals", "what_if_totals", "ceiling_totals", "exact"}
            assert not keys, f"{path}: {spec['name']}: unknown expect keys {keys}"


@pytest.mark.parametrize("path,spec", CASES)
def test_case(decider, validator, path, spec):
    result = run_case(decider, validator, spec, str(path.relative_to(ROOT)))
    assert result.passed, f"{result.file}: {result.name}\n  " + "\n  ".join(result.failures)
