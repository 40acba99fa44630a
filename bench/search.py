"""Finding logged decisions at 100,000 records (issue 12 §2): GET /v1/decisions's queries.

    .venv/bin/python bench/search.py [--records 100000] [--database URL] [--repeat 20]

A log of ``--records`` records is written straight into a fresh database (a SQLite
file in a temporary directory, or the PostgreSQL of ``--database``; its tables are
dropped first), each record chained and indexed by the code the service runs
(``record_hash``, ``index_record``) in transactions of 5,000, from a few dozen real
decisions varied by decision_id and case_id (10,000 distinct case_ids). Then each
query is timed (best and median of ``--repeat``), and the backfill of the whole log
after its index is dropped. Printed as Markdown.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

BATCH = 5000
CASES = 10_000


def _decisions():
    from service.decide import Decider
    from service.validate.request import CaseValidator
    from tests.helpers import qz_case

    decider = Decider()
    validator = CaseValidator(decider.vocab, decider.registry)
    out = []
    for sme in (True, False):
        for kind in ("hte_recognized", "patent_purchased"):
            event = {"id": "e1", "type": kind, "date": "2024-12-05"}
            event.update({"was_tech_sme": sme} if kind == "hte_recognized" else
                         {"patent_kind": "invention", "core_of_successful_hte_application": sme, "cost": "50000.00"})
            payload = qz_case([event])
            out.append((payload, decider.decide(validator.validate(payload)[0])))
    return out


def build(decision_log, records: int) -> float:
    from service.log.chain import GENESIS, LogRecord, canonical, record_hash
    from service.log.search import index_record

    samples = _decisions()
    conn = decision_log._connection()
    cursor = conn.cursor()
    backend = decision_log.backend
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    prev, began = GENESIS, time.perf_counter()
    for first in range(1, records + 1, BATCH):
        backend.begin_exclusive(cursor)
        for seq in range(first, min(first + BATCH, records + 1)):
            payload, decision = samples[seq % len(samples)]
            case_id = f"B-{seq % CASES}"
            payload = dict(payload, case_id=case_id)
            decision = dict(decision, case_id=case_id, decision_id=str(uuid.UUID(int=seq)))
            created = (start + timedelta(seconds=seq * 30)).isoformat(timespec="microseconds").replace("+00:00", "Z")
            record = LogRecord(seq, decision["decision_id"], created, canonical(payload), canonical(decision), prev)
            record.hash = record_hash(record)
            cursor.execute(backend.sql("INSERT INTO decision_log (seq, decision_id, created_at, input, decision, "
                                       "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                           (seq, record.decision_id, created, record.input, record.decision, prev, record.hash))
            index_record(cursor, record, decision)
            prev = record.hash
        cursor.execute("COMMIT")
    return time.perf_counter() - began


def timed(fn, repeat: int) -> tuple[float, float, int]:
    times, size = [], 0
    for _ in range(repeat):
        began = time.perf_counter_ns()
        size = fn()
        times.append((time.perf_counter_ns() - began) / 1e6)
    return min(times), statistics.median(times), size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="postgresql://… (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)

    from service.log import open_log
    from service.log.search import backfill, parse_query, search

    tmp = tempfile.TemporaryDirectory()
    target = args.database or str(Path(tmp.name) / "bench.sqlite3")
    decision_log = open_log(target)
    if args.database:
        cursor = decision_log._connection().cursor()
        for table in ("decision_measures", "decision_index", "decision_index_meta", "decision_log"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        decision_log._schema_pid = None
        decision_log._ensure_schema(decision_log._connection())
    built = build(decision_log, args.records)
    if decision_log.backend.name == "postgresql":
        decision_log._connection().cursor().execute("ANALYZE")
    else:
        decision_log._connection().execute("ANALYZE")

    def query(**params):
        query = parse_query({k: str(v) for k, v in params.items()})
        return lambda: len(search(decision_log, query)["decisions"])

    deep = str(args.records // 50)  # a cursor near the oldest records
    cases = [
        ("newest page (limit 50)", query()),
        (f"page at cursor {deep}", query(cursor=deep)),
        (f"case_id ({args.records // CASES} records)", query(case_id="B-4242")),
        ("measure granted (common)", query(measure="qz-htz/2.1")),
        ("measure denied, deep cursor", query(measure="qz-htz/2.1", outcome="denied", cursor=deep)),
        ("measure never logged", query(measure="qz-htz/2.2")),
        ("one day (2,880 records), first page", query(**{"from": "2025-01-02", "to": "2025-01-02"})),
        ("measure + day", query(measure="qz-htz/5", **{"from": "2025-01-02", "to": "2025-01-02"})),
        ("limit 500", query(limit=500)),
    ]
    print(f"## Finding decisions: {args.records:,} records on {decision_log.backend.describe().split(':')[0]}\n")
    print(f"log written and indexed in {built:.1f} s ({args.records / built:,.0f} records/s, {BATCH:,} per transaction)\n")
    print("| query | rows | best ms | median ms |\n|---|---:|---:|---:|")
    for name, fn in cases:
        best, median, rows = timed(fn, args.repeat)
        print(f"| {name} | {rows} | {best:.2f} | {median:.2f} |")
    cursor = decision_log._connection().cursor()
    for table in ("decision_measures", "decision_index", "decision_index_meta"):
        cursor.execute(f"DROP TABLE {table}")
    began = time.perf_counter()
    done = backfill(decision_log)
    spent = time.perf_counter() - began
    print(f"\nbackfill of {done:,} records after the index is dropped: {spent:.1f} s ({done / spent:,.0f} records/s)")
    decision_log.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
