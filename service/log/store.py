"""The decision log: append (serialised across processes), read, walk."""
from __future__ import annotations

import math
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..paths import ROOT
from .chain import FIELDS, GENESIS, LogRecord, canonical, record_hash
from .db import SCHEMA, Backend, NoLog, backend_for
from .search import index_record

DEFAULT_PATH = ROOT / "data" / "decisions.sqlite3"
_COLUMNS = ", ".join(FIELDS)


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

    def __init__(self, backend: Backend, *, read_only: bool = False):
        self.backend = backend
        self.read_only = read_only
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
        if not self.backend.has_schema(cursor):
            self.backend.begin_exclusive(cursor)
            try:
                cursor.execute(SCHEMA)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        self._schema_pid = os.getpid()

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

    def append(self, payload, decision: dict) -> LogRecord:
        """Log one decision: one transaction holding the append lock, one INSERT.
        ``payload`` is the validated request body as received."""
        if self.read_only:
            raise LogError(f"{self.backend.describe()} is open read-only")
        try:
            input_text, decision_text = canonical(payload), canonical(decision)
        except TypeError as error:
            raise LogError(f"decision not serialisable: {error}") from error
        wait = self.backend.lock_wait
        if time.monotonic() < self._busy_until:
            raise self._failed(decision, LogBusy(f"the append lock was not had in {wait:g} s; not retried yet",
                                                 math.ceil(wait)))
        try:
            conn = self._connection()
            cursor = conn.cursor()
            self.backend.begin_exclusive(cursor)
            try:
                cursor.execute("SELECT seq, hash FROM decision_log ORDER BY seq DESC LIMIT 1")
                last = cursor.fetchone()
                seq, prev_hash = (int(last[0]) + 1, last[1]) if last else (1, GENESIS)
                record = LogRecord(seq, decision["decision_id"], _now(), input_text, decision_text, prev_hash)
                record.hash = record_hash(record)
                cursor.execute(self.backend.sql(f"INSERT INTO decision_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                               (record.seq, record.decision_id, record.created_at, record.input, record.decision,
                                record.prev_hash, record.hash))
                index_record(cursor, record, decision)  # the search index, in the same transaction
                cursor.execute("COMMIT")
            except BaseException:
                try:
                    cursor.execute("ROLLBACK")
                except Exception:
                    pass
                raise
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

    def _failed(self, decision: dict, error: LogError) -> LogError:
        self.last_append = {"ok": False, "at": time.monotonic(), "error": str(error)}
        return error

    # -- reading --

    def get(self, decision_id: str) -> LogRecord | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM decision_log WHERE decision_id = ?", (decision_id,))
        return _record(rows[0]) if rows else None

    def records(self, batch: int = 500) -> Iterator[LogRecord]:
        """Every record in seq order, read in batches (keyset pagination)."""
        after = None
        while True:
            if after is None:
                rows = self._query(f"SELECT {_COLUMNS} FROM decision_log ORDER BY seq LIMIT ?", (batch,))
            else:
                rows = self._query(f"SELECT {_COLUMNS} FROM decision_log WHERE seq > ? ORDER BY seq LIMIT ?",
                                   (after, batch))
            for row in rows:
                yield _record(row)
            if len(rows) < batch:
                return
            after = int(rows[-1][0])

    def head(self) -> tuple[int, str]:
        rows = self._query("SELECT seq, hash FROM decision_log ORDER BY seq DESC LIMIT 1", ())
        return (int(rows[0][0]), rows[0][1]) if rows else (0, GENESIS)

    def _query(self, sql: str, params: tuple) -> list:
        """Rows read on this thread's read-only connection; none when there is no log yet."""
        try:
            cursor = self._connection("reader").cursor()
            if not self.backend.has_schema(cursor):
                return []
            cursor.execute(self.backend.sql(sql), params)
            return cursor.fetchall()
        except NoLog:
            return []
        except Exception as error:
            self._discard("reader")
            raise LogError(f"decision log {self.backend.describe()} not readable: {error}") from error


def _record(row) -> LogRecord:
    return LogRecord(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def open_log(target: str | Path, *, read_only: bool = False) -> DecisionLog:
    """A log at ``postgresql://…`` or at a SQLite file path (nothing is opened yet).
    ``read_only``: lookups and walks only, with no write access needed."""
    return DecisionLog(backend_for(target), read_only=read_only)


def from_env(environ=None, *, read_only: bool = False) -> DecisionLog | None:
    """``RAC_DECISION_LOG=off`` → None (no log); ``DATABASE_URL`` (postgresql://…) →
    PostgreSQL; else SQLite at ``RAC_DECISION_LOG`` (default data/decisions.sqlite3)."""
    environ = os.environ if environ is None else environ
    setting = environ.get("RAC_DECISION_LOG", "").strip()
    if setting.lower() == "off":
        return None
    url = environ.get("DATABASE_URL", "").strip()
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {url.split(':', 1)[0]}:…")
        return open_log(url, read_only=read_only)
    return open_log(setting or DEFAULT_PATH, read_only=read_only)
