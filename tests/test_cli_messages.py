"""Messages where people look (issue 12 §4): a failing golden case says which denial explains
it, ``diff`` says why each listed case changed, and the command line helps, names the file it
cannot use (no traceback), tells its version, and shows progress on a terminal only."""
from __future__ import annotations

import argparse
import io
import json
import shutil

import pytest
import yaml

import service
from service.casefiles import check, evaluate_case
from service.cli import build_parser, main
from service.cli.diff import why
from service.cli.progress import Progress
from service.engine import engine_version

from tests.helpers import QZ_CURRENT, RULESETS_DIR, qz_case

REF = "qz-htz@2021-12-30"


class FakeTty(io.StringIO):
    """A stderr attached to a terminal, as far as the progress bar can tell."""

    def isatty(self) -> bool:
        return True


def _hte(event_id, date="2024-12-05", **extra):
    return {"id": event_id, "type": "hte_recognized", "date": date, **extra}


def _platform(event_id, level="national", date="2024-06-01"):
    return {"id": event_id, "type": "platform_recognized", "date": date, "level": level}


# --- 1. a failing golden case shows the denial that explains it ---------------------------------

def _spec(events, expect):
    return {"name": "deliberately wrong", "case": qz_case(events), "expect": expect}


def test_a_missing_outcome_shows_the_denials_of_its_measure_on_its_event(decider, validator):
    # e2 is a second recognition that does not say whether the firm was a tech SME
    spec = _spec([_hte("e1", was_tech_sme=True), _hte("e2", "2025-03-01")],
                 {"outcomes": [{"measure": "qz-htz/2.1", "event": "e1"}, {"measure": "qz-htz/2.1", "event": "e2"}]})
    result = evaluate_case(decider, validator, spec)
    [missing] = [f for f in result.failures if f.startswith("outcomes: no match")]
    lines = missing.splitlines()[1:]
    assert lines, missing
    assert all(line.strip().startswith("instead: denial qz-htz/2.1 on e2: ") for line in lines), missing
    assert any("missing_data (condition was_tech_sme, field events[e2]/was_tech_sme)" in line for line in lines)
    assert any("not_eligible (condition first_recognition)" in line for line in lines)
    assert "e1" not in "".join(lines), "only what was said on the expected event"


def test_a_missing_denial_shows_what_its_measure_got_instead(decider, validator):
    spec = _spec([_hte("e1", was_tech_sme=True)],
                 {"denials": [{"measure": "qz-htz/2.1", "event": "e1", "reason": "not_eligible"}]})
    result = evaluate_case(decider, validator, spec)
    [missing] = [f for f in result.failures if f.startswith("denials: no match")]
    assert "instead: outcome qz-htz/2.1 on e1: 200000.00 CNY" in missing


def test_without_a_word_on_the_event_everything_said_of_the_measure_is_shown():
    decision = {"outcomes": [], "inapplicable": [], "totals": {},
                "denials": [{"measure": "qz-htz/4", "event": "p1", "reason": "not_eligible",
                             "condition": "fits_industrial_policy", "detail": "须符合国家产业政策"}]}
    [failure] = check(decision, {"outcomes": [{"measure": "qz-htz/4", "event": "p9"}], "exact": False, "why": "t"})
    assert ("nothing of qz-htz/4 on p9; of qz-htz/4 elsewhere: denial qz-htz/4 on p1: not_eligible "
            "(condition fits_industrial_policy): 须符合国家产业政策") in failure
    [failure] = check(decision, {"outcomes": [{"measure": "qz-htz/2.1", "event": "p9"}], "exact": False, "why": "t"})
    assert "the decision says nothing of qz-htz/2.1 on p9" in failure


def test_a_missing_outcome_shows_the_inapplicable_entry_of_its_measure():
    entry = {"measure": "gx-htz/23.1", "condition": "national_zone", "events": ["r21", "r22"], "detail": "限国家级高新区"}
    decision = {"outcomes": [], "denials": [], "inapplicable": [entry], "totals": {}}
    [failure] = check(decision, {"outcomes": [{"measure": "gx-htz/23.1", "event": "r22"}], "exact": False, "why": "t"})
    assert "instead: inapplicable gx-htz/23.1 on r21, r22: inapplicable (condition national_zone): 限国家级高新区" in failure


# --- 2. diff says why each changed case changed --------------------------------------------------

@pytest.fixture(scope="module")
def shorter_and_richer(tmp_path_factory):
    """qz-htz whose window ends 2024-07-01 and whose national platform is worth 1,200,000."""
    root = tmp_path_factory.mktemp("rulesets-why") / "rulesets"
    shutil.copytree(RULESETS_DIR, root)
    text = QZ_CURRENT.read_text(encoding="utf-8")
    for old, new in (('national: "1000000.00"', 'national: "1200000.00"'), ('until: "2025-12-31"', 'until: "2024-07-01"')):
        assert text.count(old) == 1
        text = text.replace(old, new)
    (root / "qz-htz" / QZ_CURRENT.name).write_text(text, encoding="utf-8")
    return root


WHY_CORPUS = [
    qz_case([_platform("p1")], case_id="AMOUNT"),
    qz_case([_platform("p1", date="2024-09-01")], case_id="LATE"),
    qz_case([_platform("p1", "regional", "2024-09-01")], attributes={"fits_industrial_policy": False}, case_id="DENIED"),
    qz_case([_platform("p1", "regional", "2024-06-01")], case_id="SAME"),
]


def _why_report(capsys, tmp_path, rulesets, *extra):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in WHY_CORPUS), encoding="utf-8")
    code = main(["diff", "--from", REF, "--to", REF, "--to-rulesets", str(rulesets), "--cases", str(path), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_diff_json_gives_why_per_changed_case(capsys, tmp_path, shorter_and_richer):
    report = json.loads(_why_report(capsys, tmp_path, shorter_and_richer, "--json"))
    top = {c["case"]: c for c in report["top"]}
    assert set(top) == {"AMOUNT", "LATE", "DENIED"}, "the unchanged case is not listed"
    [amount] = top["AMOUNT"]["why"]
    assert (amount["measure"], amount["event"], amount["change"]) == ("qz-htz/4", "p1", "amount_changed")
    assert amount["before"]["granted"][0]["amount"] == "1000000.00"
    assert amount["after"]["granted"][0]["amount"] == "1200000.00"
    assert amount["text"].startswith("qz-htz/4 on p1: amount CNY 1,000,000.00") and "→ CNY 1,200,000.00" in amount["text"]
    [late] = [w for w in top["LATE"]["why"] if w["measure"] == "qz-htz/4"]
    assert late["change"] == "lost" and late["after"]["denied"] == [{"reason": "outside_window"}]
    assert late["text"].endswith("→ outside_window")
    [denied] = [w for w in top["DENIED"]["why"] if w["measure"] == "qz-htz/4"]
    assert denied["change"] == "denial_changed"
    assert {"reason": "not_eligible", "condition": "fits_industrial_policy"} in denied["before"]["denied"]
    assert "not_eligible (condition fits_industrial_policy)" in denied["text"] and denied["text"].endswith("→ outside_window")


def test_diff_table_says_why_under_the_cases_that_change_most(capsys, tmp_path, shorter_and_richer):
    out = _why_report(capsys, tmp_path, shorter_and_richer)
    reasons = out.split("why they change:")[1]
    assert "qz-htz/4 on p1: amount CNY 1,000,000.00" in reasons
    assert "→ outside_window" in reasons and "condition fits_industrial_policy" in reasons
    assert "SAME" not in reasons


def test_why_names_the_cap_the_group_and_the_rival():
    capped = {"measure": "m/1", "event": "e2", "reason": "cap_exhausted"}
    beaten = {"measure": "m/2", "event": "e1", "reason": "not_stacked"}
    before = {"outcomes": [{"measure": "m/1", "event": "e2", "amount": "50.00", "currency": "CNY", "cap": {"id": "m/1#total"}},
                           {"measure": "m/2", "event": "e1", "amount": "10.00", "currency": "CNY"}],
              "denials": [], "inapplicable": []}
    after = {"outcomes": [{"measure": "m/3", "event": "e1", "amount": "90.00", "currency": "CNY"}],
             "denials": [capped, beaten], "inapplicable": [],
             "derivation": {"denials": [{"ledger": {"cap": "m/1#total"}},
                                        {"stacking": {"group": "one-of", "rival": {"measure": "m/3", "event": "e1"}}}]}}
    reasons = why([(("m/1", "e2"), "lost"), (("m/2", "e1"), "lost")], before, after)
    assert [r["text"] for r in reasons] == [
        "m/1 on e2: granted CNY 50.00 (cap m/1#total) → cap_exhausted (cap m/1#total)",
        "m/2 on e1: granted CNY 10.00 → not_stacked (group one-of, beaten by m/3 on e1)",
    ]
    assert reasons[1]["after"]["denied"] == [{"reason": "not_stacked", "group": "one-of", "beaten_by": "m/3 on e1"}]


# --- 3. the command line -----------------------------------------------------------------------

def _arguments(parser: argparse.ArgumentParser, path: str = "python -m service"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _arguments(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_every_argument_of_every_command_has_help():
    arguments = list(_arguments(build_parser()))
    commands = {path.split()[-1] for path, _ in arguments if path != "python -m service"}
    assert commands == {"validate", "test", "decide", "coverage", "diff", "batch", "openapi", "apikey", "checkpoint",
                        "replay", "verify", "archive"}, "the walk reaches every subcommand"
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in arguments
               if not (a.help and a.help.strip()) and a.help != argparse.SUPPRESS]
    assert missing == []


def test_every_command_has_help_text():
    [sub] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert set(helps) == set(sub.choices) and all(h and h.strip() for h in helps.values())


def test_version_names_the_service_and_the_engine_build(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert service.__version__ in out and engine_version() in out and "durable_rules" in out


@pytest.fixture(scope="module")
def richer_rulesets(tmp_path_factory):
    root = tmp_path_factory.mktemp("rulesets-cli") / "rulesets"
    shutil.copytree(RULESETS_DIR, root)
    text = QZ_CURRENT.read_text(encoding="utf-8")
    (root / "qz-htz" / QZ_CURRENT.name).write_text(text.replace('national: "1000000.00"', 'national: "1200000.00"'),
                                                    encoding="utf-8")
    return root


def test_decide_takes_rulesets(capsys, tmp_path, richer_rulesets):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(qz_case([_platform("p1")])), encoding="utf-8")
    assert main(["decide", str(path), "--rulesets", str(richer_rulesets)]) == 0
    [outcome] = [o for o in json.loads(capsys.readouterr().out)["outcomes"] if o["measure"] == "qz-htz/4"]
    assert outcome["amount"] == "1200000.00"
    assert main(["decide", str(path)]) == 0
    [outcome] = [o for o in json.loads(capsys.readouterr().out)["outcomes"] if o["measure"] == "qz-htz/4"]
    assert outcome["amount"] == "1000000.00"


def test_test_takes_rulesets(capsys, tmp_path, richer_rulesets):
    path = tmp_path / "cases.yaml"
    spec = {"name": "a richer national platform", "case": qz_case([_platform("p1")]),
            "expect": {"outcomes": [{"measure": "qz-htz/4", "event": "p1", "amount": "1200000.00"}], "exact": False,
                       "why": "gx-htz judges the case too"}}
    path.write_text(yaml.safe_dump([spec], allow_unicode=True), encoding="utf-8")
    assert main(["test", str(path), "--rulesets", str(richer_rulesets)]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    assert main(["test", str(path)]) == 1
    assert "1000000.00" in capsys.readouterr().out


def test_rulesets_must_be_a_directory(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["decide", "-", "--rulesets", str(tmp_path / "nowhere")])
    assert exit_.value.code == 2 and "nowhere: no such directory" in capsys.readouterr().err


def _bad_files(tmp_path):
    """name -> (path, words the one-line error must say)."""
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "bad.json").write_text('{"case_id": ', encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("- name: [unclosed\n", encoding="utf-8")
    (tmp_path / "adir").mkdir()
    return {"missing": (tmp_path / "nope.json", "no such file"),
            "directory": (tmp_path / "adir", "directory"),
            "not-utf8": (tmp_path / "binary", "not UTF-8"),
            "bad-json": (tmp_path / "bad.json", "not valid JSON"),
            "bad-yaml": (tmp_path / "bad.yaml", "not valid YAML")}


COMMANDS = {  # which bad files each command reads, and how it is given one
    "decide": (("missing", "directory", "not-utf8", "bad-json"), lambda f: ["decide", f]),
    "test": (("missing", "directory", "not-utf8", "bad-yaml"), lambda f: ["test", f]),
    "batch": (("missing", "directory", "not-utf8"), lambda f: ["batch", f]),
    "diff": (("missing", "not-utf8", "bad-yaml"), lambda f: ["diff", "--from", REF, "--to", REF, "--cases", f]),
}


@pytest.mark.parametrize("command,bad", [(c, b) for c, (bads, _) in COMMANDS.items() for b in bads])
def test_a_file_the_command_cannot_use_is_one_line_naming_it(capsys, tmp_path, command, bad):
    path, words = _bad_files(tmp_path)[bad]
    if bad == "bad-yaml" and command == "diff":
        path = path.rename(path.with_suffix(".yml"))
    if bad == "not-utf8" and command in ("test", "diff"):
        path = path.rename(path.with_name("binary.yaml"))
    code = main(COMMANDS[command][1](str(path)))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(path) in err and words.lower() in err.lower(), err
    assert "Traceback" not in err


def test_an_unwritable_output_is_one_line_naming_it(capsys, tmp_path):
    target = tmp_path / "no-such-dir" / "openapi.json"
    assert main(["openapi", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err


# --- progress: on a terminal only ----------------------------------------------------------------

def test_progress_draws_on_a_terminal_and_clears_after():
    tty = FakeTty()
    with Progress("batch", 4, stream=tty) as progress:
        for _ in range(4):
            progress.advance()
        drawn = tty.getvalue()
    assert drawn.count("\r") == 4 and "\n" not in drawn
    assert drawn.endswith("4/4 100%") and "1/4 25%" in drawn and "[" + "#" * 30 + "]" in drawn
    assert tty.getvalue().endswith("\r") and tty.getvalue()[len(drawn):].strip() == ""


def test_progress_writes_nothing_off_a_terminal():
    stream = io.StringIO()
    with Progress("batch", 4, stream=stream) as progress:
        progress.advance(4)
    assert stream.getvalue() == ""


def _jsonl(tmp_path, cases):
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


def test_batch_and_diff_show_progress_on_a_terminal_only(capsys, monkeypatch, tmp_path):
    path = _jsonl(tmp_path, [qz_case([_platform("p1")], case_id=f"P{i}") for i in range(3)])
    for argv, label in ((["batch", str(path)], "batch"),
                        (["diff", "--from", REF, "--to", REF, "--cases", str(path)], "diff")):
        assert main(argv) == 0
        assert capsys.readouterr().err == "", "redirected stderr: no bar"
        tty = FakeTty()
        monkeypatch.setattr("sys.stderr", tty)
        assert main(argv) == 0
        monkeypatch.undo()
        assert f"\r{label} [" in tty.getvalue() and "3/3 100%" in tty.getvalue()
        capsys.readouterr()


def test_verify_shows_progress_on_a_terminal_only(tmp_path, decider, validator):
    from service.cli.verify import verify
    from service.http.batch_routes import decide_payload
    from service.log import open_log

    decision_log = open_log(str(tmp_path / "log.sqlite3"))
    for i in range(3):
        payload = qz_case([_hte("e1", was_tech_sme=True)], case_id=f"V{i}")
        status, decision = decide_payload(decider, validator, payload)  # as served: input_sha256 and all
        assert status == 200, decision
        decision_log.append(payload, decision)
    tty, quiet, out = FakeTty(), io.StringIO(), io.StringIO()
    assert verify(decision_log, decider, validator, out=out, progress_stream=tty) == 0, out.getvalue()
    assert "\rverify [" in tty.getvalue() and "3/3 100%" in tty.getvalue()
    assert verify(decision_log, decider, validator, out=out, progress_stream=quiet) == 0
    assert quiet.getvalue() == ""


def test_verify_names_a_checkpoint_it_cannot_read(capsys, tmp_path):
    missing = tmp_path / "held.checkpoint"
    assert main(["verify", "--checkpoint", str(missing), "--public-key", str(tmp_path / "k"),
                 "--database", str(tmp_path / "log.sqlite3")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err


def test_archive_verify_of_a_file_that_is_not_json_is_a_problem_line(capsys, tmp_path):
    bad = tmp_path / "archive.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    assert main(["archive", "--verify", str(bad), "--database", str(tmp_path / "log.sqlite3")]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: line 1 is not JSON" in out and "Traceback" not in out
