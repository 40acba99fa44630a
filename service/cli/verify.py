"""``python -m service verify``: check the whole decision log's hash chain and
replay every decision; one line per problem, then a summary; exit 1 on any problem."""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .replay import add_log_arguments, decider_from_args, open_or_explain


def configure(parser: argparse.ArgumentParser) -> None:
    add_log_arguments(parser)
    parser.add_argument("--no-replay", action="store_true", help="check the hash chain only")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..log import LogError

    decision_log = open_or_explain(args)
    if decision_log is None:
        return 2
    decider, validator = (None, None) if args.no_replay else decider_from_args(args)
    try:
        return verify(decision_log, decider, validator)
    except LogError as error:
        print(error, file=sys.stderr)
        return 2


def verify(decision_log, decider=None, validator=None, out: TextIO | None = None) -> int:
    """Walk the log in seq order; without a decider, check the chain only. Returns 0 or 1."""
    from ..log import GENESIS, check_chain
    from ..replay import replay_record

    out = out or sys.stdout
    count = problems = 0
    head = decision_log.archived_head()
    for record, chain_problems in check_chain(decision_log.records(), decision_log.archived_head()):
        count += 1
        head = (record.seq, record.hash)
        for line in chain_problems:
            print(line, file=out)
        problems += len(chain_problems)
        if decider is None:
            continue
        try:
            report = replay_record(decider, validator, record)
        except Exception as error:  # a corrupt record must not stop the walk
            print(f"seq {record.seq}: replay failed: {type(error).__name__}: {error}", file=out)
            problems += 1
            continue
        for difference in report.get("differences", []):
            print(f"seq {record.seq}: replay differs at {difference['path'] or '/'}", file=out)
            problems += 1
    what = "chain checked" if decider is None else "chain checked and replayed"
    print(f"{count} record(s) {what} in {decision_log.backend.describe()}; head seq {head[0]} hash {head[1]}; "
          f"{problems} problem(s)" + ("" if problems else ": ok"), file=out)
    return 1 if problems else 0
