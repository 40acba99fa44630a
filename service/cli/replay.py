"""``python -m service replay ID``: re-evaluate one logged decision and compare."""
from __future__ import annotations

import argparse
import json
import sys

from .inputs import rulesets_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("decision_id", metavar="DECISION_ID", help="the decision_id the service answered")
    add_log_arguments(parser)
    parser.set_defaults(run=run)


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", metavar="URL|PATH", default=None,
                        help="postgresql://… or a SQLite file (default: DATABASE_URL, else RAC_DECISION_LOG, "
                             "else data/decisions.sqlite3)")
    parser.add_argument("--rulesets", type=rulesets_dir, metavar="DIR", default=None, help="ruleset directory to replay with")


def open_from_args(args):
    """The decision log named by --database or by the environment, read-only (lookups
    and verify need no write access); None when it is off."""
    from ..log import from_env, open_log

    return open_log(args.database, read_only=True) if args.database else from_env(read_only=True)


def open_or_explain(args):
    """The decision log, or None after saying on stderr why there is none to use."""
    try:
        decision_log = open_from_args(args)
    except ValueError as error:
        print(error, file=sys.stderr)
        return None
    if decision_log is None:
        print("the decision log is off (RAC_DECISION_LOG=off); pass --database", file=sys.stderr)
    return decision_log


def decider_from_args(args):
    from ..decide import Decider
    from ..rulebook.registry import Registry
    from ..validate.request import CaseValidator

    decider = Decider(Registry.load(args.rulesets) if args.rulesets else None)
    return decider, CaseValidator(decider.vocab, decider.registry)


def run(args) -> int:
    """Exit 0 identical, 1 different, 2 unknown decision or no log."""
    from ..log import LogError
    from ..replay import replay_record

    decision_log = open_or_explain(args)
    if decision_log is None:
        return 2
    try:
        record = decision_log.get(args.decision_id)
    except LogError as error:
        print(error, file=sys.stderr)
        return 2
    if record is None:
        print(f"no decision {args.decision_id} in {decision_log.backend.describe()}", file=sys.stderr)
        return 2
    decider, validator = decider_from_args(args)
    report = replay_record(decider, validator, record)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["status"] == "identical" else 1
