"""The decision log: append (serialised across processes), read, walk, archive.

A record's input is stored as the masking policy leaves it (``masking``), its decision
in the compact form of ``compact`` (re-inflated on every read: a record read back is
the record as hashed). Archiving (``archive``, then ``prune``) moves old records to a
JSON-lines file and keeps their leaves — seq, decision_id, prev_hash, hash — in
``decision_log_archived``, so the chain still starts at seq 1 and every record hash (the
Merkle tree's leaves) is still in the database: ``leaves()``."""
from __future__ import annotations

import math
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import orjson

from ..paths import ROOT
from . import compact
from . import masking as masking_policy
from .chain import FIELDS, FIELDS_2, FORMAT, GENESIS, LogRecord, canonical, record_hash, sha256_text
from .db import ADDED_COLUMNS, SCHEMAS, Backend, NoLog, backend_for
from .search import index_record

DEFAULT_PATH = ROOT / "data" / "decisions.sqlite3"
_COLUMNS_1 = ", ".join(FIELDS)
_COLUMNS = ", ".join(FIELDS_2)
_INSERT = f"INSERT INTO decision_log ({_COLUMNS}) VALUES ({', '.join('?' * len(FIELDS_2))})"


class LogError(RuntimeError):
    """The decision log could not be opened, written or read."""

    retry_after = 5  # seconds a client should wait before trying again


class LogBusy(LogError):
    """The append lock was held elsewhere for longer than the configured wait."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class DecisionLog:
    """One per app. Connections are opened lazily, one per thread, per process
    and per role (writer, reader): a connection is never used across a fork
    (gunicorn forks after the app is built) nor across threads. Reads go through
    a read-only connection, so a log opened ``read_only`` needs no write access
    and never creates nor alters anything.

    Once an append has waited the whole ``lock_wait`` in vain, the appends of the
    next ``lock_wait`` seconds in this process are refused at once: while a lock
    is stuck, one thread at a time waits for it, not every thread of the worker."""

    def __init__(self, backend: Backend, *, read_only: bool = False,
                 masking: masking_policy.MaskPolicy | None = None):
        self.backend = backend
        self.read_only = read_only
        self.masking = masking  # None: the input is stored as received
        self._parts: dict[str, str] = {}  # decision parts known stored (content-addressed: never change)
        self._local = threading.local()
        self._inherited: list = []  # connections inherited through fork: kept, never used nor closed here
        self._schema_pid = None  # the process that has seen the table exist
        self._busy_until = 0.0  # monotonic time until which appends are refused without waiting
        self.last_append: dict = {}  # {"ok": bool, "at": monotonic time, "error": text}: what /readyz reports

    def __repr__(self) -> str:
        return f"DecisionLog({self.backend.describe()}{', read-only' if self.read_only else ''})"

    # -- connections --

    def _connection(self, role: str = "writer"):
        local = self._local
        conn = getattr(local, role, None)
        if conn is not None and getattr(local, role + "_pid") == os.getpid():
            return conn
        if conn is not None:  # inherited through fork: the parent still owns its socket/file
            self._inherited.append(conn)
            setattr(local, role, None)
        conn = self.backend.connect(read_only=role == "reader")
        if role == "writer":
            try:
                self._ensure_schema(conn)
            except BaseException:
                conn.close()
                raise
        setattr(local, role, conn)
        setattr(local, role + "_pid", os.getpid())
        return conn

    def _ensure_schema(self, conn) -> None:
        """The writer's DDL, once per process: only where the table is missing, and then
        under the append lock, so that concurrent first starts never race."""
        if self._schema_pid == os.getpid():
            return
        cursor = conn.cursor()
        if not self.backend.is_current(cursor):
            with self.backend.exclusive(cursor):
                for statement in SCHEMAS:
                    cursor.execute(statement)
                present = self.backend.columns(cursor)
                for name, kind in ADDED_COLUMNS.items():  # a log of format 1 records gains format 2's columns
                    if name not in present:
                        cursor.execute(f"ALTER TABLE decision_log ADD COLUMN {name} {kind}")
        self._schema_pid = os.getpid()

    def check_masking(self, vocab, registry) -> None:
        """At start-up: refuse (MaskError) a masking policy that masks what a rule reads."""
        if self.masking:
            self.masking.check(vocab, registry)

    def _discard(self, role: str = "writer") -> None:
        """After a failure: close this thread's connection; the next call opens a fresh one."""
        conn = getattr(self._local, role, None)
        setattr(self._local, role, None)
        if conn is not None and getattr(self._local, role + "_pid", None) == os.getpid():
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        self._discard("writer")
        self._discard("reader")

    # -- readiness --

    def ready(self) -> str | None:
        """None when an append could be made now (the lock can be had, the log written),
        else why not. Opens its own short-lived connection; changes nothing."""
        if self.read_only:
            return "the log is open read-only"
        try:
            return self.backend.probe()
        except Exception as error:  # an unforeseen driver failure is still "not ready"
            return f"{type(error).__name__}: {error}"

    # -- writing --

    def append(self, payload, decision: dict, *, requested_by: str | None = None,
               request_id: str | None = None) -> LogRecord:
        """Log one decision: one transaction holding the append lock, one INSERT (and the
        decision's parts not stored yet). ``payload`` is the validated request body as received;
        ``requested_by``: the credential's name; ``request_id``: the request's id."""
        if self.read_only:
            raise LogError(f"{self.backend.describe()} is open read-only")
        try:
            received_sha256 = sha256_text(canonical(payload))
            kept, masked = self.masking.apply(payload) if self.masking else (payload, [])
            input_text, decision_text = canonical(kept), canonical(decision)
            compacted = self._compact(decision_text)  # outside the lock: it is held for the INSERTs only
        except TypeError as error:
            raise LogError(f"decision not serialisable: {error}") from error
        wait = self.backend.lock_wait
        if time.monotonic() < self._busy_until:
            raise self._failed(decision, LogBusy(f"the append lock was not had in {wait:g} s; not retried yet",
                                                 math.ceil(wait)))
        try:
            conn = self._connection()
            cursor = conn.cursor()
            with self.backend.exclusive(cursor):
                seq, prev_hash = self._last(cursor)
                seq += 1
                record = LogRecord(seq, decision["decision_id"], _now(), input_text, decision_text, prev_hash,
                                   format=FORMAT, requested_by=requested_by, request_id=request_id,
                                   input_sha256=received_sha256, masked=masked)
                record.hash = record_hash(record)
                stored, parts = self._parts_to_insert(cursor, decision_text, *compacted)
                for part_id, body in parts.items():
                    cursor.execute(self.backend.sql("INSERT INTO decision_parts (id, body) VALUES (?, ?) "
                                                    "ON CONFLICT (id) DO NOTHING"), (part_id, body))
                cursor.execute(self.backend.sql(_INSERT), _row(record, stored))
                index_record(self.backend, cursor, record, decision)  # the search index, in the same transaction
            self._parts.update(parts)  # known to the table only once committed
        except Exception as error:
            self._discard()
            if self.backend.is_busy(error):
                self._busy_until = time.monotonic() + wait
                raise self._failed(decision, LogBusy(
                    f"decision {decision.get('decision_id')} not logged in {self.backend.describe()}: "
                    f"the append lock was not had in {wait:g} s ({error})", math.ceil(wait))) from error
            raise self._failed(decision, LogError(
                f"decision {decision.get('decision_id')} not logged in {self.backend.describe()}: {error}")) from error
        self._busy_until = 0.0
        self.last_append = {"ok": True, "at": time.monotonic()}
        return record

    def _last(self, cursor) -> tuple[int, str]:
        """(seq, hash) of the last record, live or archived."""
        cursor.execute("SELECT seq, hash FROM decision_log ORDER BY seq DESC LIMIT 1")
        last = cursor.fetchone()
        if last is None:
            cursor.execute("SELECT seq, hash FROM decision_log_archived ORDER BY seq DESC LIMIT 1")
            last = cursor.fetchone()
        return (int(last[0]), last[1]) if last else (0, GENESIS)

    @staticmethod
    def _compact(decision_text: str, held=None) -> tuple[str, dict]:
        """(the decision's stored text, its parts). The compact form is used only when it
        inflates back to the very text answered."""
        decision = orjson.loads(decision_text)
        stored, parts = compact.deflate(decision) if held is None else compact.deflate(decision, held)
        if not parts or canonical(compact.inflate(stored, parts)) != decision_text:
            return decision_text, {}
        return canonical(stored), parts

    def _parts_to_insert(self, cursor, decision_text: str, stored: str, parts: dict) -> tuple[str, dict]:
        """(the stored text, the parts not in the table yet), under the append lock."""
        unknown = [part_id for part_id in parts if part_id not in self._parts]
        if not unknown:
            return stored, {}
        cursor.execute(self.backend.sql(f"SELECT id, body FROM decision_parts WHERE id IN "
                                        f"({', '.join('?' * len(unknown))})"), tuple(unknown))
        held = dict(cursor.fetchall())
        if any(held[part_id] != parts[part_id] for part_id in held):  # an id held with another body
            stored, parts = self._compact(decision_text, lambda part_id, body: held.get(part_id, body) == body)
        self._parts.update((part_id, body) for part_id, body in held.items() if parts.get(part_id) == body)
        return stored, {part_id: body for part_id, body in parts.items() if part_id not in held}

    def _failed(self, decision: dict, error: LogError) -> LogError:
        self.last_append = {"ok": False, "at": time.monotonic(), "error": str(error)}
        return error

    # -- reading --

    def get(self, decision_id: str) -> LogRecord | None:
        rows = self._select("WHERE decision_id = ?", (decision_id,))
        return rows[0] if rows else None

    def records(self, batch: int = 500, *, before: int | None = None) -> Iterator[LogRecord]:
        """Every live record in seq order (``before``: those of seq < before), read in batches
        (keyset pagination). Archived records are not among them: see ``archived_head``, ``leaves``."""
        after = None
        while True:
            where, params = [], []
            if after is not None:
                where.append("seq > ?")
                params.append(after)
            if before is not None:
                where.append("seq < ?")
                params.append(before)
            clause = ("WHERE " + " AND ".join(where) + " ") if where else ""
            rows = self._select(clause + "ORDER BY seq LIMIT ?", (*params, batch))
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].seq

    def head(self) -> tuple[int, str]:
        rows = self._query("SELECT seq, hash FROM decision_log ORDER BY seq DESC LIMIT 1", ())
        return (int(rows[0][0]), rows[0][1]) if rows else self.archived_head()

    def archived_head(self) -> tuple[int, str]:
        """(seq, hash) of the last archived record: where the live chain starts from; (0, GENESIS) when none."""
        rows = self._query("SELECT seq, hash FROM decision_log_archived ORDER BY seq DESC LIMIT 1", (),
                           table="decision_log_archived")
        return (int(rows[0][0]), rows[0][1]) if rows else (0, GENESIS)

    def archived(self, batch: int = 5000) -> Iterator[tuple[int, str, str, str, str]]:
        """(seq, decision_id, prev_hash, hash, archive) of each archived record, in seq order."""
        after = 0
        while True:
            rows = self._query("SELECT seq, decision_id, prev_hash, hash, archive FROM decision_log_archived "
                               "WHERE seq > ? ORDER BY seq LIMIT ?", (after, batch), table="decision_log_archived")
            for row in rows:
                yield int(row[0]), row[1], row[2], row[3], row[4]
            if len(rows) < batch:
                return
            after = int(rows[-1][0])

    def leaves(self) -> Iterator[tuple[int, str]]:
        """(seq, hash) of every record ever appended, archived ones first: the Merkle tree's leaves."""
        for seq, _, _, leaf, _ in self.archived():
            yield seq, leaf
        after = 0
        while True:  # the hashes alone: no record is read nor inflated
            rows = self._query("SELECT seq, hash FROM decision_log WHERE seq > ? ORDER BY seq LIMIT ?", (after, 5000))
            for row in rows:
                yield int(row[0]), row[1]
            if len(rows) < 5000:
                return
            after = int(rows[-1][0])

    # -- archive --

    def keep_leaves(self, records: list[LogRecord], archive: str) -> None:
        """Record the leaves of archived records (idempotent: an archive run again adds nothing)."""
        self._write([(self.backend.sql("INSERT INTO decision_log_archived (seq, decision_id, prev_hash, hash, archive) "
                                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING"),
                      (r.seq, r.decision_id, r.prev_hash, r.hash, archive)) for r in records])

    def prune(self, before: int) -> int:
        """Delete the live records of seq < ``before`` whose leaf is kept with the same hash; returns how many.
        On PostgreSQL this needs the table owner (the service's role may not DELETE; see postgres-roles.sql)."""
        statement = ("DELETE FROM decision_log WHERE seq < ? AND EXISTS (SELECT 1 FROM decision_log_archived a "
                     "WHERE a.seq = decision_log.seq AND a.hash = decision_log.hash)")
        return self._write([(self.backend.sql(statement), (before,))])

    def _write(self, statements: list[tuple[str, tuple]]) -> int:
        if self.read_only:
            raise LogError(f"{self.backend.describe()} is open read-only")
        count = 0
        try:
            cursor = self._connection().cursor()
            with self.backend.exclusive(cursor):
                for sql, params in statements:
                    cursor.execute(sql, params)
                    count += max(cursor.rowcount, 0)
        except LogError:
            raise
        except Exception as error:
            self._discard()
            raise LogError(f"decision log {self.backend.describe()} not written: {error}") from error
        return count

    # -- reading rows --

    def inflated(self, text: str) -> str:
        """A stored decision column as answered (the text itself when it refers to no part)."""
        if compact.REF not in text:
            return text
        value = orjson.loads(text)
        wanted = compact.references(value)
        return _inflated(value, self._read_parts(wanted)) if wanted else text

    def _select(self, clause: str, params: tuple) -> list[LogRecord]:
        """Records, inflated: as hashed, as answered."""
        columns = self._reader_columns()
        if columns is None:
            return []
        rows = self._query(f"SELECT {columns} FROM decision_log {clause}", params)
        records = [_record(row) for row in rows]
        stored = {}
        for record in records:
            if compact.REF in record.decision:  # cheap test first: most text holds no reference at all
                value = orjson.loads(record.decision)
                if compact.references(value):
                    stored[record.seq] = value
        if stored:
            parts = self._read_parts(set().union(*(compact.references(v) for v in stored.values())))
            for record in records:
                if record.seq in stored:
                    record.decision = _inflated(stored[record.seq], parts)
        return records

    def _reader_columns(self) -> str | None:
        """The columns to select: format 2's, or format 1's on a log never opened by a writer since."""
        local = self._local
        known = getattr(local, "reader_columns", None)
        if known is not None and getattr(local, "reader_columns_pid", None) == os.getpid():
            return known
        try:
            cursor = self._connection("reader").cursor()
            if not self.backend.has_schema(cursor):
                return None
            present = self.backend.columns(cursor)
        except NoLog:
            return None
        except Exception as error:
            self._discard("reader")
            raise LogError(f"decision log {self.backend.describe()} not readable: {error}") from error
        columns = _COLUMNS if set(ADDED_COLUMNS) <= present else _COLUMNS_1
        local.reader_columns, local.reader_columns_pid = columns, os.getpid()
        return columns

    def _read_parts(self, wanted: set[str]) -> dict:
        """The bodies of these parts, each checked against its id (a part edited in the table is left out:
        its records then fail to inflate, and show as altered)."""
        missing = sorted(wanted - self._parts.keys())
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            rows = self._query(f"SELECT id, body FROM decision_parts WHERE id IN ({', '.join('?' * len(chunk))})",
                               tuple(chunk), table="decision_parts")
            for part_id, body in rows:
                if compact.body_matches(part_id, body):
                    self._parts[part_id] = body
        return self._parts

    def _query(self, sql: str, params: tuple, table: str = "decision_log") -> list:
        """Rows read on this thread's read-only connection; none when there is no log (table) yet."""
        try:
            cursor = self._connection("reader").cursor()
            if not self.backend.has_schema(cursor, table):
                return []
            cursor.execute(self.backend.sql(sql), params)
            return cursor.fetchall()
        except NoLog:
            return []
        except Exception as error:
            self._discard("reader")
            raise LogError(f"decision log {self.backend.describe()} not readable: {error}") from error


def _inflated(stored: dict, parts: dict) -> str:
    try:
        return canonical(compact.inflate(stored, parts))
    except KeyError:  # a part missing or edited: the stored text stands, and its hash will not match
        return canonical(stored)


def _record(row) -> LogRecord:
    record = LogRecord(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])
    if len(row) > 7:
        record.format = int(row[7])
        record.requested_by, record.request_id, record.input_sha256 = row[8], row[9], row[10]
        record.masked = orjson.loads(row[11]) if row[11] else []
    return record


def _row(record: LogRecord, stored_decision: str) -> tuple:
    return (record.seq, record.decision_id, record.created_at, record.input, stored_decision, record.prev_hash,
            record.hash, record.format, record.requested_by, record.request_id, record.input_sha256,
            canonical(record.masked) if record.masked else None)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def open_log(target: str | Path, *, read_only: bool = False,
             masking: masking_policy.MaskPolicy | None = None) -> DecisionLog:
    """A log at ``postgresql://…`` or at a SQLite file path (nothing is opened yet).
    ``read_only``: lookups and walks only, with no write access needed."""
    return DecisionLog(backend_for(target), read_only=read_only, masking=masking)


def from_env(environ=None, *, read_only: bool = False) -> DecisionLog | None:
    """``RAC_DECISION_LOG=off`` → None (no log); ``DATABASE_URL`` (postgresql://…) →
    PostgreSQL; else SQLite at ``RAC_DECISION_LOG`` (default data/decisions.sqlite3).
    ``RAC_LOG_MASK`` (a YAML file) and ``RAC_LOG_MASK_KEY``: the masking policy (``masking``)."""
    environ = os.environ if environ is None else environ
    setting = environ.get("RAC_DECISION_LOG", "").strip()
    if setting.lower() == "off":
        return None
    policy = None if read_only else masking_policy.from_env(environ)
    url = environ.get("DATABASE_URL", "").strip()
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {url.split(':', 1)[0]}:…")
        return open_log(url, read_only=read_only, masking=policy)
    return open_log(setting or DEFAULT_PATH, read_only=read_only, masking=policy)
