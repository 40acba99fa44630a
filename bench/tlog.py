"""What the Merkle tree and signed checkpoints cost: a SQLite (or PostgreSQL) log of
N synthetic records (chained, inserted straight into the table), then the time to
build the tree, sign a checkpoint, serve inclusion and consistency proofs, the
tree's bytes a record, and ``verify --checkpoint``'s recomputation rate.

    .venv/bin/python bench/tlog.py [--records 200000] [--database postgresql://…]
"""
from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from service.log import GENESIS, LogRecord, open_log, record_hash  # noqa: E402
from service.log.checkpoints import Checkpointer, Settings  # noqa: E402
from service.log.merkle import Frontier, record_leaf  # noqa: E402
from service.log.note import Signer  # noqa: E402


def fill(decision_log, count: int) -> None:
    conn = decision_log._connection()
    cursor = conn.cursor()
    sql = decision_log.backend.sql("INSERT INTO decision_log (seq, decision_id, created_at, input, decision, "
                                   "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)")
    prev, rows = GENESIS, []
    cursor.execute("BEGIN")
    for seq in range(1, count + 1):
        record = LogRecord(seq, f"bench-{seq}", "2026-12-01T00:00:00.000000Z", "{}", "{}", prev)
        record.hash = prev = record_hash(record)
        rows.append((record.seq, record.decision_id, record.created_at, record.input, record.decision,
                     record.prev_hash, record.hash))
        if len(rows) == 10000:
            cursor.executemany(sql, rows)
            rows = []
    if rows:
        cursor.executemany(sql, rows)
    cursor.execute("COMMIT")


def timed(work, repeat: int = 1):
    start = time.perf_counter()
    for _ in range(repeat):
        result = work()
    return (time.perf_counter() - start) / repeat, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    decision_log = open_log(args.database or path)
    fill(decision_log, args.records)
    checkpointer = Checkpointer(decision_log, Settings(Signer("bench.example/log", Ed25519PrivateKey.generate()),
                                                       "bench.example/log", 1000, 600))
    build, size = timed(lambda: checkpointer.tree.extend())
    sign, checkpoint = timed(lambda: checkpointer.issue(force=True))
    rng = random.Random(7)
    proof, _ = timed(lambda: checkpointer.tree.inclusion(rng.randrange(1, size + 1), size), 200)
    consistency, _ = timed(lambda: checkpointer.tree.consistency(rng.randrange(1, size), size), 200)

    def recompute():
        frontier = Frontier()
        for record in decision_log.records(batch=5000):
            frontier.append(record_leaf(record.hash))
        return frontier.root()

    walk, root = timed(recompute)
    assert root == checkpoint.root
    print(f"| records | {size:,} |\n|---|---|")
    print(f"| tree built (first time, {size:,} leaves) | {build:.2f} s ({build / size * 1e6:.1f} µs a record) |")
    print(f"| checkpoint signed (tree up to date) | {sign * 1000:.1f} ms |")
    print(f"| inclusion proof (mean of 200) | {proof * 1000:.2f} ms |")
    print(f"| consistency proof (mean of 200) | {consistency * 1000:.2f} ms |")
    print(f"| verify --checkpoint recomputation (read + hash) | {walk:.2f} s ({size / walk:,.0f} records/s) |")
    if args.database is None:
        conn = sqlite3.connect(path)
        try:
            pages = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
            print(f"| merkle_node bytes a record (SQLite pages) | {pages.get('merkle_node', 0) / size:.0f} |")
            print(f"| decision_log bytes a record (these tiny synthetic records) | "
                  f"{pages.get('decision_log', 0) / size:.0f} |")
        except sqlite3.OperationalError:
            print(f"| file bytes a record (log + tree) | {os.path.getsize(path) / size:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
