"""``python -m service verify``: check the whole decision log's hash chain and
replay every decision; one line per problem, then a summary; exit 1 on any problem.

``--checkpoint FILE`` also checks the log against a signed checkpoint the auditor
holds (``GET /v1/log/checkpoint``, kept elsewhere): the Merkle root of the log's
first N records is recomputed from the records themselves and must be the
checkpoint's (else the log was truncated, rewritten or forked); every checkpoint
the log stores must be signed by the key and match the records; a record no
signed checkpoint covers is reported, since nothing tells it from a forged one
(``--allow-unsigned-tail`` makes that a note: the records since the last checkpoint)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TextIO

from .progress import Progress
from .replay import add_log_arguments, decider_from_args, open_or_explain


def configure(parser: argparse.ArgumentParser) -> None:
    add_log_arguments(parser)
    parser.add_argument("--no-replay", action="store_true", help="check the hash chain only")
    parser.add_argument("--checkpoint", type=Path, metavar="FILE", default=None,
                        help="a signed checkpoint (C2SP tlog-checkpoint) the log must extend")
    parser.add_argument("--public-key", type=Path, metavar="FILE", default=None,
                        help="the checkpoints' verifier key: note form name+hash+key, or PEM "
                             "(default: the public half of RAC_CHECKPOINT_KEY)")
    parser.add_argument("--key-name", default=None, help="the key's name for a PEM key (default: the checkpoint's origin)")
    parser.add_argument("--allow-unsigned-tail", action="store_true",
                        help="records after the last signed checkpoint are a note, not a problem")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..log import LogError

    auditor = None
    if args.checkpoint is not None:
        auditor = _auditor_from_args(args)
        if auditor is None:
            return 2
    decision_log = open_or_explain(args)
    if decision_log is None:
        return 2
    decider, validator = (None, None) if args.no_replay else decider_from_args(args)
    try:
        return verify(decision_log, decider, validator, checkpoint=auditor)
    except LogError as error:
        print(error, file=sys.stderr)
        return 2


def _auditor_from_args(args):
    from ..log.note import NoteError, load_verifier, open_note, parse_checkpoint

    try:
        note = args.checkpoint.read_text(encoding="utf-8")
        key_path = args.public_key or os.environ.get("RAC_CHECKPOINT_KEY", "").strip()
        if not key_path:
            print("--checkpoint needs --public-key (or RAC_CHECKPOINT_KEY)", file=sys.stderr)
            return None
        name = args.key_name or os.environ.get("RAC_CHECKPOINT_KEY_NAME") or parse_checkpoint(
            note.rpartition("\n\n")[0] + "\n").origin
        verifier = load_verifier(Path(key_path).read_bytes(), name)
        held = parse_checkpoint(open_note(note, verifier))
    except (OSError, ValueError, NoteError) as error:  # ValueError: a file that is not UTF-8 text
        print(f"{args.checkpoint}: {error}", file=sys.stderr)
        return None
    return Auditor(held, verifier, args.allow_unsigned_tail)


class Auditor:
    """Checks a walk of the log against a held checkpoint and the log's stored ones."""

    def __init__(self, held, verifier, allow_unsigned_tail: bool = False):
        from ..log.merkle import Frontier

        self.held, self.verifier, self.allow_tail = held, verifier, allow_unsigned_tail
        self.frontier = Frontier()
        self.sizes: dict[int, list] = {}  # tree size -> stored checkpoints of that size
        self.roots: dict[int, bytes] = {}  # tree size -> root recomputed from the records
        self.problems: list[str] = []
        self.notes: list[str] = []

    def load_stored(self, decision_log) -> None:
        from ..log.checkpoints import TreeStore
        from ..log.note import NoteError, read_checkpoint

        for stored in TreeStore(decision_log).checkpoints():
            try:
                checkpoint = read_checkpoint(stored.note, self.verifier)
            except NoteError as error:
                self.problems.append(f"stored checkpoint of size {stored.size}: {error}")
                continue
            if checkpoint.size != stored.size or checkpoint.origin != self.held.origin:
                self.problems.append(f"stored checkpoint of size {stored.size}: it says {checkpoint.origin} "
                                     f"size {checkpoint.size}")
                continue
            self.sizes.setdefault(checkpoint.size, []).append(checkpoint)
        self.sizes.setdefault(self.held.size, []).append(self.held)

    def add(self, record) -> None:
        from ..log.merkle import record_leaf

        try:
            leaf = record_leaf(record.hash)
        except ValueError:
            self.problems.append(f"seq {record.seq}: its hash is not hex; the tree cannot be recomputed")
            leaf = b"\0" * 32
        self.frontier.append(leaf)
        if self.frontier.size in self.sizes:
            self.roots[self.frontier.size] = self.frontier.root()

    def finish(self) -> list[str]:
        size, held = self.frontier.size, self.held
        if size < held.size:
            self.problems.append(f"the log holds {size} record(s), the checkpoint {held.size}: "
                                 "the log was truncated")
        elif self.roots[held.size] != held.root:
            self.problems.append(f"the log's first {held.size} record(s) do not hash to the checkpoint's root: "
                                 "the history was rewritten or the log forked")
            forks = [n for n, cps in self.sizes.items() if n >= held.size and self.roots.get(n) is not None
                     and any(cp is not held and cp.root == self.roots[n] for cp in cps)]
            if forks:
                self.problems.append(f"the log's signed checkpoint of size {max(forks)} is not consistent with the "
                                     f"held one of size {held.size}: the key signed two histories (a fork)")
        covered = 0
        for tree_size, checkpoints in sorted(self.sizes.items()):
            root = self.roots.get(tree_size)
            for checkpoint in checkpoints:
                if root is None:
                    if checkpoint is not held:
                        self.problems.append(f"signed checkpoint of size {tree_size}: the log holds only {size}")
                elif checkpoint.root != root:
                    if checkpoint is not held:
                        self.problems.append(f"signed checkpoint of size {tree_size}: the records do not hash to its root")
                elif tree_size >= covered:
                    covered = tree_size
        if size > covered:
            line = (f"seq {covered + 1}..{size}: {size - covered} record(s) no signed checkpoint covers: "
                    "a forged record is not told from a new one")
            (self.notes if self.allow_tail else self.problems).append(line)
        return self.problems


def verify(decision_log, decider=None, validator=None, out: TextIO | None = None, checkpoint: Auditor | None = None,
           progress_stream: TextIO | None = None) -> int:
    """Walk the log in seq order; without a decider, check the chain only; with an
    ``Auditor``, against a held checkpoint too. Returns 0 or 1."""
    from ..log import GENESIS, check_chain
    from ..replay import replay_record

    out = out or sys.stdout
    count = problems = 0
    head = decision_log.archived_head()
    if checkpoint is not None:
        checkpoint.load_stored(decision_log)
        for seq, _, _, leaf, _ in decision_log.archived():  # pruned records: their leaves are kept
            checkpoint.add(SimpleNamespace(seq=seq, hash=leaf))
    progress = Progress("verify", max(decision_log.head()[0] - head[0], 0), stream=progress_stream)
    for record, chain_problems in check_chain(decision_log.records(), decision_log.archived_head()):
        count += 1
        progress.advance()
        head = (record.seq, record.hash)
        if checkpoint is not None:
            checkpoint.add(record)
        for line in chain_problems:
            progress.close()  # the bar cleared first: a problem line is never glued to it on a terminal
            print(line, file=out)
        problems += len(chain_problems)
        if decider is None:
            continue
        try:
            report = replay_record(decider, validator, record)
        except Exception as error:  # a corrupt record must not stop the walk
            progress.close()
            print(f"seq {record.seq}: replay failed: {type(error).__name__}: {error}", file=out)
            problems += 1
            continue
        for difference in report.get("differences", []):
            progress.close()
            print(f"seq {record.seq}: replay differs at {difference['path'] or '/'}", file=out)
            problems += 1
    progress.close()
    what = "chain checked" if decider is None else "chain checked and replayed"
    if checkpoint is not None:
        for line in checkpoint.finish():
            print(line, file=out)
            problems += 1
        for line in checkpoint.notes:
            print(f"note: {line}", file=out)
        what += f" against the checkpoint of size {checkpoint.held.size}"
    print(f"{count} record(s) {what} in {decision_log.backend.describe()}; head seq {head[0]} hash {head[1]}; "
          f"{problems} problem(s)" + ("" if problems else ": ok"), file=out)
    return 1 if problems else 0
