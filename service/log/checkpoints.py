"""Signed checkpoints of the decision log: the root of an RFC 6962 Merkle tree
over the records (see ``merkle``), signed as a C2SP signed note (see ``note``).

Two tables beside ``decision_log``, created here through the log's backend:

- ``merkle_node (id, hash)``: the root of every perfect subtree, ``id = index << 6 | level``
  (about two rows of 32 bytes a record). Derived data: built from the records'
  hashes by ``extend``, never trusted by ``verify --checkpoint``, which recomputes.
- ``log_checkpoint (size, root_hash, issued_at, note)``: every checkpoint issued.

The tree is extended, and a checkpoint issued, under the log's append lock:
after an append once ``RAC_CHECKPOINT_EVERY`` records have no checkpoint, or
``RAC_CHECKPOINT_SECONDS`` have passed since the last one (then also on
``GET /v1/log/checkpoint``). A proof reads O(log² n) nodes in one query.
"""
from __future__ import annotations

import base64
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import merkle
from .note import Checkpoint, NoteError, Signer, Verifier, load_signer
from .store import DecisionLog, LogError

log = logging.getLogger("service")
DEFAULT_ORIGIN = "gx-zones-rules/decision-log"
DEFAULT_EVERY = 1000
DEFAULT_SECONDS = 600
EXTEND_BATCH = 5000  # records hashed into the tree per transaction (holding the append lock)
LEVEL_BITS = 6

_DDL = {
    "sqlite": ("CREATE TABLE IF NOT EXISTS merkle_node (id INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
               "CREATE TABLE IF NOT EXISTS log_checkpoint (size INTEGER PRIMARY KEY, root_hash TEXT NOT NULL, "
               "issued_at TEXT NOT NULL, note TEXT NOT NULL)"),
    "postgresql": ("CREATE TABLE IF NOT EXISTS merkle_node (id BIGINT PRIMARY KEY, hash BYTEA NOT NULL)",
                   "CREATE TABLE IF NOT EXISTS log_checkpoint (size BIGINT PRIMARY KEY, root_hash TEXT NOT NULL, "
                   "issued_at TEXT NOT NULL, note TEXT NOT NULL)"),
}


def node_id(level: int, index: int) -> int:
    return index << LEVEL_BITS | level


@dataclass
class StoredCheckpoint:
    size: int
    root: bytes
    issued_at: str
    note: str


class TreeStore:
    """The Merkle tree and checkpoints kept beside a decision log."""

    def __init__(self, decision_log: DecisionLog):
        self.log = decision_log
        self._tables_pid = None

    # -- reading (the log's read-only connection) --

    def _read(self, sql: str, params: tuple = ()) -> list:
        try:
            cursor = self.log._connection("reader").cursor()
            if not self._has_tables(cursor):
                return []
            cursor.execute(self.log.backend.sql(sql), params)
            return cursor.fetchall()
        except LogError:
            raise
        except Exception as error:
            from .db import NoLog

            if isinstance(error, NoLog):
                return []
            self.log._discard("reader")
            raise LogError(f"the Merkle tree of {self.log.backend.describe()} is not readable: {error}") from error

    def _has_tables(self, cursor) -> bool:
        if self.log.backend.name == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                           "AND name IN ('merkle_node', 'log_checkpoint')")
        else:
            cursor.execute("SELECT (to_regclass('merkle_node') IS NOT NULL)::int "
                           "+ (to_regclass('log_checkpoint') IS NOT NULL)::int")
        return int(cursor.fetchone()[0]) == 2

    def tree_size(self) -> int:
        rows = self._read("SELECT max(id) FROM merkle_node")
        # the largest id is always the last leaf's: a node of level l has index < size >> l
        return (int(rows[0][0]) >> LEVEL_BITS) + 1 if rows and rows[0][0] is not None else 0

    def nodes(self, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        if not wanted:
            return {}
        ids = sorted(node_id(level, index) for level, index in wanted)
        rows = self._read(f"SELECT id, hash FROM merkle_node WHERE id IN ({', '.join('?' * len(ids))})", tuple(ids))
        found = {(int(i) & (1 << LEVEL_BITS) - 1, int(i) >> LEVEL_BITS): bytes(h) for i, h in rows}  # (level, index)
        missing = wanted - found.keys()
        if missing:
            raise LogError(f"the Merkle tree of {self.log.backend.describe()} lacks {len(missing)} node(s)")
        return found

    def _run(self, work, size: int):
        """``work(tree)`` over the first ``size`` leaves, its nodes fetched in one query."""
        built = self.tree_size()
        if size > built:
            raise LookupError(f"the tree holds {built} records, not {size}")
        nodes = self.nodes(merkle.needed_subtrees(work))
        return work(merkle.Tree(lambda level, index: nodes[(level, index)]))

    def root(self, size: int) -> bytes:
        return self._run(lambda tree: tree.root(0, size), size)

    def inclusion(self, seq: int, size: int) -> tuple[bytes, list[bytes]]:
        """(root, path) proving record ``seq`` (leaf seq-1) in the tree of ``size``."""
        return self._run(lambda tree: (tree.root(0, size), tree.inclusion_path(seq - 1, size)), size)

    def consistency(self, first: int, second: int) -> tuple[bytes, bytes, list[bytes]]:
        return self._run(lambda tree: (tree.root(0, first), tree.root(0, second),
                                       tree.consistency_path(first, second)), second)

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._read("SELECT size, root_hash, issued_at, note FROM log_checkpoint ORDER BY size")
        return [_stored(row) for row in rows]

    def latest(self) -> StoredCheckpoint | None:
        rows = self._read("SELECT size, root_hash, issued_at, note FROM log_checkpoint ORDER BY size DESC LIMIT 1")
        return _stored(rows[0]) if rows else None

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        rows = self._read("SELECT size, root_hash, issued_at, note FROM log_checkpoint WHERE size = ?", (size,))
        return _stored(rows[0]) if rows else None

    # -- writing (the log's writer connection, under its append lock) --

    def _locked(self, work):
        backend = self.log.backend
        try:
            conn = self.log._connection()
            cursor = conn.cursor()
            self._ensure_tables(cursor)
            with backend.exclusive(cursor):
                return work(cursor)
        except (LogError, NoteError, LookupError):
            raise
        except Exception as error:
            self.log._discard()
            raise LogError(f"the Merkle tree of {backend.describe()} could not be written: {error}") from error

    def _ensure_tables(self, cursor) -> None:
        if self._tables_pid == os.getpid():
            return
        if not self._has_tables(cursor):
            with self.log.backend.exclusive(cursor):
                for ddl in _DDL[self.log.backend.name]:
                    cursor.execute(ddl)
        self._tables_pid = os.getpid()

    def extend(self) -> int:
        """Hash every record not yet in the tree into it; return the tree's size."""
        while True:
            size, added = self._locked(self._extend_batch)
            if added < EXTEND_BATCH:
                return size

    def _extend_batch(self, cursor) -> tuple[int, int]:
        sql = self.log.backend.sql
        cursor.execute("SELECT max(id) FROM merkle_node")
        top = cursor.fetchone()[0]
        size = 0 if top is None else (int(top) >> LEVEL_BITS) + 1
        edge = merkle.perfect_subtrees(size)
        hashes = {}
        if edge:
            ids = [node_id(level, index) for level, index in edge]
            cursor.execute(sql(f"SELECT id, hash FROM merkle_node WHERE id IN ({', '.join('?' * len(ids))})"), ids)
            hashes = {int(i): bytes(h) for i, h in cursor.fetchall()}
        frontier = merkle.Frontier(size, [hashes[node_id(level, index)] for level, index in edge])
        cursor.execute(sql("SELECT seq, hash FROM decision_log WHERE seq > ? ORDER BY seq LIMIT ?"), (size, EXTEND_BATCH))
        rows, completed = cursor.fetchall(), []
        for seq, record_hash in rows:
            if int(seq) != frontier.size + 1:  # a gap: the log is damaged; verify says where
                raise LogError(f"decision log seq {seq} follows {frontier.size}: the tree stops there")
            completed.extend(frontier.append(merkle.record_leaf(record_hash)))
        if completed:
            cursor.executemany(sql("INSERT INTO merkle_node (id, hash) VALUES (?, ?)"),
                               [(node_id(level, index), node) for level, index, node in completed])
        return frontier.size, len(rows)

    def store(self, cursor, size: int, root: bytes, issued_at: str, note: str) -> None:
        cursor.execute(self.log.backend.sql(
            "INSERT INTO log_checkpoint (size, root_hash, issued_at, note) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (size) DO NOTHING"), (size, base64.b64encode(root).decode(), issued_at, note))


def _stored(row) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), base64.b64decode(row[1]), row[2], row[3])


@dataclass
class Settings:
    signer: Signer
    origin: str
    every: int
    seconds: float

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier


def settings_from_env(environ=None) -> Settings | None:
    """None when ``RAC_CHECKPOINT_KEY`` is unset (no checkpoints); else the key read
    and every setting checked, so that a bad one stops the start, not a request."""
    environ = os.environ if environ is None else environ
    key_path = environ.get("RAC_CHECKPOINT_KEY", "").strip()
    if not key_path:
        return None
    origin = environ.get("RAC_CHECKPOINT_ORIGIN", "").strip() or DEFAULT_ORIGIN
    if "\n" in origin:
        raise ValueError("RAC_CHECKPOINT_ORIGIN is one line")
    try:
        data = Path(key_path).read_bytes()
    except OSError as error:
        raise ValueError(f"RAC_CHECKPOINT_KEY {key_path}: {error.strerror}") from error
    try:
        signer = load_signer(data, environ.get("RAC_CHECKPOINT_KEY_NAME", "").strip() or origin)
    except NoteError as error:
        raise ValueError(f"RAC_CHECKPOINT_KEY {key_path}: {error}") from error
    every = _number(environ, "RAC_CHECKPOINT_EVERY", DEFAULT_EVERY, int)
    seconds = _number(environ, "RAC_CHECKPOINT_SECONDS", DEFAULT_SECONDS, float)
    return Settings(signer, origin, every, seconds)


def _number(environ, name: str, default, kind):
    text = str(environ.get(name, "")).strip()
    try:
        value = kind(text) if text else default
    except ValueError:
        raise ValueError(f"{name} must be a positive number, not {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive number, not {text!r}")
    return value


class Checkpointer:
    """Issues checkpoints for one app (one per worker process)."""

    def __init__(self, decision_log: DecisionLog, settings: Settings):
        self.tree = TreeStore(decision_log)
        self.settings = settings
        self._known: tuple[int, float] | None = None  # (size, monotonic time) of the last checkpoint seen

    def issue(self, *, force: bool = False) -> StoredCheckpoint | None:
        """Extend the tree and sign a checkpoint of it, when the policy (or ``force``) says
        so and the log grew; the checkpoint stored, or the latest one, or None (empty log)."""
        size = self.tree.extend()
        return self.tree._locked(lambda cursor: self._issue_locked(cursor, size, force))

    def _issue_locked(self, cursor, size: int, force: bool) -> StoredCheckpoint | None:
        latest = self.tree.latest()
        if latest is not None and not force and not self._due(latest, size):
            return latest
        if size == 0 or (latest is not None and latest.size >= size):
            return latest
        root = self.tree.root(size)
        cursor.execute(self.tree.log.backend.sql("SELECT hash FROM decision_log WHERE seq = ?"), (size,))
        head = cursor.fetchone()[0]
        issued_at = _now()
        body = Checkpoint(self.settings.origin, size, root, [f"time {issued_at}", f"head {head}"])
        note = self.settings.signer.sign(body.text())
        self.tree.store(cursor, size, root, issued_at, note)
        self._known = (size, time.monotonic())
        return StoredCheckpoint(size, root, issued_at, note)

    def _due(self, latest: StoredCheckpoint, size: int) -> bool:
        if size - latest.size >= self.settings.every:
            return True
        issued = datetime.fromisoformat(latest.issued_at.replace("Z", "+00:00"))
        return size > latest.size and (datetime.now(timezone.utc) - issued).total_seconds() >= self.settings.seconds

    def latest_or_fresh(self) -> StoredCheckpoint | None:
        """The latest checkpoint, after signing the log's tail first when that is older
        than ``seconds`` (a quiet log's last records are not left unsigned). Reads only,
        unless a checkpoint is due."""
        latest = self.tree.latest()
        head = self.tree.log.head()[0]
        if head > (latest.size if latest else 0) and (latest is None or self._due(latest, head)):
            try:
                return self.issue()
            except (LogError, NoteError) as error:  # a log that cannot be written still serves its checkpoints
                log.warning("checkpoint not issued: %s", error)
        return latest

    def after_append(self, seq: int) -> None:
        """Called with each appended record's seq: issue when due. Costs nothing until
        then but a comparison; a failure is logged, never the request's."""
        try:
            if self._known is None:
                latest = self.tree.latest()
                self._known = (latest.size, time.monotonic()) if latest else (0, time.monotonic())
            size, seen = self._known
            if seq - size < self.settings.every and time.monotonic() - seen < self.settings.seconds:
                return
            issued = self.issue()
            self._known = (issued.size if issued else 0, time.monotonic())
        except (LogError, NoteError) as error:  # the decision is logged: it is served all the same
            log.warning("checkpoint not issued: %s", error)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
