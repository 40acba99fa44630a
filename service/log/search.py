"""Finding logged decisions: a side index beside the hash chain.

``decision_log`` holds each record as canonical JSON text, which no database can
search at millions of rows. Two side tables, written in the append's own
transaction (``index_record``, called by ``DecisionLog.append``), make the
lookups an index range scan on SQLite and PostgreSQL alike:

    decision_index(seq, decision_id, case_id, created_at, granted, totals)
        indexes (case_id, seq) and (created_at, seq)
    decision_measures(measure, outcome, seq)   outcome: granted | denied | inapplicable
        primary key (measure, outcome, seq)

The index is not part of the chain: it can be dropped and rebuilt from the log
(``backfill``). A log written before the index existed is indexed from the first
append after it; ``decision_index_meta.unindexed_below`` says which records still
wait for ``python -m service.log.search backfill`` (and the listing says so).

Listing is keyset-paged newest first: ``cursor`` is the seq of the last record of
the previous page, so a page costs the same at record 10 and at record 10 million.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import weakref
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

import orjson

from ..validate.limits import MAX_ID  # the longest id a request may carry

DDL = (
    """CREATE TABLE IF NOT EXISTS decision_index (
    seq BIGINT PRIMARY KEY,
    decision_id TEXT NOT NULL,
    case_id TEXT,
    created_at TEXT NOT NULL,
    granted TEXT NOT NULL,
    totals TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS decision_index_case ON decision_index (case_id, seq)",
    "CREATE INDEX IF NOT EXISTS decision_index_created ON decision_index (created_at, seq)",
    """CREATE TABLE IF NOT EXISTS decision_measures (
    measure TEXT NOT NULL,
    outcome TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (measure, outcome, seq)
)""",
    "CREATE TABLE IF NOT EXISTS decision_index_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
)
OUTCOMES = ("granted", "denied", "inapplicable")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
BACKFILL_BATCH = 1000
MAX_SEQ = 2**63 - 1  # BIGINT: a larger cursor would overflow the driver, not find anything
_LISTED = "i.seq, i.decision_id, i.case_id, i.created_at, i.granted, i.totals"


class SearchError(ValueError):
    """A query parameter that cannot be used: every one is reported at once (``errors``)."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))
        self.errors = errors


# -- writing (inside the append transaction) --

# the backends that hold the side tables, per process: the per-append check is then a dict
# lookup, not a catalogue query (a fork's child asks again: its connection is its own)
_INDEXED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def ensure_index(backend, cursor, first_indexed: int) -> None:
    """Create the side tables where missing (inside the caller's transaction, which holds
    the append lock); records below ``first_indexed`` are then marked as waiting for a backfill."""
    if _INDEXED.get(backend) == os.getpid():
        return
    if backend.has_schema(cursor, "decision_index"):
        _INDEXED[backend] = os.getpid()  # only once committed tables are seen: a rolled-back CREATE is gone
        return
    for statement in DDL:
        cursor.execute(statement)
    cursor.execute(backend.sql("INSERT INTO decision_index_meta (name, value) VALUES ('unindexed_below', ?) "
                               "ON CONFLICT (name) DO NOTHING"), (first_indexed,))


def index_entries(decision: dict) -> tuple[list[str], dict, list[tuple[str, str]]]:
    """(measures granted, totals, (measure, outcome) pairs) of a decision."""
    pairs = {(o["measure"], "granted") for o in decision.get("outcomes") or ()}
    pairs |= {(d["measure"], "denied") for d in decision.get("denials") or ()}
    pairs |= {(e["measure"], "inapplicable") for e in decision.get("inapplicable") or ()}
    granted = sorted({m for m, outcome in pairs if outcome == "granted"})
    return granted, decision.get("totals") or {}, sorted(pairs)


def index_record(backend, cursor, record, decision: dict, created_at: str | None = None) -> None:
    """Index one appended record, in the append's transaction (so the index never holds a
    decision the log does not). ``record``: the LogRecord, or its seq (then ``created_at``
    is given or read back from the row just inserted)."""
    seq = record if isinstance(record, int) else record.seq
    if not isinstance(record, int):
        created_at = record.created_at
    elif created_at is None:
        cursor.execute(backend.sql("SELECT created_at FROM decision_log WHERE seq = ?"), (seq,))
        created_at = cursor.fetchone()[0]
    ensure_index(backend, cursor, seq)
    granted, totals, pairs = index_entries(decision)
    case_id = decision.get("case_id")
    cursor.execute(backend.sql("INSERT INTO decision_index (seq, decision_id, case_id, created_at, granted, totals) "
                                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING"),
                   (seq, decision["decision_id"], None if case_id is None else str(case_id), created_at,
                    json.dumps(granted, ensure_ascii=False), json.dumps(totals, ensure_ascii=False, sort_keys=True)))
    for measure, outcome in pairs:
        cursor.execute(backend.sql("INSERT INTO decision_measures (measure, outcome, seq) VALUES (?, ?, ?) "
                                    "ON CONFLICT DO NOTHING"), (measure, outcome, seq))


# -- backfill --

def _as_answered(decision_log, rows):
    """(seq, created_at, decision) of stored rows, each decision as answered: re-inflated from the
    log's parts (service/log/compact.py) as every read of the log does (``DecisionLog.inflated``)."""
    return [(int(seq), created_at, orjson.loads(decision_log.inflated(text))) for seq, created_at, text in rows]


def backfill(decision_log, batch: int = BACKFILL_BATCH, progress=None) -> int:
    """Index every logged record the index lacks, ``batch`` records per transaction (each
    holding the append lock briefly, so the service keeps logging meanwhile). Returns how
    many were indexed. Idempotent: run it again and it indexes nothing."""
    conn = decision_log._connection()
    cursor = conn.cursor()
    backend = decision_log.backend
    done, after = 0, 0
    while True:
        with backend.exclusive(cursor):
            head = cursor.execute("SELECT max(seq) FROM decision_log").fetchone()[0] or 0
            ensure_index(backend, cursor, head + 1)
            cursor.execute(backend.sql(
                "SELECT l.seq, l.created_at, l.decision FROM decision_log l WHERE l.seq > ? "
                "AND NOT EXISTS (SELECT 1 FROM decision_index i WHERE i.seq = l.seq) ORDER BY l.seq LIMIT ?"),
                (after, batch))
            rows = cursor.fetchall()
            for seq, created_at, decision in _as_answered(decision_log, rows):
                index_record(backend, cursor, seq, decision, created_at=created_at)
            if len(rows) < batch:
                cursor.execute("UPDATE decision_index_meta SET value = 1 WHERE name = 'unindexed_below'")
        done += len(rows)
        if progress is not None:
            progress(done)
        if len(rows) < batch:
            return done
        after = int(rows[-1][0])


# -- reading --

@dataclass
class Query:
    case_id: str | None = None
    created_from: str | None = None  # inclusive, the log's created_at format
    created_before: str | None = None  # exclusive
    measure: str | None = None
    outcome: str = "granted"
    limit: int = DEFAULT_LIMIT
    cursor: int | None = None  # the seq of the last record already seen
    seq_min: int | None = None  # the time range as a seq range (``seq_bounds``)
    seq_max: int | None = None


def _instant(text: str, path: str, errors: list, *, end: bool) -> str | None:
    """A date (the whole day: from its start, or up to the next day's) or an ISO datetime
    (with a zone; naive means UTC), in the log's created_at form."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        else:
            moment = datetime.fromisoformat(text)
            moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
            if end:
                moment += timedelta(microseconds=1)  # a datetime ``to`` is inclusive
    except ValueError:
        errors.append({"path": path, "message": "expected a date (2026-01-31) or an ISO datetime (2026-01-31T08:00:00Z)"})
        return None
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _identifier(args, name: str, errors: list) -> str | None:
    """An id as the validator admits one (at most MAX_ID characters, no control character):
    anything else could match nothing, and a NUL is refused by PostgreSQL's text type."""
    text = args.get(name) or None
    if text is not None and (len(text) > MAX_ID or any(ord(c) < 32 for c in text)):
        errors.append({"path": name, "message": f"at most {MAX_ID} characters, none of them a control character"})
        return None
    return text


def parse_query(args) -> Query:
    """A Query from the query string (a mapping); every bad parameter in one SearchError."""
    errors: list[dict] = []
    query = Query(case_id=_identifier(args, "case_id", errors), measure=_identifier(args, "measure", errors))
    if args.get("from"):
        query.created_from = _instant(args["from"], "from", errors, end=False)
    if args.get("to"):
        query.created_before = _instant(args["to"], "to", errors, end=True)
    outcome = args.get("outcome") or "granted"
    if outcome not in OUTCOMES:
        errors.append({"path": "outcome", "message": f"one of {', '.join(OUTCOMES)}"})
    elif outcome != "granted" and not query.measure:
        errors.append({"path": "outcome", "message": "only with measure"})
    query.outcome = outcome
    for name, low, high in (("limit", 1, MAX_LIMIT), ("cursor", 1, MAX_SEQ)):
        text = args.get(name)
        if text is None or text == "":
            continue
        if not text.isascii() or not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
            errors.append({"path": name, "message": f"an integer from {low} to {high}"})
        else:
            setattr(query, name, int(text))
    if errors:
        raise SearchError(errors)
    return query


def _where(query: Query) -> tuple[list[str], list]:
    clauses, params = [], []
    if query.case_id is not None:
        clauses.append("i.case_id = ?")
        params.append(query.case_id)
    if query.created_from is not None:
        clauses.append("i.created_at >= ?")
        params.append(query.created_from)
    if query.created_before is not None:
        clauses.append("i.created_at < ?")
        params.append(query.created_before)
    return clauses, params


def build_sql(query: Query) -> tuple[str, list]:
    """One statement for both databases (``?`` placeholders, rewritten by the backend).
    With a measure the scan runs down decision_measures' primary key, else down the
    index that fits the filter; either way ordered by seq and cut at the cursor."""
    clauses, params = _where(query)
    if query.measure is not None:
        head = (f"SELECT {_LISTED} FROM decision_measures m JOIN decision_index i ON i.seq = m.seq "
                "WHERE m.measure = ? AND m.outcome = ?")
        params = [query.measure, query.outcome] + params
        seq = "m.seq"
    else:
        head = f"SELECT {_LISTED} FROM decision_index i WHERE 1 = 1"
        seq = "i.seq"
    if query.cursor is not None:
        clauses.append(f"{seq} < ?")
        params.append(query.cursor)
    if query.seq_min is not None:
        clauses.append(f"{seq} >= ?")
        params.append(query.seq_min)
    if query.seq_max is not None:
        clauses.append(f"{seq} <= ?")
        params.append(query.seq_max)
    sql = head + "".join(f" AND {c}" for c in clauses) + f" ORDER BY {seq} DESC LIMIT ?"
    return sql, params + [query.limit + 1]  # one more: is there a next page?


def _index_state(decision_log) -> int | None:
    """``unindexed_below`` (1: complete), or None where no index exists yet."""
    if decision_log.backend.name == "sqlite":
        present = decision_log._query("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                      "AND name = 'decision_index_meta'", ())
    else:
        present = decision_log._query("SELECT count(*) FROM (SELECT to_regclass('decision_index_meta') AS t) x "
                                      "WHERE t IS NOT NULL", ())
    if not present or not present[0][0]:
        return None
    rows = decision_log._query("SELECT value FROM decision_index_meta WHERE name = 'unindexed_below'", ())
    return int(rows[0][0]) if rows else 1


def seq_bounds(decision_log, query: Query) -> tuple[int | None, int | None] | None:
    """The time range as the seq range it covers, found on the created_at index: the first
    record logged at or after ``from``, the last before ``to``. Records are stamped inside
    the append lock, so created_at grows with seq and the range holds exactly the records
    of the period; the scan then runs down seq, whatever else filters it, instead of
    reading every newer record to reach an old day. None: no record in the period."""
    low = high = None
    if query.created_from is not None:
        rows = decision_log._query("SELECT seq FROM decision_index WHERE created_at >= ? "
                                   "ORDER BY created_at, seq LIMIT 1", (query.created_from,))
        if not rows:
            return None
        low = int(rows[0][0])
    if query.created_before is not None:
        rows = decision_log._query("SELECT seq FROM decision_index WHERE created_at < ? "
                                   "ORDER BY created_at DESC, seq DESC LIMIT 1", (query.created_before,))
        if not rows:
            return None
        high = int(rows[0][0])
    return low, high


def _row(row) -> dict:
    return {"seq": int(row[0]), "decision_id": row[1], "case_id": row[2], "created_at": row[3],
            "granted": json.loads(row[4]), "totals": json.loads(row[5])}


def search(decision_log, query: Query) -> dict:
    """``{"decisions": [...], "next_cursor": str | None, "index": {"complete": bool, ...}}``."""
    state = _index_state(decision_log)
    if state is None:
        head = decision_log.head()[0]
        return {"decisions": [], "next_cursor": None,
                "index": {"complete": head == 0, "unindexed_below": head + 1}}
    index = {"complete": state <= 1, "unindexed_below": state}
    bounds = seq_bounds(decision_log, query)
    if bounds is None:
        return {"decisions": [], "next_cursor": None, "index": index}
    query = replace(query, seq_min=bounds[0], seq_max=bounds[1])
    sql, params = build_sql(query)
    rows = decision_log._query(sql, tuple(params))
    page = [_row(r) for r in rows[:query.limit]]
    more = len(rows) > query.limit
    return {"decisions": page, "next_cursor": str(page[-1]["seq"]) if more else None, "index": index}


# -- command line: python -m service.log.search backfill --database … --

def main(argv: list[str] | None = None) -> int:
    from . import from_env, open_log

    parser = argparse.ArgumentParser(prog="python -m service.log.search",
                                     description="the decision log's search index")
    sub = parser.add_subparsers(dest="command", required=True)
    fill = sub.add_parser("backfill", help="index every logged decision the index lacks (idempotent)")
    fill.add_argument("--database", default=None,
                      help="a SQLite path or postgresql:// URL (default: RAC_DECISION_LOG / DATABASE_URL)")
    fill.add_argument("--batch", type=int, default=BACKFILL_BATCH, help="records per transaction")
    args = parser.parse_args(argv)
    decision_log = open_log(args.database) if args.database else from_env()
    if decision_log is None:
        print("backfill: the decision log is off (RAC_DECISION_LOG=off)", file=sys.stderr)
        return 2
    try:
        done = backfill(decision_log, batch=max(1, args.batch))
    finally:
        decision_log.close()
    print(f"indexed {done} records of {decision_log.backend.describe()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
