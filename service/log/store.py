"""The decision log: append (serialised across processes), read, walk."""
from __future__ import annotations

import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..paths import ROOT
from .chain import FIELDS, GENESIS, LogRecord, canonical, record_hash
from .db import SCHEMA, Backend, backend_for

DEFAULT_PATH = ROOT / "data" / "decisions.sqlite3"
_COLUMNS = ", ".join(FIELDS)


class LogError(RuntimeError):
    """The decision log could not be opened, written or read."""


class DecisionLog:
    """One per app. Connections are opened lazily, one per thread and per
    process: a connection is never used across a fork (gunicorn forks after
    the app is built) nor across threads."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self._local = threading.local()
        self._inherited: list = []  # connections inherited through fork: kept, never used nor closed here

    def __repr__(self) -> str:
        return f"DecisionLog({self.backend.describe()})"

    # -- connections --

    def _connection(self):
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and local.pid == os.getpid():
            return conn
        if conn is not None:  # inherited through fork: the parent still owns its socket/file
            self._inherited.append(conn)
            local.conn = None
        conn = self.backend.connect()
        try:
            cursor = conn.cursor()
            self.backend.begin_exclusive(cursor)  # DDL under the append lock: concurrent first starts never race
            try:
                cursor.execute(SCHEMA)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        except BaseException:
            conn.close()
            raise
        local.conn, local.pid = conn, os.getpid()
        return conn

    def _discard(self) -> None:
        """After a failure: close this thread's connection; the next call opens a fresh one."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        self._discard()

    # -- writing --

    def append(self, payload, decision: dict) -> LogRecord:
        """Log one decision: one transaction holding the append lock, one INSERT.
        ``payload`` is the validated request body as received."""
        try:
            input_text, decision_text = canonical(payload), canonical(decision)
        except TypeError as error:
            raise LogError(f"decision not serialisable: {error}") from error
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
                cursor.execute("COMMIT")
            except BaseException:
                try:
                    cursor.execute("ROLLBACK")
                except Exception:
                    pass
                raise
        except Exception as error:
            self._discard()
            raise LogError(f"decision {decision.get('decision_id')} not logged in {self.backend.describe()}: {error}") from error
        return record

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
        try:
            cursor = self._connection().cursor()
            cursor.execute(self.backend.sql(sql), params)
            return cursor.fetchall()
        except Exception as error:
            self._discard()
            raise LogError(f"decision log {self.backend.describe()} not readable: {error}") from error


def _record(row) -> LogRecord:
    return LogRecord(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def open_log(target: str | Path) -> DecisionLog:
    """A log at ``postgresql://…`` or at a SQLite file path (nothing is opened yet)."""
    return DecisionLog(backend_for(target))


def from_env(environ=None) -> DecisionLog | None:
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
        return open_log(url)
    return open_log(setting or DEFAULT_PATH)
