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

import collections
import itertools
import json
import os
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

import durable_rules_engine as _core

ENGINE_NAME = "durable_rules"
PATCHED_VERSION = "2.0.28+server.1"

import orjson

# The C core keeps a ruleset's session state in the ruleset itself, so two
# sessions of one compiled ruleset must never run at once, and it allows at
# most 1,024 live sessions per ruleset. Rather than a lock that one slow case
# would hold against every other case of its ruleset, each evaluation borrows a
# compiled instance of its own (see ``_Instances``) and holds exactly one session
# in it: no cross-thread lock, and never more than one live session per instance.
DEFAULT_IDLE_INSTANCES = 16  # idle compiled copies kept per ruleset and process

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
# called as observer(ruleset name, seconds, failed) when a session ends: the metrics'
# hook (service/metrics.py), set by the HTTP layer; the engine itself records nothing
_session_observer: Callable[[str, float, bool], None] | None = None


def observe_sessions(observer: Callable[[str, float, bool], None] | None) -> None:
    global _session_observer
    _session_observer = observer


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
        self._instances = _Instances(name, json.dumps(definition, ensure_ascii=False, sort_keys=True))

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
        """A fresh session for a ``with`` block, in a compiled instance no other
        session uses meanwhile; the session is always deleted at its end."""
        return Session(self, f"s{next(_session_ids)}", context)


class Session:
    """A single evaluation's working memory. Actions receive it to assert facts."""

    __slots__ = ("_ruleset", "_handle", "sid", "context", "_state_offset", "_closed", "_started")

    def __init__(self, ruleset: Ruleset, sid: str, context: Any):
        self._ruleset = ruleset
        self._handle = None
        self.sid = sid
        self.context = context
        self._state_offset = None
        self._closed = False

    def __enter__(self) -> "Session":
        self._started = time.perf_counter()
        self._handle = self._ruleset._instances.borrow()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        handle, self._handle = self._handle, None
        try:
            self.close(handle)
        finally:
            # after a failure the copy's state is not trusted again: compile afresh
            self._ruleset._instances.give_back(handle, reuse=exc_type is None)
            if _session_observer is not None:
                _session_observer(self._ruleset.name, time.perf_counter() - self._started, exc_type is not None)

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
        self._check(_core.assert_facts(self._handle, _encode(facts)), "case facts")

    def assert_fact(self, fact: dict, *, idempotent: bool = False) -> None:
        """Assert a derived fact. ``idempotent``: deriving it twice is not an error."""
        fact["sid"] = self.sid
        result = _core.assert_fact(self._handle, _encode(fact))
        if idempotent and result[0] == _OBSERVED:
            return
        self._check(result, _encode(fact))

    def drain(self) -> None:
        handle = self._handle
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

    def close(self, handle) -> None:
        # A session exists in the core only once a fact reached it.
        if not self._closed and self._state_offset is not None:
            self._closed = True
            _core.delete_state(handle, self.sid)


class _Instances:
    """The compiled copies of one ruleset in this process, each used by one session
    at a time. A session borrows an idle copy, or compiles a new one when every copy
    is busy (milliseconds: the seven rulesets of the bundle compile in ~50 ms), and
    gives it back at its end; beyond ``RAC_ENGINE_IDLE_INSTANCES`` idle copies, one
    given back is deleted. So the live copies are bounded by the evaluations running
    at once (gunicorn's threads), and nothing ever waits for another evaluation.

    The deque's append and pop are atomic under the GIL (the C core never releases
    it), so borrowing takes no lock. The first copy is compiled at once, in the
    gunicorn master before the fork, and the workers inherit it."""

    def __init__(self, name: str, definition: str):
        self.name = name
        self._definition = definition
        self._idle = collections.deque([self._compile()])
        self.keep = _idle_instances()

    def _compile(self) -> int:
        return _core.create_ruleset(self.name, self._definition)

    def borrow(self) -> int:
        try:
            return self._idle.pop()
        except IndexError:
            return self._compile()

    def give_back(self, handle: int, *, reuse: bool = True) -> None:
        if reuse and len(self._idle) < self.keep:
            self._idle.append(handle)
        else:
            _core.delete_ruleset(handle)

    def idle(self) -> int:
        return len(self._idle)


def _idle_instances() -> int:
    return max(1, int(os.environ.get("RAC_ENGINE_IDLE_INSTANCES", DEFAULT_IDLE_INSTANCES)))
