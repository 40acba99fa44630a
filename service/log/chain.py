"""The hash chain of the decision log.

A record is ``seq, decision_id, created_at, input, decision, prev_hash, hash`` and,
from format 2 on, ``format, requested_by, request_id, input_sha256, masked``. ``input``
and ``decision`` are canonical JSON text (UTF-8, keys sorted, no whitespace:
``orjson.dumps(value, option=orjson.OPT_SORT_KEYS)``) and::

    hash = sha256(prev_hash + canonical(body))

hex-encoded, with ``prev_hash`` of the first record (seq 1) = 64 zeros. The body is
versioned by the record's ``format``, so that records logged before a field existed
still verify:

- format 1 (records logged before issue 11): ``{seq, decision_id, created_at, input,
  decision, prev_hash}``;
- format 2: format 1's members and ``format`` (2), ``requested_by`` (the credential's
  name, or null), ``request_id`` (or null), ``input_sha256`` (the sha256 of the input as
  received, which is the receipt's ``input_sha256``) and ``masked`` (the ``path:action``
  of each masking rule that changed the stored input; ``[]`` when none did).

The input and decision are hashed as the exact text of the logical record, so
verification never depends on how a JSON parser reads them back. How the log stores
them (a decision's bundle list and its article prose kept once, in side tables; see
``store``) is not part of the chain: what is hashed is the decision as answered.

``input`` of a format 2 record is the input the masking policy left (``masking``):
where ``masked`` is empty, ``input_sha256`` must equal sha256(input), which ``check_chain``
checks; where it is not, the input as received is gone by design, ``input_sha256`` pins
it for whoever holds it, and the replay takes the receipt's hash from the record.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import orjson

GENESIS = "0" * 64
FORMAT = 2  # the format of the records appended now
FORMATS = (1, 2)
FIELDS = ("seq", "decision_id", "created_at", "input", "decision", "prev_hash", "hash")  # format 1
FIELDS_2 = FIELDS + ("format", "requested_by", "request_id", "input_sha256", "masked")


def canonical(value) -> str:
    """Canonical JSON text: UTF-8, keys sorted, no whitespace."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class LogRecord:
    seq: int
    decision_id: str
    created_at: str
    input: str  # canonical JSON of the validated request body, as received (masked: as the policy left it)
    decision: str  # canonical JSON of the decision answered
    prev_hash: str
    hash: str = field(default="")
    format: int = 1
    requested_by: str | None = None
    request_id: str | None = None
    input_sha256: str | None = None  # format 2: the receipt's input_sha256, of the input as received
    masked: list = field(default_factory=list)  # format 2: "path:action" of each rule that changed the input

    def body(self) -> dict:
        body = {"seq": self.seq, "decision_id": self.decision_id, "created_at": self.created_at,
                "input": self.input, "decision": self.decision, "prev_hash": self.prev_hash}
        if self.format == 1:
            return body
        return body | {"format": self.format, "requested_by": self.requested_by, "request_id": self.request_id,
                       "input_sha256": self.input_sha256, "masked": list(self.masked)}

    def computed_hash(self) -> str:
        return record_hash(self)

    @property
    def received_sha256(self) -> str:
        """The sha256 of the input as received: stored from format 2 on, the input's own before."""
        return self.input_sha256 or sha256_text(self.input)

    def as_dict(self) -> dict:
        """Every member, as the archive writes one record per line."""
        return {name: getattr(self, name) for name in FIELDS_2}


def record_hash(record: LogRecord) -> str:
    return hashlib.sha256((record.prev_hash + canonical(record.body())).encode("utf-8")).hexdigest()


def record_from_dict(value: dict) -> LogRecord:
    return LogRecord(**{name: value[name] for name in FIELDS_2 if name in value})


def record_problems(record: LogRecord) -> list[str]:
    """What is wrong with one record on its own: its format, its hash, its input hash."""
    if record.format not in FORMATS:
        return [f"seq {record.seq}: unknown record format {record.format}"]
    problems = []
    if record_hash(record) != record.hash:
        problems.append(f"seq {record.seq}: hash mismatch")
    if record.format >= 2 and not record.masked and record.input_sha256 != sha256_text(record.input):
        problems.append(f"seq {record.seq}: input_sha256 does not match the unmasked input")
    return problems


def check_chain(records: Iterable[LogRecord], start: tuple[int, str] = (0, GENESIS)
                ) -> Iterator[tuple[LogRecord, list[str]]]:
    """Walk records in seq order; yield each with its chain problems (empty when sound):
    seq contiguous from 1, prev_hash equal to the previous record's hash, hash recomputed.
    ``start``: (seq, hash) of the last record before these (archived ones: ``DecisionLog.archived_head``)."""
    expected_seq, prev_hash = start[0] + 1, start[1]
    for record in records:
        problems = []
        if record.seq != expected_seq:
            problems.append(f"seq {record.seq}: seq not contiguous (expected {expected_seq})")
        if record.prev_hash != prev_hash:
            problems.append(f"seq {record.seq}: prev_hash does not match the hash of the previous record")
        problems += record_problems(record)
        yield record, problems
        expected_seq, prev_hash = record.seq + 1, record.hash
