"""Every case of every YAML case file under tests/cases/ is its own test; then the
checker itself (service/casefiles.py), which must be able to fail."""
from __future__ import annotations

from collections import Counter

import pytest

from service.casefiles import check, evaluate_case, is_refused, load_cases, refusals, run_case

from tests.helpers import CASES_DIR, GOOD_ATTRIBUTES, ROOT

FILES = sorted(CASES_DIR.glob("**/*.yaml"))
SPEC_KEYS = {"name", "case", "expect", "errors", "note", "xfail", "documents"}
EXPECT_KEYS = {"outcomes", "denials", "inapplicable", "totals", "what_if_totals", "ceiling_totals", "exact", "why"}


def _event_count(spec: dict) -> int:
    events = (spec.get("case") or {}).get("events")
    return len(events) if isinstance(events, list) else 0


def _collect():
    params = []
    for path in FILES:
        for index, spec in enumerate(load_cases(path)):
            name = spec.get("name") or f"case {index}"
            marks = [pytest.mark.xfail(reason=str(spec["xfail"]), strict=True)] if "xfail" in spec else []
            params.append(pytest.param(path, spec, id=f"{path.stem}::{name}", marks=marks))
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
        unknown = set(spec) - SPEC_KEYS
        assert not unknown, f"{path}: {spec['name']}: unknown keys {unknown}"
        if "xfail" in spec:
            assert isinstance(spec["xfail"], str) and spec["xfail"].strip(), \
                f"{path}: {spec['name']}: xfail gives the reason the service is wrong"
        if "expect" in spec:
            expect = spec["expect"] or {}
            keys = set(expect) - EXPECT_KEYS
            assert not keys, f"{path}: {spec['name']}: unknown expect keys {keys}"
            # checked here too, so that an xfail mark cannot hide a refused expectation
            problems = refusals(expect, _event_count(spec))
            assert not problems, f"{path}: {spec['name']}: " + "; ".join(problems)


@pytest.mark.parametrize("path,spec", CASES)
def test_case(decider, validator, path, spec):
    result = evaluate_case(decider, validator, spec, str(path.relative_to(ROOT)))
    assert result.passed, f"{result.file}: {result.name}\n  " + "\n  ".join(result.failures)


# --- the checker ------------------------------------------------------------------------------

GRANT = {"measure": "qz-htz/2.1", "event": "e1", "kind": "fixed", "amount": "200000.00"}
PLATFORM = {"measure": "qz-htz/4", "event": "e2", "kind": "fixed", "amount": "1000000.00"}
LATE = {"measure": "qz-htz/2.1", "event": "e2", "reason": "outside_window"}
OTHER_DOC = {"measure": "gx-htz/12.1", "event": "e1", "reason": "not_eligible", "condition": "new_enterprise"}


NOT_NATIONAL = {"measure": "gx-htz/23.1", "policy": "gx-htz", "condition": "national_zone", "events": ["r21", "r22"],
                "what_if": False}


def _decision(outcomes=(), denials=(), inapplicable=()):
    return {"outcomes": list(outcomes), "denials": list(denials), "inapplicable": list(inapplicable), "totals": {}}


def test_a_listed_outcome_passes():
    decision = _decision([GRANT], [LATE])
    assert check(decision, {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}],
                            "denials": [{"measure": "qz-htz/2.1", "event": "e2", "reason": "outside_window"}]}) == []


def test_an_extra_outcome_fails_a_default_case():
    failures = check(_decision([GRANT, PLATFORM]), {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}]})
    assert len(failures) == 1 and "unexpected" in failures[0] and "qz-htz/4" in failures[0]


def test_empty_outcomes_fail_when_the_decision_has_an_outcome():
    failures = check(_decision([GRANT]), {"outcomes": [], "denials": [{"measure": "qz-htz/4", "event": "e1"}]})
    assert failures and "qz-htz/2.1" in failures[0]


def test_an_extra_denial_of_a_named_measure_fails():
    failures = check(_decision([GRANT], [LATE]), {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}]})
    assert len(failures) == 1 and "denials: unexpected" in failures[0] and "outside_window" in failures[0]


def test_an_extra_denial_of_an_unnamed_measure_is_not_checked():
    assert check(_decision([GRANT], [OTHER_DOC]), {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}]}) == []


def test_without_outcomes_key_an_outcome_of_a_named_measure_fails():
    failures = check(_decision([GRANT], [LATE]),
                     {"denials": [{"measure": "qz-htz/2.1", "event": "e2", "reason": "outside_window"}]})
    assert len(failures) == 1 and "outcomes: unexpected" in failures[0]
    # … while an outcome of a measure it does not name is not checked
    assert check(_decision([PLATFORM], [LATE]),
                 {"denials": [{"measure": "qz-htz/2.1", "event": "e2", "reason": "outside_window"}]}) == []


def test_exact_true_checks_every_denial():
    expect = {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}], "exact": True}
    failures = check(_decision([GRANT], [OTHER_DOC]), expect)
    assert len(failures) == 1 and "gx-htz/12.1" in failures[0]


def test_exact_false_checks_only_the_listed_items():
    expect = {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}], "exact": False, "why": "a test"}
    assert check(_decision([GRANT, PLATFORM], [LATE]), expect) == []
    assert check(_decision([PLATFORM]), expect), "a listed item that is absent still fails"


def test_a_loose_item_does_not_rob_a_stricter_one():
    twice = [dict(GRANT), dict(GRANT, amount="0.00")]
    expect = {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"},
                           {"measure": "qz-htz/2.1", "event": "e1", "amount": "200000.00"}]}
    assert check(_decision(twice), expect) == []


def test_exact_false_without_why_is_refused():
    expect = {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}], "exact": False}
    assert any("why" in problem for problem in refusals(expect, 1))
    assert refusals(dict(expect, why="the engine's trace order is not stable"), 1) == []
    assert refusals(dict(expect, exact=None, why="no exact: false"), 1)


def test_a_listed_inapplicable_entry_passes():
    decision = _decision([GRANT], [], [NOT_NATIONAL])
    expect = {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}],
              "inapplicable": [{"measure": "gx-htz/23.1", "condition": "national_zone", "events": ["r21", "r22"]}]}
    assert check(decision, expect) == []


def test_an_inapplicable_entry_must_match_its_events_and_condition():
    decision = _decision([], [], [NOT_NATIONAL])
    failures = check(decision, {"inapplicable": [{"measure": "gx-htz/23.1", "events": ["r22"]}]})
    assert failures and "inapplicable: no match" in failures[0]
    failures = check(decision, {"inapplicable": [{"measure": "gx-htz/23.1", "condition": "regional_zone"}]})
    assert failures and "inapplicable: no match" in failures[0]


def test_an_expected_inapplicable_entry_that_the_decision_lacks_fails():
    failures = check(_decision([], [dict(OTHER_DOC, measure="gx-htz/23.1")]),
                     {"inapplicable": [{"measure": "gx-htz/23.1", "condition": "national_zone"}]})
    assert any("inapplicable: no match" in f for f in failures)
    assert any("denials: unexpected" in f for f in failures), "the measure named: its denial must be listed"


def test_an_unlisted_inapplicable_entry_of_a_named_measure_fails():
    # a case that names gx-htz/23.1 (here by a denial) accounts for its inapplicable entry too
    failures = check(_decision([], [dict(OTHER_DOC, measure="gx-htz/23.1", event="n1")], [NOT_NATIONAL]),
                     {"denials": [{"measure": "gx-htz/23.1", "event": "n1"}]})
    assert len(failures) == 1 and "inapplicable: unexpected of a measure the case names" in failures[0]


def test_an_inapplicable_entry_of_an_unnamed_measure_is_not_checked():
    assert check(_decision([GRANT], [], [NOT_NATIONAL]), {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}]}) == []


def test_exact_true_checks_every_inapplicable_entry():
    expect = {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}], "exact": True}
    failures = check(_decision([GRANT], [], [NOT_NATIONAL]), expect)
    assert len(failures) == 1 and "inapplicable: unexpected" in failures[0] and "gx-htz/23.1" in failures[0]
    assert check(_decision([GRANT]), dict(expect, inapplicable=[])) == []


def test_an_inapplicable_item_needs_a_measure_but_no_event():
    assert refusals({"inapplicable": [{"condition": "national_zone"}]}, 2)
    assert refusals({"inapplicable": [{"measure": "gx-htz/23.1"}]}, 5) == []


@pytest.mark.parametrize("expect", [
    {},
    {"totals": {"CNY": "200000.00"}},
    {"denials": []},
    {"inapplicable": []},
    {"exact": True},
], ids=["empty", "totals-only", "empty-denials", "empty-inapplicable", "exact-only"])
def test_an_expectation_that_asserts_nothing_is_refused(expect):
    assert refusals(expect, 1)


@pytest.mark.parametrize("item", [{"event": "e1"}, {"reason": "not_eligible"}, {"measure": "qz-htz/2.1"}],
                         ids=["no-measure", "nothing-but-reason", "no-event-of-two"])
def test_an_item_that_could_match_anything_is_refused(item):
    assert refusals({"denials": [item]}, 2)


def test_an_item_without_event_is_accepted_in_a_one_event_case():
    assert refusals({"outcomes": [{"measure": "qz-htz/2.1"}]}, 1) == []


def _qz_spec(expect, **extra):
    case = {"applicant": {"kind": "enterprise", "zone": "qinzhou-htz", "city": "qinzhou",
                          "attributes": dict(GOOD_ATTRIBUTES)},
            "events": [{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}]}
    return {"name": "t", "case": case, "expect": expect, **extra}


def test_a_real_decision_with_an_outcome_fails_outcomes_empty(decider, validator):
    result = evaluate_case(decider, validator, _qz_spec({"outcomes": []}))
    assert not result.passed and "qz-htz/2.1" in result.failures[0]
    assert run_case(decider, validator, _qz_spec({"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}]})).passed


def test_a_refused_expectation_fails_before_any_decision(decider, validator):
    result = run_case(decider, validator, _qz_spec({"totals": {"CNY": "200000.00"}}))
    assert not result.passed and result.failures[0].startswith("refused: ")


def test_xfail_passes_while_the_case_fails_and_fails_once_it_passes(decider, validator):
    failing = run_case(decider, validator, _qz_spec({"outcomes": []}, xfail="the law grants nothing here"))
    assert failing.passed and failing.xfailed
    passing = run_case(decider, validator, _qz_spec({"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}]},
                                                    xfail="stale mark"))
    assert not passing.passed and "remove the mark" in passing.failures[0]


def test_xfail_never_excuses_a_refused_expectation(decider, validator):
    result = run_case(decider, validator, _qz_spec({"totals": {}}, xfail="hides nothing"))
    assert not result.passed and result.failures[0].startswith("refused: ")


# --- documents: the documents a case file's expectations speak for ----------------------------

def _spec(documents, expect):
    case = {"applicant": {"kind": "enterprise", "zone": "qinzhou-htz", "attributes": dict(GOOD_ATTRIBUTES)},
            "events": [{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}]}
    return {"name": "t", "case": case, "expect": expect, "documents": documents}


def test_documents_leave_out_the_other_documents_only(decider, validator):
    grant_only = {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1", "amount": "200000.00"}], "exact": True}
    assert evaluate_case(decider, validator, _spec(["qz-htz"], grant_only)).passed
    # the qz-htz outcome is still checked: scoped to qz-htz, an empty list fails
    assert not evaluate_case(decider, validator, _spec(["qz-htz"], {"outcomes": [], "exact": True})).passed


@pytest.mark.parametrize("documents", [["qz-hzt"], [], "qz-htz", [1]])
def test_documents_that_would_filter_everything_away_are_refused(decider, validator, documents):
    result = evaluate_case(decider, validator, _spec(documents, {"outcomes": [], "exact": True}))
    assert is_refused(result), result.failures


def test_defaults_documents_must_be_a_list(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- defaults: {documents: qz-htz}\n- {name: x, case: {}, expect: {outcomes: []}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="documents"):
        load_cases(path)
