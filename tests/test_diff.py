"""``python -m service diff``: the impact of a rule change over a corpus of cases.

The real qz-htz@2021-12-30 against a copy in a tmp directory in which art. 四
gives a national platform 1,200,000 instead of 1,000,000: exactly the cases
with a (granted) national platform change, by 200,000 per platform."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from service.cli import main

from tests.helpers import CASES_DIR, QZ_CURRENT, RULESETS_DIR, qz_case

REF = "qz-htz@2021-12-30"


@pytest.fixture(scope="module")
def changed_rulesets(tmp_path_factory):
    # every policy, as gx-htz also judges a Qinzhou HTZ case: only art. 四 differs between the sides
    root = tmp_path_factory.mktemp("rulesets-v2") / "rulesets"
    shutil.copytree(RULESETS_DIR, root)
    text = QZ_CURRENT.read_text(encoding="utf-8")
    old = 'national: "1000000.00"'
    assert text.count(old) == 1
    (root / "qz-htz" / QZ_CURRENT.name).write_text(text.replace(old, 'national: "1200000.00"'), encoding="utf-8")
    return root


def _platform(event_id, level, date="2024-06-01"):
    return {"id": event_id, "type": "platform_recognized", "date": date, "level": level}


def _hte(event_id="e1"):
    return {"id": event_id, "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}


CORPUS = [
    qz_case([_platform("p1", "national")], case_id="A"),
    qz_case([_platform("p1", "national"), _platform("p2", "regional"), _platform("p3", "national", "2024-09-01"), _hte()],
            case_id="B"),
    qz_case([_platform("p1", "regional")], case_id="C"),
    qz_case([_hte()], case_id="D"),
    qz_case([_platform("p1", "regional")], attributes={"fits_industrial_policy": False}, case_id="G"),
    qz_case([{"id": "x", "type": "nonsense", "date": "2024-01-01"}], case_id="INVALID"),
]


@pytest.fixture(scope="module")
def corpus_jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "cases.jsonl"
    path.write_text("".join(json.dumps(case, ensure_ascii=False) + "\n" for case in CORPUS), encoding="utf-8")
    return path


def _diff(capsys, *args) -> tuple[int, str, str]:
    code = main(["diff", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _report(capsys, cases, rulesets) -> dict:
    code, out, err = _diff(capsys, "--from", REF, "--to", REF, "--to-rulesets", str(rulesets), "--cases", str(cases), "--json")
    assert code == 0, err
    return json.loads(out)


def _check(report: dict) -> None:
    assert report["from"]["version"] == report["to"]["version"] == "2021-12-30"
    assert (report["cases"], report["decided"], report["changed"], report["unchanged"]) == (6, 5, 2, 3)
    [failed] = report["failed"]
    assert failed["index"] == 5 and failed["from"]["status"] == failed["to"]["status"] == 400

    measures = {m["measure"]: m for m in report["measures"]}
    assert measures["qz-htz/4"] == {
        "measure": "qz-htz/4", "changed_cases": 2, "gained": 0, "lost": 0, "amount_changed": 3, "denial_changed": 0,
        "money": {"CNY": {"before": "3400000.00", "after": "4000000.00", "change": "600000.00"}},
    }
    assert measures["qz-htz/2.1"]["changed_cases"] == 0
    assert measures["qz-htz/2.1"]["money"] == {"CNY": {"before": "400000.00", "after": "400000.00", "change": "0.00"}}
    assert all(m["changed_cases"] == 0 for name, m in measures.items() if name != "qz-htz/4")
    assert report["money"] == {"CNY": {"before": "3800000.00", "after": "4400000.00", "change": "600000.00"}}

    assert [(c["index"], c["case"], c["abs_change"], c["measures"]) for c in report["top"]] == [
        (1, "B", "400000.00", ["qz-htz/4"]), (0, "A", "200000.00", ["qz-htz/4"])]
    assert report["top"][0]["money"] == {"CNY": {"before": "2400000.00", "after": "2800000.00", "change": "400000.00"}}


def test_diff_of_one_amount_over_jsonl(capsys, changed_rulesets, corpus_jsonl):
    _check(_report(capsys, corpus_jsonl, changed_rulesets))


def test_diff_over_a_yaml_case_file(capsys, changed_rulesets, tmp_path):
    path = tmp_path / "corpus.yaml"
    specs = [{"name": f"case {c['case_id']}", "case": c} for c in CORPUS]
    specs.append({"name": "expected invalid: skipped", "case": CORPUS[-1], "errors": ["events/0/type"]})
    path.write_text(yaml.safe_dump(specs, allow_unicode=True), encoding="utf-8")
    report = _report(capsys, path, changed_rulesets)
    assert report["top"][0]["case"] == "case B"
    report["top"] = [dict(c, case=c["case"].removeprefix("case ")) for c in report["top"]]
    _check(report)


def test_diff_table_is_readable(capsys, changed_rulesets, corpus_jsonl):
    code, out, err = _diff(capsys, "--from", REF, "--to", REF, "--to-rulesets", str(changed_rulesets),
                           "--cases", str(corpus_jsonl), "--top", "1")
    assert code == 0, err
    assert "cases 6  decided 5  changed 2  unchanged 3  failed 1" in out
    row = next(line for line in out.splitlines() if line.startswith("qz-htz/4 "))
    assert row.split()[1:6] == ["2", "0", "0", "3", "0"]
    assert "CNY 3,400,000.00" in row and "CNY 4,000,000.00" in row and "CNY +600,000.00" in row
    assert "top 1" in out and "CNY +400,000.00" in out.split("top 1")[1]


def test_same_version_same_rules_changes_nothing(capsys):
    code, out, err = _diff(capsys, "--from", REF, "--to", REF, "--cases", str(CASES_DIR / "qz-htz" / "art04-platforms.yaml"),
                           "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["decided"] > 0 and report["changed"] == 0 and report["top"] == []
    assert all(m["money"]["CNY"]["change"] == "0.00" for m in report["measures"] if m["money"])


def test_unknown_version_or_bad_reference_is_an_error(capsys, corpus_jsonl):
    code, _, err = _diff(capsys, "--from", REF, "--to", "qz-htz@1999-01-01", "--cases", str(corpus_jsonl))
    assert code == 2 and "2021-12-30" in err
    code, _, err = _diff(capsys, "--from", "qz-htz", "--to", REF, "--cases", str(corpus_jsonl))
    assert code == 2 and "POLICY@VERSION" in err
