"""A new revision never changes the replay of a decision logged before it: every golden case,
decided by the law as it stood before revision 3 (the rulesets without the ``.r3.yaml`` files),
then replayed by the service holding revision 3, is ``identical``. Revision 3 changed how denials
are said (``denials: said_once``: one ``inapplicable`` entry, a cap's rule stated) and read an
absent zone as unknown; a decision judged under revision 2 keeps revision 2's rendering."""
from __future__ import annotations

import hashlib
import shutil

import orjson
import pytest

from service.casefiles import load_cases
from service.decide import Decider
from service.replay import replay
from service.rulebook.registry import Registry
from service.validate.request import CaseValidator

from tests.helpers import CASES_DIR, RULESETS_DIR


@pytest.fixture(scope="module")
def before_revision_3(tmp_path_factory):
    directory = tmp_path_factory.mktemp("before-r3") / "rulesets"
    shutil.copytree(RULESETS_DIR, directory)
    removed = [path for path in directory.glob("*/*.r3.yaml")]
    assert len(removed) == 3, removed
    for path in removed:
        path.unlink()
    return Decider(Registry.load(directory))


def _as_logged_before(decision: dict) -> dict:
    """What the service before revision 3 logged: no ``inapplicable`` field (a draft asked for,
    which says its denials once in both trees, aside)."""
    logged = orjson.loads(orjson.dumps(decision))
    if logged["inapplicable"] == [] or not any(r["what_if"] for r in logged["rulesets"]):
        assert logged.pop("inapplicable") == []  # no revision-2 version says a measure once
    return logged


def _golden_inputs() -> list[str]:
    inputs = []
    for path in sorted(CASES_DIR.glob("**/*.yaml")):
        for spec in load_cases(path):
            if "expect" in spec and isinstance(spec.get("case"), dict):
                inputs.append(orjson.dumps(spec["case"]).decode())
    return inputs


def test_every_golden_case_logged_under_revision_2_replays_identical(before_revision_3, decider, validator):
    old_validator = CaseValidator(before_revision_3.vocab, before_revision_3.registry)
    replayed = judged_by_r2 = 0
    different = []
    for text in _golden_inputs():
        case, errors = old_validator.validate(orjson.loads(text))
        if errors:
            continue  # a case only revision 3's validator takes (a pin of revision 3)
        logged = _as_logged_before(before_revision_3.decide(case, input_sha256=hashlib.sha256(text.encode()).hexdigest()))
        judged_by_r2 += any(r.get("revision") == 2 for r in logged["rulesets"])
        report = replay(decider, validator, text, logged)
        replayed += 1
        if report != {"status": "identical"}:
            different.append((text[:160], report["differences"][:3]))
    print(f"\n{replayed} golden cases logged before revision 3 replayed, {judged_by_r2} judged by a revision 2; "
          f"{len(different)} different")
    assert replayed > 300 and judged_by_r2 > 200
    assert not different, different[:5]


def test_the_same_cases_decided_now_differ_where_revision_3_corrects(before_revision_3, decider, validator):
    """The replay is identical because it is judged by revision 2, not because nothing changed."""
    changed = 0
    for text in _golden_inputs():
        case, errors = validator.validate(orjson.loads(text))
        if errors or case.get("options", {}).get("pin"):
            continue
        before = orjson.loads(orjson.dumps(before_revision_3.decide(case)))
        now = orjson.loads(orjson.dumps(decider.decide(case)))
        changed += (before["denials"], before["outcomes"]) != (now["denials"], now["outcomes"])
    assert changed > 20, changed
