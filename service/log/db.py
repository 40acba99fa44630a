"""A thin DB-API adapter: the decision log runs one code path on SQLite
(stdlib ``sqlite3``) and PostgreSQL (``psycopg`` 3). Both connections are in
autocommit mode and transactions are explicit statements, so the same SQL
text (``?`` placeholders, rewritten for psycopg) runs on both; only how the
exclusive append transaction is opened differs."""
from __future__ import annotations

import sqlite3
from pathlib import Path

# pg_advisory_xact_lock key of the decision log's appends (any fixed bigint).
ADVISORY_LOCK_KEY = 0x5241435F4C4F47  # "RAC_LOG"

SCHEMA = """CREATE TABLE IF NOT EXISTS decision_log (
    seq BIGINT PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    input TEXT NOT NULL,
    decision TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)"""


class Backend:
    name = "?"
    placeholder = "?"

    def connect(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def begin_exclusive(self, cursor) -> None:
        """Open a transaction that holds the log's append lock until COMMIT/ROLLBACK."""
        raise NotImplementedError  # pragma: no cover

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def connect(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")  # readers never block the appender
        conn.execute("PRAGMA synchronous = FULL")  # a committed decision survives a power cut
        return conn

    def begin_exclusive(self, cursor) -> None:
        cursor.execute("BEGIN IMMEDIATE")  # takes the database's write lock now, across processes

    def describe(self) -> str:
        return f"sqlite:{self.path}"


class PostgresBackend(Backend):
    name = "postgresql"
    placeholder = "%s"

    def __init__(self, url: str):
        self.url = url

    def connect(self):
        import psycopg  # only deployments on PostgreSQL need it

        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    def begin_exclusive(self, cursor) -> None:
        cursor.execute("BEGIN")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))  # released at COMMIT/ROLLBACK

    def describe(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        host = parts.hostname or ""
        return f"postgresql://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"  # no password


def backend_for(target: str | Path) -> Backend:
    """``postgresql://…`` (or ``postgres://…``) → PostgreSQL; anything else is a SQLite file path."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(text)
    if "://" in text:
        raise ValueError(f"unsupported decision log URL {text!r}: use postgresql://… or a SQLite file path")
    return SQLiteBackend(Path(text))
