"""Replay of logged decisions: identical after a restart, different when the
law changed or the log was edited; field-by-field differences. SQLite always,
PostgreSQL when TEST_DATABASE_URL is set."""
from __future__ import annotations

import hashlib
import shutil

import pytest

from service.cli import main as cli
from service.decide import Decider
from service.http.app import create_app
from service.log import from_env
from service.replay import differences, replay_record
from service.rulebook.registry import Registry

from tests.helpers import QZ_CURRENT, RULESETS_DIR
from tests.test_log import BACKENDS, PROBLEM, close_log, hte_case, post, target  # noqa: F401 (fixture)

QZ = "qz-htz@2021-12-30#r3"  # the revision that decides hte_case()


@pytest.fixture(scope="module")
def changed_rulesets(tmp_path_factory):
    """A copy of the rulesets whose current qz-htz revision grants 2.1 a different amount."""
    directory = tmp_path_factory.mktemp("rulesets") / "rulesets"
    shutil.copytree(RULESETS_DIR, directory)
    path = directory / "qz-htz" / QZ_CURRENT.name
    text = path.read_text(encoding="utf-8")
    assert text.count('amount: "200000.00"}') == 1
    path.write_text(text.replace('amount: "200000.00"}', 'amount: "250000.00"}'), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def changed_decider(changed_rulesets):
    return Decider(Registry.load(changed_rulesets))


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_replay_after_a_restart_is_identical(target, decider, capsys):
    app = create_app(decider)
    ids = [post(app.test_client(), hte_case("R-1"))["decision_id"],
           post(app.test_client(), hte_case("R-2", lang="en", explain=True))["decision_id"]]
    close_log(app)
    del app
    restarted = create_app(Decider())  # a new process: the law compiled again, a new connection
    client = restarted.test_client()
    for decision_id in ids:
        response = client.post(f"/v1/decisions/{decision_id}/replay")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json() == {"status": "identical"}
        assert cli(["replay", decision_id]) == 0
        assert '"identical"' in capsys.readouterr().out
    missing = client.post("/v1/decisions/00000000-0000-0000-0000-000000000000/replay")
    assert missing.status_code == 404 and missing.mimetype == PROBLEM
    assert cli(["replay", "00000000-0000-0000-0000-000000000000"]) == 2
    close_log(restarted)


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_replay_under_changed_law_is_different(target, decider, changed_decider, changed_rulesets, capsys):
    app = create_app(decider)
    decision = post(app.test_client(), hte_case())
    index = next(i for i, e in enumerate(decision["bundle"]["versions"]) if e.startswith(QZ + ":"))
    logged_entry = decision["bundle"]["versions"][index]
    changed_entry = next(e for e in changed_decider.bundle["versions"] if e.startswith(QZ + ":"))
    assert logged_entry != changed_entry
    expected = {"status": "different", "differences": [
        {"path": f"bundle/versions/{index}", "logged": logged_entry, "replayed": changed_entry}]}
    # the changed file has another sha256: replay refuses it (BundleMismatch), reported as a difference
    response = create_app(changed_decider).test_client().post(f"/v1/decisions/{decision['decision_id']}/replay")
    assert response.status_code == 200
    assert response.get_json() == expected
    assert cli(["replay", decision["decision_id"], "--rulesets", str(changed_rulesets)]) == 1
    assert f"bundle/versions/{index}" in capsys.readouterr().out
    assert cli(["verify", "--rulesets", str(changed_rulesets)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"seq 1: replay differs at bundle/versions/{index}"
    assert cli(["verify"]) == 0  # under the law it was decided by: sound
    close_log(app)


def test_an_edited_file_the_decision_was_not_judged_under_does_not_stop_its_replay(decider, validator, tmp_path):
    """A draft not asked for is in every bundle; editing it (drafts may change) leaves the logged
    decisions that did not use it replayable: only the files a decision was judged under must be
    held byte for byte."""
    from service.replay import replay
    from service.validate.request import CaseValidator
    directory = tmp_path / "rulesets"
    shutil.copytree(RULESETS_DIR, directory)
    draft = directory / "gx-etdz" / "2021-01-01.yaml"
    draft.write_text(draft.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    edited = Decider(Registry.load(directory))
    import orjson
    text = orjson.dumps(hte_case()).decode()
    case, errors = validator.validate(orjson.loads(text))
    assert errors == []
    logged = orjson.loads(orjson.dumps(decider.decide(case, input_sha256=hashlib.sha256(text.encode()).hexdigest())))
    assert not any(r["policy"] == "gx-etdz" for r in logged["rulesets"])
    assert any(e.startswith("gx-etdz@") for e in logged["bundle"]["versions"])
    assert replay(edited, CaseValidator(edited.vocab, edited.registry), text, logged) == {"status": "identical"}
    # a file it was judged under, edited, is still refused
    judged = directory / "qz-htz" / QZ_CURRENT.name
    judged.write_text(judged.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    again = Decider(Registry.load(directory))
    assert replay(again, CaseValidator(again.vocab, again.registry), text, logged)["status"] == "different"


@pytest.mark.parametrize("target", BACKENDS, indirect=True)
def test_replay_of_an_edited_record_names_the_field(target, decider, validator):
    app = create_app(decider)
    client = app.test_client()
    decision = post(client, hte_case())
    target.execute("UPDATE decision_log SET decision = replace(decision, '\"200000.00\"', '\"300000.00\"')")
    report = client.post(f"/v1/decisions/{decision['decision_id']}/replay").get_json()
    assert report["status"] == "different"
    assert {"path": "outcomes/0/amount", "logged": "300000.00", "replayed": "200000.00"} in report["differences"]
    record = from_env().get(decision["decision_id"])
    assert replay_record(decider, validator, record) == report
    close_log(app)


def test_replay_of_an_edited_input_differs_in_the_input_hash(decider, validator, tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "log.sqlite3"))
    decision_log = from_env()
    payload = hte_case()
    record = decision_log.append(payload, decider.decide(validator.validate(payload)[0],
                                                         input_sha256=hashlib.sha256(b"x").hexdigest()))
    paths = {d["path"] for d in replay_record(decider, validator, record)["differences"]}
    assert paths == {"input_sha256"}


def test_replay_of_an_input_no_longer_valid(decider, validator, tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RAC_DECISION_LOG", str(tmp_path / "log.sqlite3"))
    decision_log = from_env()
    payload = hte_case()
    decision = decider.decide(validator.validate(payload)[0])
    record = decision_log.append(dict(payload, applicant="nobody"), decision)
    report = replay_record(decider, validator, record)
    assert report["status"] == "different" and report["differences"][0]["path"] == "input"


def test_differences_are_leaves_with_pointer_paths():
    logged = {"a": 1, "b": [1, 2, 3], "c": {"d/e": "x", "f~": True}, "same": {"x": [1]}, "gone": 0}
    replayed = {"a": 1.0, "b": [1, 5], "c": {"d/e": "y", "f~": 1}, "same": {"x": [1]}, "new": None}
    assert differences(logged, replayed) == [
        {"path": "a", "logged": 1, "replayed": 1.0},
        {"path": "b/1", "logged": 2, "replayed": 5},
        {"path": "b/2", "logged": 3, "replayed": None, "absent": "replayed"},
        {"path": "c/d~1e", "logged": "x", "replayed": "y"},
        {"path": "c/f~0", "logged": True, "replayed": 1},
        {"path": "gone", "logged": 0, "replayed": None, "absent": "replayed"},
        {"path": "new", "logged": None, "replayed": None, "absent": "logged"},
    ]
    assert differences({"x": [1, {"y": 2}]}, {"x": [1, {"y": 2}]}) == []
    assert differences([1], {"0": 1}) == [{"path": "", "logged": [1], "replayed": {"0": 1}}]
