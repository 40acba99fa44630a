"""The hash chain of the decision log.

A record is ``seq, decision_id, created_at, input, decision, prev_hash, hash``
where ``input`` and ``decision`` are canonical JSON text (UTF-8, keys sorted,
no whitespace: ``orjson.dumps(value, option=orjson.OPT_SORT_KEYS)``) and::

    hash = sha256(prev_hash + canonical({seq, decision_id, created_at, input, decision, prev_hash}))

hex-encoded, with ``prev_hash`` of the first record (seq 1) = 64 zeros. The
input and decision are hashed as the exact text stored, so verification never
depends on how a JSON parser reads them back.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import orjson

GENESIS = "0" * 64
FIELDS = ("seq", "decision_id", "created_at", "input", "decision", "prev_hash", "hash")


def canonical(value) -> str:
    """Canonical JSON text: UTF-8, keys sorted, no whitespace."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


@dataclass
class LogRecord:
    seq: int
    decision_id: str
    created_at: str
    input: str  # canonical JSON of the validated request body, as received
    decision: str  # canonical JSON of the decision answered
    prev_hash: str
    hash: str = field(default="")

    def body(self) -> dict:
        return {"seq": self.seq, "decision_id": self.decision_id, "created_at": self.created_at,
                "input": self.input, "decision": self.decision, "prev_hash": self.prev_hash}

    def computed_hash(self) -> str:
        return record_hash(self)


def record_hash(record: LogRecord) -> str:
    return hashlib.sha256((record.prev_hash + canonical(record.body())).encode("utf-8")).hexdigest()


def check_chain(records: Iterable[LogRecord]) -> Iterator[tuple[LogRecord, list[str]]]:
    """Walk records in seq order; yield each with its chain problems (empty when sound):
    seq contiguous from 1, prev_hash equal to the previous record's hash, hash recomputed."""
    expected_seq, prev_hash = 1, GENESIS
    for record in records:
        problems = []
        if record.seq != expected_seq:
            problems.append(f"seq {record.seq}: seq not contiguous (expected {expected_seq})")
        if record.prev_hash != prev_hash:
            problems.append(f"seq {record.seq}: prev_hash does not match the hash of the previous record")
        if record_hash(record) != record.hash:
            problems.append(f"seq {record.seq}: hash mismatch")
        yield record, problems
        expected_seq, prev_hash = record.seq + 1, record.hash
