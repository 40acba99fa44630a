"""service/engine.py: synchronous chains, errors surfaced, sessions always deleted."""
import pytest

from service.engine import EngineError, Rule, Ruleset


class Recorder:
    def __init__(self):
        self.seen = []


def test_chain_runs_to_the_end_before_run_returns():
    def first(session, frame):
        session.context.seen.append(("first", frame["a"]["id"]))
        session.assert_fact({"t": "derived", "of": frame["a"]["id"]})

    def second(session, frame):
        session.context.seen.append(("second", frame["d"]["of"]))

    ruleset = Ruleset("test-chain@1", [
        Rule("first", {"all": [{"a": {"t": "ev"}}]}, first),
        Rule("second", {"all": [{"d": {"t": "derived"}}]}, second),
    ])
    context = Recorder()
    ruleset.run([{"t": "ev", "id": "x"}, {"t": "ev", "id": "y"}], context)
    assert sorted(context.seen) == [("first", "x"), ("first", "y"), ("second", "x"), ("second", "y")]


def test_action_exception_is_raised_not_swallowed_and_the_session_is_deleted():
    def boom(session, frame):
        raise ValueError("broken action")

    ruleset = Ruleset("test-boom@1", [Rule("boom", {"all": [{"a": {"t": "ev"}}]}, boom)])
    with pytest.raises(EngineError, match="broken action"):
        ruleset.run([{"t": "ev", "id": "x"}], Recorder())
    # 2,000 more failing evaluations would exhaust the core's 1,024 sessions if any were left behind
    for i in range(2000):
        with pytest.raises(EngineError):
            ruleset.run([{"t": "ev", "id": f"x{i}"}], Recorder())


def test_sessions_in_which_nothing_fires_are_deleted():
    ruleset = Ruleset("test-idle@1", [Rule("never", {"all": [{"a": {"t": "other"}}]}, lambda s, f: None)])
    for i in range(3000):  # > 1,024: a leaked session would raise MemoryError
        ruleset.run([{"t": "ev", "id": f"x{i}"}], Recorder())


def test_negation_is_evaluated_against_facts_of_an_earlier_phase():
    fired = []
    ruleset = Ruleset("test-phases@1", [
        Rule("grant", {"all": [{"e": {"t": "ev"}}, {"b$not": {"$and": [{"t": "bar"}, {"year": {"e": "year"}}]}}]},
             lambda s, f: fired.append(f["e"]["id"])),
    ])
    ruleset.run_phases([[{"t": "bar", "year": 2024}], [{"t": "ev", "id": "a", "year": 2024},
                                                      {"t": "ev", "id": "b", "year": 2025}]], Recorder())
    assert fired == ["b"]


def test_duplicate_fact_in_a_batch_is_an_error():
    ruleset = Ruleset("test-dup@1", [Rule("r", {"all": [{"a": {"t": "ev"}}]}, lambda s, f: None)])
    with pytest.raises(EngineError, match="duplicate"):
        ruleset.run([{"t": "ev", "id": "same"}, {"t": "ev", "id": "same"}], Recorder())


def test_a_batch_rule_gets_every_ready_match_in_one_call_and_chains_by_rounds():
    """A batch rule (the settlement settles its ledgers with one): one call per round of matches, each round
    seeing the facts the round before it asserted; sessions still deleted."""
    calls = []

    def step(session, frames):
        calls.append(sorted((f["c"]["k"], f["c"]["pos"]) for f in frames))
        following = [{"t": "c", "id": f"{f['c']['k']}{f['c']['pos'] + 1}", "k": f["c"]["k"], "pos": f["c"]["pos"] + 1}
                     for f in frames if f["c"]["pos"] + 1 < 3]
        if following:
            session.assert_all(following)

    ruleset = Ruleset("test-batch@1", [Rule("step", {"all": [{"c": {"t": "c"}}]}, step, batch=100)])
    for _ in range(1500):  # > 1,024 sessions: each one deleted
        calls.clear()
        ruleset.run([{"t": "c", "id": "a0", "k": "a", "pos": 0}, {"t": "c", "id": "b0", "k": "b", "pos": 0}], Recorder())
        assert calls == [[("a", 0), ("b", 0)], [("a", 1), ("b", 1)], [("a", 2), ("b", 2)]]


def test_a_phase_fact_last_in_a_batch_sees_every_event_before_it():
    missing = []
    ruleset = Ruleset("test-ph@1", [
        Rule("missing", {"all": [{"p": {"t": "ph"}}, {"e": {"$and": [{"t": "ev"}, {"type": "award"}]}},
                                 {"r$not": {"$and": [{"t": "ev"}, {"type": "recognition"}]}}]},
             lambda s, f: missing.append(f["e"]["id"])),
    ])
    ruleset.run([{"t": "ev", "id": "a", "type": "award"}, {"t": "ev", "id": "r", "type": "recognition"},
                 {"t": "ph", "id": "ph"}], Recorder())
    assert missing == []
    ruleset.run([{"t": "ev", "id": "a", "type": "award"}, {"t": "ph", "id": "ph"}], Recorder())
    assert missing == ["a"]
