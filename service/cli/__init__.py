"""Command line: ``python -m service <command>``; each command is a module of this package."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service")
    sub = parser.add_subparsers(dest="command", required=True)
    p_validate = sub.add_parser("validate", help="check every ruleset file; print file:path: reason lines")
    p_validate.add_argument("--rulesets", type=Path, default=None)
    p_test = sub.add_parser("test", help="run YAML case files")
    p_test.add_argument("files", nargs="+", type=Path)
    p_decide = sub.add_parser("decide", help="decide one case (JSON file, or - for stdin)")
    p_decide.add_argument("file")
    p_coverage = sub.add_parser("coverage", help="print the coverage table of every article (Markdown)")
    p_coverage.add_argument("--rulesets", type=Path, default=None)
    from . import apikey, batch, checkpoint, diff, openapi

    for module in (diff, batch, openapi, apikey, checkpoint):
        module.add_parser(sub)
    from . import archive as cli_archive, replay as cli_replay, verify as cli_verify

    cli_replay.configure(sub.add_parser("replay", help="re-evaluate one logged decision; report identical or the differences"))
    cli_verify.configure(sub.add_parser("verify", help="check the decision log's hash chain and replay every decision"))
    cli_archive.configure(sub.add_parser("archive", help="move old decision records to a JSON-lines archive"))
    args = parser.parse_args(argv)
    if args.command in ("diff", "batch", "openapi", "apikey", "checkpoint"):
        return args.run(args)
    if args.command in ("replay", "verify", "archive"):
        return args.run(args)
    if args.command == "coverage":
        from .coverage import run

        return run(args)

    from ..rulebook.loader import RulesetError
    from ..rulebook.registry import Registry

    if args.command == "validate":
        try:
            registry = Registry.load(args.rulesets, check_figures=True)
        except RulesetError as error:
            print(error, file=sys.stderr)
            return 1
        for version in registry.all_versions():
            print(f"ok {version.key} {version.status} {len(version.measures)} measures sha256={version.sha256}")
        return 0

    from ..decide import Decider
    from ..validate.request import CaseValidator

    decider = Decider()
    validator = CaseValidator(decider.vocab, decider.registry)
    if args.command == "test":
        from ..casefiles import load_cases, run_case

        failed = passed = 0
        for path in args.files:
            for spec in load_cases(path):
                result = run_case(decider, validator, spec, str(path))
                if result.passed:
                    passed += 1
                else:
                    failed += 1
                    print(f"FAIL {path}: {result.name}\n  " + "\n  ".join(result.failures))
        print(f"{passed} passed, {failed} failed")
        return 1 if failed else 0

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    case, errors = validator.validate(json.loads(text))
    if errors:
        print(json.dumps({"errors": errors}, ensure_ascii=False, indent=2))
        return 2
    print(json.dumps(decider.decide(case), ensure_ascii=False, indent=2))
    return 0


