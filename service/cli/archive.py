"""``python -m service archive``: move old decision records to a JSON-lines file.

    python -m service archive --before SEQ --to FILE [--prune] [--database URL|PATH]
    python -m service archive --verify FILE [--database URL|PATH]

The archive's first line is a header (``rac-decision-log-archive``: the seq range, the
hash the first record chains from, the last record's hash); each further line is one
record as hashed (``LogRecord.as_dict``: the decision as answered, the input as the
log kept it). Archiving checks the records' chain first, writes the file (then
renames it into place), and keeps each archived record's leaf — seq, decision_id,
prev_hash, hash — in ``decision_log_archived``. ``--prune`` then deletes the archived
records from the live table, but only after reading the file back and checking it
against the leaves; on PostgreSQL that needs the table's owner (``schemas/postgres-roles.sql``).

Since every leaf stays in the database, the chain still starts at seq 1 (``verify``
checks the live records from the last archived leaf on) and every checkpoint over the
record hashes stays verifiable; ``--verify`` recomputes each archived record's hash
and checks it against the leaf the database kept (or, without a database, the chain
within the file)."""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import orjson

HEADER = "rac-decision-log-archive"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--before", type=int, metavar="SEQ", help="archive the live records of seq < SEQ")
    parser.add_argument("--to", type=Path, metavar="FILE", help="the archive to write (JSON lines; must not exist)")
    parser.add_argument("--prune", action="store_true",
                        help="then delete the archived records from the live table (their leaves stay)")
    parser.add_argument("--verify", type=Path, metavar="FILE", help="check an archive against the database's leaves")
    parser.add_argument("--database", metavar="URL|PATH", default=None,
                        help="postgresql://… or a SQLite file (default: DATABASE_URL, else RAC_DECISION_LOG)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..log import LogError, from_env, open_log

    decision_log = open_log(args.database) if args.database else from_env({k: v for k, v in os.environ.items()
                                                                            if k != "RAC_LOG_MASK"})
    if decision_log is None:
        print("the decision log is off (RAC_DECISION_LOG=off); pass --database", file=sys.stderr)
        return 2
    try:
        if args.verify:
            problems = verify_archive(args.verify, decision_log)
            for line in problems:
                print(line)
            print(f"{args.verify}: {len(problems)} problem(s)" + ("" if problems else ": ok"))
            return 1 if problems else 0
        if args.before is None or args.to is None:
            print("archive needs --before SEQ and --to FILE (or --verify FILE)", file=sys.stderr)
            return 2
        return archive(decision_log, args.before, args.to, prune=args.prune)
    except LogError as error:
        print(error, file=sys.stderr)
        return 2
    finally:
        decision_log.close()


def archive(decision_log, before: int, to: Path, *, prune: bool = False, out=None) -> int:
    """Write the live records of seq < ``before`` to ``to``, keep their leaves; 0 done, 1 refused."""
    from ..log import check_chain

    out = out or sys.stdout
    if to.exists():
        print(f"{to} exists: an archive is never overwritten", file=out)
        return 1
    start = decision_log.archived_head()
    records, problems = [], []
    for record, found in check_chain(decision_log.records(before=before), start):
        records.append(record)
        problems += found
    if problems:
        print("\n".join(problems) + f"\nnot archived: the chain below seq {before} has {len(problems)} problem(s)",
              file=out)
        return 1
    if not records:
        print(f"no live record of seq < {before}: nothing archived", file=out)
        return 0
    header = {HEADER: 1, "from_seq": records[0].seq, "to_seq": records[-1].seq, "prev_hash": records[0].prev_hash,
              "head_hash": records[-1].hash, "count": len(records)}
    _write_lines(to, [header] + [record.as_dict() for record in records])
    name = f"{to.name} sha256={_file_sha256(to)}"
    decision_log.keep_leaves(records, name)
    print(f"{len(records)} record(s), seq {records[0].seq}–{records[-1].seq}, archived to {to} ({name}); "
          f"their leaves kept in decision_log_archived", file=out)
    if not prune:
        return 0
    problems = verify_archive(to, decision_log)
    if problems:
        print("\n".join(problems) + "\nnot pruned: the archive does not check", file=out)
        return 1
    pruned = decision_log.prune(records[-1].seq + 1)
    print(f"{pruned} record(s) pruned from the live table", file=out)
    return 0


def verify_archive(path: Path, decision_log=None) -> list[str]:
    """Problems of an archive: a record whose hash does not recompute, a broken chain within it,
    or (with a log) a record whose hash is not the leaf the database kept for it when archiving."""
    from ..log import check_chain
    from ..log.chain import record_from_dict

    lines = path.read_bytes().splitlines()
    if not lines:
        return [f"{path}: empty"]
    try:
        header = orjson.loads(lines[0])
    except orjson.JSONDecodeError:
        return [f"{path}: line 1 is not JSON: not a decision log archive"]
    if not isinstance(header, dict) or header.get(HEADER) != 1:
        return [f"{path}: not a decision log archive"]
    records = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            records.append(record_from_dict(orjson.loads(line)))
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            return [f"{path}: line {number} is not an archived record ({type(error).__name__}: {error})"]
    problems = []
    for _, found in check_chain(records, (header["from_seq"] - 1, header["prev_hash"])):
        problems += found
    if not records or records[-1].hash != header["head_hash"] or len(records) != header["count"]:
        problems.append(f"{path}: the records do not end at the header's head hash, or are not its count")
    if decision_log is not None:
        kept = {seq: leaf for seq, _, _, leaf, _ in decision_log.archived()}
        for record in records:
            if kept.get(record.seq) != record.hash:
                problems.append(f"seq {record.seq}: not the leaf the log keeps for it")
    return problems


def _write_lines(path: Path, values: list) -> None:
    temporary = path.with_name(path.name + ".partial")
    with open(temporary, "wb") as file:
        for value in values:
            file.write(orjson.dumps(value, option=orjson.OPT_SORT_KEYS) + b"\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
