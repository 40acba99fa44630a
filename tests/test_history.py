"""The history of the law: GET /v1/rulesets/{policy}/versions[/{version}], and released
ruleset files that are never edited in place (rulesets/RELEASED.json)."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from service.http.app import create_app

from tests.helpers import QZ_CURRENT, QZ_FILE, RULESETS_DIR, SOURCES_DIR

PROBLEM = "application/problem+json"
RELEASED = RULESETS_DIR / "RELEASED.json"
MUST_BE_RECORDED = ("in_force", "repealed")


@pytest.fixture(scope="module")
def client(decider):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAC_DECISION_LOG", "off")
        yield create_app(decider).test_client()


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _source_text(version: dict) -> str:
    return _squash((SOURCES_DIR / version["document"]["source"]).read_text(encoding="utf-8"))


def test_versions_lists_the_metadata_of_each_version(client):
    response = client.get("/v1/rulesets/qz-htz/versions")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["policy"] == "qz-htz"
    [version] = [v for v in body["versions"] if v["version"] == "2021-12-30"]
    assert version["status"] == "in_force"
    assert version["document"]["number"] == "钦政办规〔2021〕12号"
    assert version["document"]["title"].startswith("关于促进广西钦州高新技术产业开发区")
    assert version["document"]["issuer"] == "钦州市人民政府办公室"
    assert version["document"]["issued"] == "2021-12-30"
    assert version["effective"]["from"] == "2021-12-30" and version["effective"]["until"] == "2025-12-31"
    assert version["sha256"] == hashlib.sha256(QZ_CURRENT.read_bytes()).hexdigest()
    assert version["measures"] == 12


def test_one_version_with_readings_notes_conditions_and_measures(client):
    response = client.get("/v1/rulesets/qz-htz/versions/2021-12-30")
    assert response.status_code == 200
    body = response.get_json()
    raw = yaml.safe_load(QZ_FILE.read_text(encoding="utf-8"))
    assert body["sha256"] == hashlib.sha256(QZ_CURRENT.read_bytes()).hexdigest()
    assert body["version"] == "2021-12-30" and body["status"] == "in_force"
    assert set(body["readings"]) == set(raw["readings"])
    assert body["readings"]["event_year"]["en"] == raw["readings"]["event_year"]["en"]
    assert [n["id"] for n in body["notes"]] == [n["id"] for n in raw["notes"]]
    assert len(body["directives"]) == len(raw["directives"])

    source = _source_text(body)
    eligibility = body["eligibility"]
    assert eligibility["article"] == "十四"
    assert [c["id"] for c in eligibility["conditions"]] == [c["id"] for c in raw["eligibility"]["conditions"]]
    for condition in eligibility["conditions"]:
        assert condition["cites"] and _squash(condition["cites"]) in source, condition["id"]
        assert condition["on"] in ("applicant", "incident") and condition[condition["on"]]
        assert condition["explain"]["zh"] and condition["explain"]["en"]

    measures = {m["id"]: m for m in body["measures"]}
    assert list(measures) == [m["id"] for m in raw["measures"]]
    for measure in measures.values():
        for key in ("article", "kind", "beneficiary", "trigger", "cites", "handled_by", "caps", "stacking", "outcome"):
            assert key in measure, (measure["id"], key)
        assert _squash(measure["cites"]) in source, f"{measure['id']}: the cited words are the source's"
    platform = measures["qz-htz/4"]
    assert (platform["article"], platform["kind"], platform["beneficiary"], platform["trigger"]) == \
        ("四", "fixed", "enterprise", "platform_recognized")
    assert "100万元、20万元、5万元" in platform["cites"]
    assert platform["outcome"]["amount"]["national"] == "1000000.00"
    assert platform["handled_by"] == "钦州高新区管委，市科技局"
    assert [c["id"] for c in platform["caps"]] == ["qz-htz/4#platform"]
    assert [c["cites"] for c in measures["qz-htz/5"]["caps"]] == ["每家企业补助总额不超过10万元"]
    assert [g["id"] for g in measures["qz-htz/3.3"]["stacking"]] == ["qz-htz/3#incubator-year"]
    assert measures["qz-htz/7"]["eligibility"] == "exempt" and measures["qz-htz/2.1"]["eligibility"] == "applies"
    assert measures["qz-htz/2.1"]["conditions"][0]["id"] == "was_tech_sme"
    assert measures["qz-htz/2.3"]["joins"][0]["event"] == "gazelle_recognized"


@pytest.mark.parametrize("url, detail", [
    ("/v1/rulesets/xx-none/versions", "qz-htz"),
    ("/v1/rulesets/xx-none/versions/2021-12-30", "qz-htz"),
    ("/v1/rulesets/qz-htz/versions/1999-01-01", "2021-12-30"),
])
def test_unknown_policy_or_version_is_a_404(client, url, detail):
    response = client.get(url)
    assert response.status_code == 404 and response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == 404 and body["type"].endswith("/unknown-ruleset")
    assert detail in body["detail"], "the known policies or versions are named"


# -- released files are never edited in place ---------------------------------------------

def released_problems(rulesets_dir: Path, record: dict) -> list[str]:
    """Why the ruleset files of ``rulesets_dir`` break the release record (empty: they do not)."""
    problems = []
    for name, sha256 in sorted(record.items()):
        path = rulesets_dir / name
        if not path.is_file():
            problems.append(f"{name}: released, but the file is gone; a released ruleset is never removed or edited")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            problems.append(f"{name}: sha256 differs from rulesets/RELEASED.json: a released ruleset is never edited; "
                            f"add a new version file (<policy>/<new version>.yaml) and record it")
    for path in sorted(rulesets_dir.glob("*/*.yaml")):
        name = f"{path.parent.name}/{path.name}"
        status = yaml.safe_load(path.read_text(encoding="utf-8")).get("status")
        if status in MUST_BE_RECORDED and name not in record:
            problems.append(f"{name}: status {status} but not in rulesets/RELEASED.json; record its sha256 "
                            f"in the commit that adds it")
    return problems


def test_released_rulesets_are_never_edited():
    record = json.loads(RELEASED.read_text(encoding="utf-8"))
    assert all(re.fullmatch(r"[0-9a-f]{64}", sha) for sha in record.values())
    problems = released_problems(RULESETS_DIR, record)
    assert not problems, "\n".join(problems)


def test_release_record_is_sorted_json():
    text = RELEASED.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_an_edited_or_unrecorded_release_is_caught(tmp_path):
    record = {f"qz-htz/{QZ_FILE.name}": hashlib.sha256(QZ_FILE.read_bytes()).hexdigest()}
    (tmp_path / "qz-htz").mkdir()
    edited = QZ_FILE.read_text(encoding="utf-8").replace('national: "1000000.00"', 'national: "1200000.00"')
    (tmp_path / "qz-htz" / QZ_FILE.name).write_text(edited, encoding="utf-8")
    [problem] = released_problems(tmp_path, record)
    assert "a released ruleset is never edited; add a new version file" in problem

    (tmp_path / "qz-htz" / QZ_FILE.name).write_bytes(QZ_FILE.read_bytes())
    later = edited.replace('version: "2021-12-30"', 'version: "2026-01-01"')
    (tmp_path / "qz-htz" / "2026-01-01.yaml").write_text(later, encoding="utf-8")
    [problem] = released_problems(tmp_path, record)
    assert problem.startswith("qz-htz/2026-01-01.yaml: status in_force but not in rulesets/RELEASED.json")

    (tmp_path / "qz-htz" / "2026-01-01.yaml").write_text(later.replace("status: in_force", "status: draft"), encoding="utf-8")
    assert released_problems(tmp_path, record) == [], "a draft may change until it is released"
