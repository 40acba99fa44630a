"""Bytes a decision record costs in the log: 300 mixed Qinzhou cases (seeded), decided and
appended to a fresh SQLite log; prints the stored bytes per record by column and the file size.

    .venv/bin/python bench/log_size.py [--cases 300] [--seed 7]
"""
import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import random  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.cases import mixed_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from service.decide import Decider
    from service.log import open_log
    from service.validate.request import CaseValidator

    decider = Decider()
    validator = CaseValidator(decider.vocab, decider.registry)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "decisions.sqlite3"
        decision_log = open_log(path)
        for index in range(args.cases):
            payload = mixed_case(rng)
            case, errors = validator.validate(payload)
            assert not errors, errors
            decision_log.append(payload, decider.decide(case))
        decision_log.close()
        conn = sqlite3.connect(path)
        conn.execute("VACUUM")
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            sizes = conn.execute("SELECT " + ", ".join(f"coalesce(sum(length(CAST({c} AS BLOB))), 0)" for c in columns)
                                 + f", count(*) FROM {table}").fetchone()
            total, rows = sum(sizes[:-1]), sizes[-1]
            print(f"{table}: {rows} row(s), {total} bytes of values, "
                  + ", ".join(f"{c} {s / args.cases:.0f}" for c, s in zip(columns, sizes) if s) + " bytes/record")
        values = sum(conn.execute("SELECT coalesce(sum(length(CAST(input AS BLOB)) + length(CAST(decision AS BLOB))), 0) "
                                  "FROM decision_log").fetchone())
        conn.close()
        size = path.stat().st_size
        print(f"{args.cases} records: file {size} bytes, {size / args.cases:.0f} bytes/record on disk; "
              f"input+decision {values / args.cases:.0f} bytes/record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
