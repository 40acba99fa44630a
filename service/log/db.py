"""A thin DB-API adapter: the decision log runs one code path on SQLite
(stdlib ``sqlite3``) and PostgreSQL (``psycopg`` 3). Both connections are in
autocommit mode and transactions are explicit statements, so the same SQL
text (``?`` placeholders, rewritten for psycopg) runs on both; only how the
exclusive append transaction is opened differs.

Every wait for the append lock is bounded by ``lock_wait`` seconds
(``RAC_LOG_LOCK_WAIT``, default 2): a lock held elsewhere costs a request that
long, then a 503, never the 30 s it used to. A reader connection (``read_only``)
runs no DDL and writes nothing, so lookups and ``verify`` need only read access.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from ..settings import seconds_from_env

# pg_advisory_xact_lock key of the decision log's appends (any fixed bigint).
ADVISORY_LOCK_KEY = 0x5241435F4C4F47  # "RAC_LOG"
DEFAULT_LOCK_WAIT = 2.0  # seconds
PROBE_LOCK_WAIT = 0.25  # seconds: /readyz asks whether the lock can be had, it does not queue for it
MIN_FREE_BYTES = 8 * 1024 * 1024  # below this a SQLite log is not ready: the next append may not fit
# A rollback journal, not WAL: WAL maps the -shm file into every process, and a
# fault on that file (made immutable, truncated, on a full disk) kills the
# worker with SIGBUS where a journal file's fault is an I/O error (a 503).
# PERSIST keeps the journal file, so a commit is as cheap as WAL's here.
DEFAULT_SQLITE_JOURNAL = "persist"
SQLITE_JOURNALS = ("persist", "delete", "truncate", "wal")

SCHEMA = """CREATE TABLE IF NOT EXISTS decision_log (
    seq BIGINT PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    input TEXT NOT NULL,
    decision TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    format INTEGER NOT NULL DEFAULT 1,
    requested_by TEXT,
    request_id TEXT,
    input_sha256 TEXT,
    masked TEXT
)"""
# columns format 2 added: a log created before them gains them (NULL / format 1 in its old rows)
ADDED_COLUMNS = {"format": "INTEGER NOT NULL DEFAULT 1", "requested_by": "TEXT", "request_id": "TEXT",
                 "input_sha256": "TEXT", "masked": "TEXT"}
# what decisions repeat, stored once (see compact): id -> canonical JSON
PARTS_SCHEMA = """CREATE TABLE IF NOT EXISTS decision_parts (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
)"""
# the leaves of archived records (see archive): the chain and the Merkle tree still start at seq 1
ARCHIVED_SCHEMA = """CREATE TABLE IF NOT EXISTS decision_log_archived (
    seq BIGINT PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    archive TEXT NOT NULL
)"""
SCHEMAS = (SCHEMA, PARTS_SCHEMA, ARCHIVED_SCHEMA)
TABLES = ("decision_log", "decision_parts", "decision_log_archived")


class NoLog(LookupError):
    """A reader found no log there yet: nothing was ever appended."""


def lock_wait_from_env(environ=None) -> float:
    return seconds_from_env("RAC_LOG_LOCK_WAIT", DEFAULT_LOCK_WAIT, 60, environ)


class Backend:
    name = "?"
    placeholder = "?"

    def __init__(self, lock_wait: float | None = None):
        self.lock_wait = lock_wait_from_env() if lock_wait is None else lock_wait

    def connect(self, *, read_only: bool = False):  # pragma: no cover - abstract
        raise NotImplementedError

    def begin_exclusive(self, cursor) -> None:
        """Open a transaction that holds the log's append lock until COMMIT/ROLLBACK,
        waiting at most ``lock_wait`` for it."""
        raise NotImplementedError  # pragma: no cover

    @contextmanager
    def exclusive(self, cursor):
        """The body runs holding the append lock; committed when it returns, rolled back when it
        raises (a failed rollback, on a connection already broken, does not hide the cause)."""
        self.begin_exclusive(cursor)
        try:
            yield cursor
        except BaseException:
            try:
                cursor.execute("ROLLBACK")
            except Exception:
                pass
            raise
        cursor.execute("COMMIT")

    def has_schema(self, cursor, table: str = "decision_log") -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def columns(self, cursor, table: str = "decision_log") -> set[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def is_current(self, cursor) -> bool:
        """Every table and column of this format is there: no DDL needed."""
        return all(self.has_schema(cursor, table) for table in TABLES) and \
            set(ADDED_COLUMNS) <= self.columns(cursor)

    def is_busy(self, error: BaseException) -> bool:
        """The error says the lock (or the statement) timed out: someone else holds it."""
        return False

    def probe(self) -> str | None:
        """Readiness: None when an append could start now, else why not."""
        raise NotImplementedError  # pragma: no cover

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path | str, lock_wait: float | None = None, journal: str | None = None):
        super().__init__(lock_wait)
        self.path = Path(path)
        self.journal = (journal or os.environ.get("RAC_LOG_SQLITE_JOURNAL") or DEFAULT_SQLITE_JOURNAL).lower()
        if self.journal not in SQLITE_JOURNALS:
            raise ValueError(f"RAC_LOG_SQLITE_JOURNAL must be one of {', '.join(SQLITE_JOURNALS)}, not {self.journal}")

    def connect(self, *, read_only: bool = False, wait: float | None = None):
        wait = self.lock_wait if wait is None else wait
        if read_only:
            return self._connect_reader(wait)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=wait)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            self._set_journal(conn)
            conn.execute("PRAGMA synchronous = FULL")  # a committed decision survives a power cut
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_journal(self, conn) -> None:
        try:
            conn.execute(f"PRAGMA journal_mode = {self.journal}")
        except sqlite3.OperationalError as error:
            # leaving WAL needs every other connection closed: a worker started
            # beside older ones keeps the file's mode until they are gone
            if not self.is_busy(error):
                raise

    def _connect_reader(self, wait: float):
        if not self.path.exists():
            self._raise_absent()
        conn = sqlite3.connect(self._uri("ro"), uri=True, isolation_level=None, timeout=wait)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            conn.execute("PRAGMA query_only = 1")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file now
            return conn
        except sqlite3.OperationalError:
            conn.close()
            if not self._is_frozen_copy():
                raise
        # a WAL file in a directory we cannot write, with no writer (no -wal file):
        # SQLite cannot create the -shm it wants, but nothing can change the file either
        conn = sqlite3.connect(self._uri("ro") + "&immutable=1", uri=True, isolation_level=None)
        conn.execute("PRAGMA query_only = 1")
        return conn

    def _raise_absent(self):
        """No file: no log yet (NoLog) where one could be created, else the reason there can be none."""
        ancestor = self.path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise NotADirectoryError(f"{ancestor} is not a directory")
        raise NoLog(str(self.path))

    def _uri(self, mode: str) -> str:
        return f"file:{quote(str(self.path.resolve()))}?mode={mode}"

    def _is_frozen_copy(self) -> bool:
        wal = self.path.with_name(self.path.name + "-wal")
        return not os.access(self.path.parent, os.W_OK) and not wal.exists()

    def begin_exclusive(self, cursor) -> None:
        cursor.execute("BEGIN IMMEDIATE")  # takes the database's write lock now, across processes

    def has_schema(self, cursor, table: str = "decision_log") -> bool:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return cursor.fetchone() is not None

    def columns(self, cursor, table: str = "decision_log") -> set[str]:
        cursor.execute(f"PRAGMA table_info({table})")
        return {row[1] for row in cursor.fetchall()}

    def is_busy(self, error: BaseException) -> bool:
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)

    def probe(self) -> str | None:
        where = self.path.parent if self.path.parent.exists() else Path(".")
        try:
            stat = os.statvfs(where)
            free = stat.f_bavail * stat.f_frsize
        except OSError as error:
            return f"cannot stat the log's file system: {error}"
        if free < MIN_FREE_BYTES:
            return f"{free} bytes free on the log's file system"
        try:
            conn = self.connect(wait=min(PROBE_LOCK_WAIT, self.lock_wait))
        except (OSError, sqlite3.Error) as error:
            return f"cannot open the log for writing: {error}"
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # a file SQLite could open only for reading still grants BEGIN IMMEDIATE:
                # a write statement (of no row, rolled back) is what finds it out
                if self.has_schema(conn.cursor()):
                    conn.execute("DELETE FROM decision_log WHERE seq < 0")
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as error:
            return ("the log's write lock is held elsewhere" if self.is_busy(error)
                    else f"the log cannot be written: {error}")
        finally:
            conn.close()
        return None

    def describe(self) -> str:
        return f"sqlite:{self.path}"


class PostgresBackend(Backend):
    name = "postgresql"
    placeholder = "%s"

    def __init__(self, url: str, lock_wait: float | None = None):
        super().__init__(lock_wait)
        self.url = url

    def connect(self, *, read_only: bool = False, wait: float | None = None):
        import psycopg  # only deployments on PostgreSQL need it

        wait = self.lock_wait if wait is None else wait
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(2, math.ceil(wait)))
        try:
            conn.execute(f"SET lock_timeout = {int(wait * 1000)}")
            # a statement that outlives a few lock waits is stuck (a frozen server, a lost
            # network): give the request its 503 rather than the thread to it
            conn.execute(f"SET statement_timeout = {int(max(5.0, 4 * wait) * 1000)}")
            if read_only:
                conn.execute("SET default_transaction_read_only = on")
        except BaseException:
            conn.close()
            raise
        return conn

    def begin_exclusive(self, cursor) -> None:
        cursor.execute("BEGIN")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))  # released at COMMIT/ROLLBACK

    def has_schema(self, cursor, table: str = "decision_log") -> bool:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        return bool(cursor.fetchone()[0])

    def columns(self, cursor, table: str = "decision_log") -> set[str]:
        cursor.execute("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                       "AND NOT attisdropped", (table,))
        return {row[0] for row in cursor.fetchall()}

    def is_busy(self, error: BaseException) -> bool:
        import psycopg

        return isinstance(error, (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled))

    def probe(self) -> str | None:
        import psycopg

        try:
            conn = self.connect(wait=min(PROBE_LOCK_WAIT, self.lock_wait))
        except psycopg.Error as error:
            return f"cannot connect to the log: {error}"
        try:
            if conn.execute("SHOW transaction_read_only").fetchone()[0] == "on":
                return "the log's database is read-only"
            cursor = conn.cursor()
            self.begin_exclusive(cursor)  # waits PROBE_LOCK_WAIT at most (the connection's lock_timeout)
            cursor.execute("ROLLBACK")
            return None
        except psycopg.Error as error:
            return ("the log's append lock is held elsewhere" if self.is_busy(error)
                    else f"the log cannot be written: {error}")
        finally:
            conn.close()

    def describe(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        host = parts.hostname or ""
        return f"postgresql://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"  # no password


def backend_for(target: str | Path, lock_wait: float | None = None) -> Backend:
    """``postgresql://…`` (or ``postgres://…``) → PostgreSQL; anything else is a SQLite file path."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(text, lock_wait)
    if "://" in text:
        raise ValueError(f"unsupported decision log URL {text!r}: use postgresql://… or a SQLite file path")
    return SQLiteBackend(Path(text), lock_wait)
