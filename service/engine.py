"""The only door to durable-rules.

durable-rules' own ``Host`` starts timer threads that run actions of any
session and pulse every session, and its ``Promise`` swallows action
exceptions into the session state. Neither is acceptable in a server that
pays money on the answer, so this module drives the C core directly and
synchronously: one session per evaluation, every action run to completion in
the caller's thread, every action exception re-raised, the session always
deleted. Nothing else in the service imports durable.
"""
from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

import durable_rules_engine as _core

ENGINE_NAME = "durable_rules"
PATCHED_VERSION = "2.0.28+server.1"

# The C core keeps at most 1,024 live sessions per ruleset; sessions live only
# for one evaluation and evaluations of one ruleset are serialised below, so a
# process never holds more than one per ruleset.
import orjson

# Facts cross into the C core as JSON text; orjson is an order of magnitude
# faster than the standard library here, and every fact of every case pays it.
def _encode(value) -> str:
    return orjson.dumps(value).decode("utf-8")


_decode = orjson.loads
_ASSERTED = 0
_NOT_HANDLED = 1
_OBSERVED = 2


class EngineError(RuntimeError):
    """The engine failed or an action raised; the decision must not be served."""


def engine_version() -> str:
    try:
        return metadata.version(ENGINE_NAME)
    except metadata.PackageNotFoundError:  # pragma: no cover - install is broken
        return "unknown"


def is_patched_build() -> bool:
    return engine_version() == PATCHED_VERSION


Action = Callable[["Session", dict], None]


@dataclass(frozen=True)
class Rule:
    name: str
    condition: dict  # durable-rules JSON condition: {"all": [...]}
    action: Action
    # >0: the action receives a list of up to this many frames, every match
    # ready at once, instead of being called once per match
    batch: int = 0


_session_ids = itertools.count(1)


class Ruleset:
    """One compiled ruleset registered in the C core under a versioned name."""

    def __init__(self, name: str, rules: list[Rule]):
        self.name = name
        self._actions: dict[str, Action] = {}
        definition: dict[str, Any] = {}
        for rule in rules:
            if rule.name in definition:
                raise EngineError(f"{name}: duplicate rule name {rule.name}")
            definition[rule.name] = dict(rule.condition, cap=rule.batch) if rule.batch else rule.condition
            self._actions[rule.name] = rule.action
        self.definition = definition
        self._handle = _core.create_ruleset(name, json.dumps(definition, ensure_ascii=False, sort_keys=True))
        self._lock = threading.Lock()

    def run(self, facts: list[dict], context: Any) -> None:
        """Assert ``facts`` into a fresh session and run every action to the end."""
        self.run_phases([facts], context)

    def run_phases(self, phases: list[list[dict]], context: Any) -> None:
        """Assert each batch of facts only once the chain of the previous one is done.

        The engine does not withdraw an action already scheduled when a later
        fact falsifies its negated condition, so facts that negations test are
        asserted, and their consequences drawn, before the facts they guard.
        """
        with self.session(context) as session:
            for facts in phases:
                session.assert_and_drain(facts)

    def session(self, context: Any) -> "Session":
        """A fresh session for a ``with`` block, always deleted at its end;
        evaluations of one ruleset are serialised."""
        return Session(self, f"s{next(_session_ids)}", context)


class Session:
    """A single evaluation's working memory. Actions receive it to assert facts."""

    __slots__ = ("_ruleset", "sid", "context", "_state_offset", "_closed")

    def __init__(self, ruleset: Ruleset, sid: str, context: Any):
        self._ruleset = ruleset
        self.sid = sid
        self.context = context
        self._state_offset = None
        self._closed = False

    def __enter__(self) -> "Session":
        self._ruleset._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.close()
        finally:
            self._ruleset._lock.release()

    def _check(self, result, what) -> None:
        # _NOT_HANDLED only says that some fact matched no rule (an event no
        # measure of this version cares about); the rest of a batch is still
        # asserted, so it is not an error here.
        status = result[0]
        if status == _OBSERVED:
            raise EngineError(f"{self._ruleset.name}: duplicate fact {what}")
        if self._state_offset is None and len(result) > 1:
            self._state_offset = result[1]

    def assert_and_drain(self, facts: list[dict]) -> None:
        """Assert a batch of facts, then run every action it causes, to the end."""
        if facts:
            self.assert_all(facts)
            self.drain()

    def assert_all(self, facts: list[dict]) -> None:
        for fact in facts:
            fact["sid"] = self.sid
        self._check(_core.assert_facts(self._ruleset._handle, _encode(facts)), "case facts")

    def assert_fact(self, fact: dict, *, idempotent: bool = False) -> None:
        """Assert a derived fact. ``idempotent``: deriving it twice is not an error."""
        fact["sid"] = self.sid
        result = _core.assert_fact(self._ruleset._handle, _encode(fact))
        if idempotent and result[0] == _OBSERVED:
            return
        self._check(result, _encode(fact))

    def drain(self) -> None:
        handle = self._ruleset._handle
        actions = self._ruleset._actions
        pending = _core.start_action_for_state(handle, self._state_offset) if self._state_offset is not None else None
        if not pending:
            return
        message = _decode(pending[1])
        while True:
            for rule_name, frame in message.items():
                try:
                    actions[rule_name](self, frame)
                except EngineError:
                    _core.abandon_action(handle, self._state_offset)
                    raise
                except Exception as error:
                    _core.abandon_action(handle, self._state_offset)
                    raise EngineError(f"{self._ruleset.name}: action {rule_name} failed: {error!r}") from error
            following = _core.complete_and_start_action(handle, self._state_offset)
            if not following:
                return
            message = _decode(following)

    def close(self) -> None:
        # A session exists in the core only once a fact reached it.
        if not self._closed and self._state_offset is not None:
            self._closed = True
            _core.delete_state(self._ruleset._handle, self.sid)
