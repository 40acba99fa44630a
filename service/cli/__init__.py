"""Command line: ``python -m service <command>``; each command is a module of this package.

A file a command cannot use (missing, unreadable, not JSON or YAML) is one line on stderr
naming it, exit 2: ``InputError`` from ``inputs``, or an ``OSError`` a command did not expect."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .inputs import InputError, one_line, read_json, rulesets_dir

RULESETS_HELP = "ruleset directory (default: the service's rulesets/)"


class VersionAction(argparse.Action):
    """``--version``: the service and the engine build; the engine is imported only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def version_text() -> str:
    from .. import __version__
    from ..engine import ENGINE_NAME, engine_version, is_patched_build

    build = "patched" if is_patched_build() else "NOT the patched build"
    return f"rac-service {__version__}; engine {ENGINE_NAME} {engine_version()} ({build})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m service",
                                     description="Rules-as-code decisions on the Guangxi zone policies.")
    parser.add_argument("--version", action=VersionAction, help="print the service version and the engine build")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="one of these; python -m service COMMAND --help gives its arguments")
    p_validate = sub.add_parser("validate", help="check every ruleset file; print file:path: reason lines")
    p_validate.add_argument("--rulesets", type=rulesets_dir, metavar="DIR", default=None, help=RULESETS_HELP)
    p_test = sub.add_parser("test", help="run YAML case files")
    p_test.add_argument("files", nargs="+", type=Path, metavar="FILE", help="YAML case files (the format of tests/cases)")
    p_test.add_argument("--rulesets", type=rulesets_dir, metavar="DIR", default=None, help=RULESETS_HELP)
    p_decide = sub.add_parser("decide", help="decide one case (JSON file, or - for stdin)")
    p_decide.add_argument("file", metavar="FILE", help="the request body as JSON, or - for stdin")
    p_decide.add_argument("--rulesets", type=rulesets_dir, metavar="DIR", default=None, help=RULESETS_HELP)
    p_coverage = sub.add_parser("coverage", help="print the coverage table of every article (Markdown)")
    p_coverage.add_argument("--rulesets", type=rulesets_dir, metavar="DIR", default=None, help=RULESETS_HELP)
    from . import apikey, batch, checkpoint, diff, openapi

    for module in (diff, batch, openapi, apikey, checkpoint):
        module.add_parser(sub)
    from . import archive as cli_archive, replay as cli_replay, verify as cli_verify

    cli_replay.configure(sub.add_parser("replay", help="re-evaluate one logged decision; report identical or the differences"))
    cli_verify.configure(sub.add_parser("verify", help="check the decision log's hash chain and replay every decision"))
    cli_archive.configure(sub.add_parser("archive", help="move old decision records to a JSON-lines archive"))
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..rulebook.loader import RulesetError

    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except RulesetError as error:  # a --rulesets directory whose files do not load
        print(f"{args.command}: {one_line(error)}", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file a command opens itself (an output, a key): named, no traceback
        where = f"{error.filename}: " if error.filename else ""
        print(f"{args.command}: {where}{error.strerror or error}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if hasattr(args, "run"):
        return args.run(args)
    if args.command == "coverage":
        from .coverage import run

        return run(args)

    from ..rulebook.loader import RulesetError
    from ..rulebook.registry import Registry

    payload = read_json(args.file) if args.command == "decide" else None  # refused before the rules compile
    try:
        registry = Registry.load(args.rulesets, check_figures=args.command == "validate")
    except RulesetError as error:
        if args.command == "validate":  # its output is the problem lines, in full
            print(error, file=sys.stderr)
            return 1
        print(f"{args.command}: {one_line(error)}", file=sys.stderr)
        return 2
    if args.command == "validate":
        for version in registry.all_versions():
            print(f"ok {version.key} {version.status} {len(version.measures)} measures sha256={version.sha256}")
        return 0

    from ..decide import Decider
    from ..validate.request import CaseValidator

    decider = Decider(registry)
    validator = CaseValidator(decider.vocab, decider.registry)
    if args.command == "test":
        return run_case_files(decider, validator, args.files)
    case, errors = validator.validate(payload)
    if errors:
        print(json.dumps({"errors": errors}, ensure_ascii=False, indent=2))
        return 2
    print(json.dumps(decider.decide(case), ensure_ascii=False, indent=2))
    return 0


def run_case_files(decider, validator, files: list[Path]) -> int:
    from ..casefiles import load_cases, run_case

    specs = []
    for path in files:  # every file read first: a bad one is reported before any case runs
        try:
            specs += [(path, spec) for spec in load_cases(path)]
        except ValueError as error:
            raise InputError(one_line(error)) from None
    failed = passed = 0
    for path, spec in specs:
        result = run_case(decider, validator, spec, str(path))
        if result.passed:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {path}: {result.name}\n  " + "\n  ".join(result.failures))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
