"""Reproducers for memory bugs of durable_rules 2.0.28, fixed by
vendor/durable_rules/server.patch.

Run one case per process (test_patched_build.py does it in a subprocess, so a
crash is a failed test, not a dead test run):

    python tests/engine/engine_reproducers.py CASE [N]

Each case prints one JSON line with its result as the last line of stdout and
exits 0. On the stock 2.0.28 build most cases die with SIGSEGV/SIGABRT.
"""

import json
import sys

import durable_rules_engine as dre


def prime_heap(byte=0x52, count=200):
    """Leave freed, non-zero heap memory behind, so that memory the engine
    mallocs next and forgets to initialise holds garbage rather than zeros."""
    junk = [bytes([(byte - 1 + k % 7) % 255 + 1]) * (1000 + 517 * k) for k in range(count)]
    del junk


def drain(handle, state_offset):
    """Run all pending actions of a session synchronously; return their messages."""
    fired = []
    result = dre.start_action_for_state(handle, state_offset)
    if result:
        fired.append(json.loads(result[1]))
        while True:
            nxt = dre.complete_and_start_action(handle, state_offset)
            if not nxt:
                break
            fired.append(json.loads(nxt))
    return fired


# Join rule whose last "&" term is false for most inputs (jruizgit/rules#381):
# b.year must lie within [a.year, a.year + 2].
JOIN_RULES = {
    "window": {"all": [
        {"a": {"$and": [{"t": "event"}, {"type": "x"}]}},
        {"b": {"$and": [{"t": "event"}, {"type": "y"},
                        {"$gte": {"year": {"a": "year"}}},
                        {"$lte": {"year": {"$add": {"$l": {"a": "year"}, "$r": 2}}}}]}}]},
    # OR short-circuit inside a join: q.v == p.v or q.w == p.v
    "either": {"all": [
        {"p": {"t": "p"}},
        {"q": {"$and": [{"t": "q"}, {"$or": [{"v": {"p": "v"}}, {"w": {"p": "v"}}]}]}}]},
}


def join_facts(sid, i):
    return [
        {"sid": sid, "id": "a", "t": "event", "type": "x", "year": 2000 + i % 5},
        {"sid": sid, "id": "b", "t": "event", "type": "y", "year": 2000 + i % 9},
        {"sid": sid, "id": "p", "t": "p", "v": i % 3},
        {"sid": sid, "id": "q", "t": "q", "v": (i // 3) % 3, "w": (i // 9) % 3},
    ]


def case_join_last_term_false(n=3000, layouts=40):
    # Phase 1: the out-of-bounds scan starts right after the last expression of
    # the "window" beta node; whether stock 2.0.28 reads into unmapped memory
    # depends on what follows in the node pool / heap, so try many layouts
    # (0..layouts-1 filler rules before "window"), each with sessions whose
    # last "&" term is false.
    for k in range(layouts):
        rules = {"filler%d" % f: {"all": [{"m": {"$and": [{"t": "filler"}, {"$gt": {"v%d" % f: f}}]}}]}
                 for f in range(k)}
        rules["window"] = JOIN_RULES["window"]
        h = dre.create_ruleset("join_layout_%d" % k, json.dumps(rules))
        for i in range(20):
            sid = "s%d" % i
            facts = [{"sid": sid, "id": "a", "t": "event", "type": "x", "year": 2000 + i % 5},
                     {"sid": sid, "id": "b", "t": "event", "type": "y", "year": 2003 + i % 5 + i % 4}]
            result = dre.assert_facts(h, json.dumps(facts))
            assert not drain(h, result[1]), "window fired although b.year > a.year + 2"
            dre.delete_state(h, sid)
        dre.delete_ruleset(h)
    # Phase 2: results must match the rules' meaning.
    h = dre.create_ruleset("join_oob", json.dumps(JOIN_RULES))
    counts = {"window": 0, "either": 0}
    for i in range(n):
        sid = "s%d" % i
        result = dre.assert_facts(h, json.dumps(join_facts(sid, i)))
        for message in drain(h, result[1]):
            for rule in message:
                counts[rule] += 1
        dre.delete_state(h, sid)
    dre.delete_ruleset(h)
    return {"n": n, "fired": counts}


def case_sessions_no_fire(rounds=8, live=400):
    # Every fact reaches the rule's alpha node, no rule ever fires.
    rules = {"big": {"all": [{"m": {"$and": [{"kind": "trigger"}, {"$gte": {"n": 1000000}}]}}]}}
    sessions = actions = 0
    for rnd in range(rounds):
        prime_heap()
        h = dre.create_ruleset("no_fire_%d" % rnd, json.dumps(rules))
        sids = []
        for s in range(live):
            sid = "r%ds%d" % (rnd, s)
            facts = [{"sid": sid, "id": "f%d" % j, "kind": "trigger", "n": j,
                      "pad": "x" * ((s * 7 + j * 31) % 300)} for j in range(1 + s % 4)]
            result = dre.assert_facts(h, json.dumps(facts))
            actions += len(drain(h, result[1]))
            if s % 3 == 0:  # one-request-one-session style: delete right away
                dre.delete_state(h, sid)
            else:           # and many sessions alive at once (state pool growth)
                sids.append(sid)
            sessions += 1
        for sid in sids:
            dre.delete_state(h, sid)
        dre.delete_ruleset(h)
    return {"sessions": sessions, "actions": actions}


def case_session_limit():
    rules = {"r": {"all": [{"m": {"$and": [{"kind": "trigger"}, {"$gte": {"n": 1000000}}]}}]}}
    h = dre.create_ruleset("limit", json.dumps(rules))
    for s in range(1024):
        dre.assert_facts(h, json.dumps([{"sid": "s%d" % s, "id": "f", "kind": "trigger", "n": 1}]))
    over = []
    for attempt in range(3):  # the 1025th session must fail cleanly, every time
        try:
            dre.assert_facts(h, json.dumps([{"sid": "over", "id": "f%d" % attempt,
                                             "kind": "trigger", "n": 1}]))
            over.append("accepted")
        except MemoryError:
            over.append("MemoryError")
    try:
        dre.delete_state(h, "over")
        ghost = "deleted"
    except dre.error as exc:
        ghost = "not found" if "309" in str(exc) else str(exc)
    for s in range(1024):
        dre.delete_state(h, "s%d" % s)
    result = dre.assert_facts(h, json.dumps([{"sid": "after", "id": "f", "kind": "trigger", "n": 1}]))
    after = len(drain(h, result[1]))
    dre.delete_state(h, "after")
    return {"over": over, "ghost": ghost, "after_actions": after}


def case_empty_batch(n=300):
    from durable import engine

    class QuietHost(engine.Host):
        def _run(self):  # no background dispatch threads
            pass

    h = dre.create_ruleset("empty_raw", json.dumps({"r": {"all": [{"m": {"t": "x"}}]}}))
    offsets = set()
    for i in range(n):
        prime_heap(0xff, 20)
        result = dre.assert_facts(h, "[]" if i % 2 else "[ ]" + " " * (i % 64))
        offsets.add(result[1])
        drain(h, result[1])
    host = QuietHost()
    host.register_rulesets({"empty_host": {"r": {"all": [{"m": {"t": "x"}}], "run": lambda c: None}}})
    host_results = {repr(host.assert_facts("empty_host", [])) for _ in range(n)}
    return {"offsets": sorted(offsets), "host_results": sorted(host_results)}


def case_retract_both_in_action(n=2000):
    rules = {"pair": {"all": [{"a": {"t": "a"}}, {"b": {"$and": [{"t": "b"}, {"k": {"a": "k"}}]}}]}}
    h = dre.create_ruleset("retract_both", json.dumps(rules))
    fired = 0
    for i in range(n):
        sid = "s%d" % i
        facts = [{"sid": sid, "id": "a", "t": "a", "k": i}, {"sid": sid, "id": "b", "t": "b", "k": i}]
        state_offset = dre.assert_facts(h, json.dumps(facts))[1]
        result = dre.start_action_for_state(h, state_offset)
        while result:
            fired += 1
            match = json.loads(result if isinstance(result, str) else result[1])["pair"]
            dre.retract_fact(h, json.dumps(match["a"]))  # both facts of the
            dre.retract_fact(h, json.dumps(match["b"]))  # dispatching frame
            result = dre.complete_and_start_action(h, state_offset)
        facts_left = json.loads(dre.get_facts(h, sid))
        assert not [f for f in facts_left if f.get("t") in ("a", "b")], facts_left
        dre.delete_state(h, sid)
    return {"fired": fired}


def case_regex_on_number():
    rules = {"code": {"all": [{"m": {"$mt": {"code": "12[0-9]+5"}}}]},
             "price": {"all": [{"m": {"$mt": {"price": "3.50*"}}}]}}
    h = dre.create_ruleset("mt_number", json.dumps(rules))
    out = []
    for i, fact in enumerate([{"code": 12345}, {"code": 99}, {"price": 3.5},
                              {"price": 4.25}, {"code": "12005"}]):
        fact["sid"] = "s%d" % i
        result = dre.assert_fact(h, json.dumps(fact))
        out.append(sorted(rule for message in drain(h, result[1]) for rule in message))
        dre.delete_state(h, fact["sid"])
    return {"matches": out}


def case_host_full_path(n=600):
    """The server's path: Host without background threads, ruleset from JSON
    with Python actions, assert_facts into a new sid, actions run synchronously,
    facts retracted/asserted inside actions, delete_state."""
    from durable import engine

    class QuietHost(engine.Host):
        def _run(self):
            pass

    counts = {}

    def act(name, retract=(), assert_=None):
        def run(c):
            counts[name] = counts.get(name, 0) + 1
            for alias in retract:
                c.retract_fact(getattr(c, alias)._d)
            if assert_:
                c.assert_fact(assert_(c))
        return run

    rules = {
        "window": {"all": JOIN_RULES["window"]["all"], "run": act("window", retract=("a", "b"))},
        "either": {"all": JOIN_RULES["either"]["all"], "run": act("either", retract=("q",))},
        "big": {"all": [{"m": {"$and": [{"t": "num"}, {"$gt": {"v": 10}}]}}],
                "run": act("big", retract=("m",), assert_=lambda c: {"t": "derived", "v": c.m.v})},
        "small": {"all": [{"m": {"$and": [{"t": "num"}, {"$lte": {"v": 10}}]}}],
                  "run": act("small", retract=("m",))},
        "derived": {"all": [{"d": {"t": "derived"}}], "run": act("derived", retract=("d",))},
        "junk": {"all": [{"j": {"t": "junk"}}], "run": act("junk", retract=("j",))},
    }
    prime_heap()
    host = QuietHost()
    host.register_rulesets({"full": rules})
    not_handled = 0
    for i in range(n):
        sid = "s%d" % i
        if i % 7 == 0:  # a session in which no rule fires (half a join only)
            facts = [{"sid": sid, "t": "p", "v": i % 3, "pad": "y" * (i % 90)}]
        else:
            facts = join_facts(sid, i) + [{"sid": sid, "t": "num", "v": i % 20, "pad": "z" * (i % 50)}]
            facts += [{"sid": sid, "t": "junk", "j": j, "s": "q" * j} for j in range(i % 25)]
        try:
            host.assert_facts("full", facts)
        except engine.MessageNotHandledException:
            not_handled += 1
        host.delete_state("full", sid)
    return {"fired": dict(sorted(counts.items())), "not_handled": not_handled}


# Lazily allocated frame pools (server.patch: createStateNode no longer
# allocates the per-node pools; NEW_LAZY allocates a pool on first use).
# Joins whose left/right/result pools grow past their 8 initial frames
# (realloc), negations that a retract inside an action re-opens, actions that
# retract both facts of their own frame, a capped rule (results served in
# batches) and retracts from outside; many sessions, some alive at once.
# lazy_pools_sessions() is plain Python: test_patched_build.py computes the
# expected results from the same session specs.
LAZY_POOLS_RULES = {
    # every a x b pair with the same k
    "pair": {"all": [{"a": {"t": "a"}}, {"b": {"$and": [{"t": "b"}, {"k": {"a": "k"}}]}}]},
    # a y for whose k there is no x
    "lonely": {"all": [{"y": {"t": "y"}}, {"x$not": {"$and": [{"t": "x"}, {"k": {"y": "k"}}]}}]},
    # a z whose k has an x: the action retracts that x, which re-opens "lonely"
    "clear": {"all": [{"z": {"t": "z"}}, {"x": {"$and": [{"t": "x"}, {"k": {"z": "k"}}]}}]},
    # a c and a d with the same k: the action retracts both
    "consume": {"all": [{"c": {"t": "c"}}, {"d": {"$and": [{"t": "d"}, {"k": {"c": "k"}}]}}]},
    # every y, at most 4 per action
    "tally": {"all": [{"m": {"t": "y"}}], "cap": 4},
}


def lazy_pools_sessions(n, seed, keys=6):
    """Session specs: {"sid", "phase1": facts, "retract": facts, "phase2": facts}.
    x facts come first in phase 1 (a negation guard must be asserted before the
    facts it guards) and have distinct k, as have the z facts."""
    import random
    rng = random.Random(seed)
    sessions = []
    for i in range(n):
        sid = "lp%d" % i
        serial = iter(range(10 ** 6))

        def fact(t, k, sid=sid, serial=serial):
            return {"sid": sid, "id": "%s%d" % (t, next(serial)), "t": t, "k": k,
                    "pad": "p" * rng.randrange(40)}

        xs = [fact("x", k) for k in rng.sample(range(keys), rng.randrange(keys + 1))]
        rest = [fact("y", rng.randrange(keys)) for _ in range(rng.randrange(13))]
        rest += [fact("z", k) for k in rng.sample(range(keys), rng.randrange(keys + 1))]
        # up to 20 facts per side of a join: > 8 frames on one node
        for t in ("a", "b", "c", "d"):
            rest += [fact(t, rng.randrange(keys)) for _ in range(rng.randrange(21))]
        rng.shuffle(rest)
        a_facts = [f for f in rest if f["t"] == "a"]
        retract = rng.sample(a_facts, rng.randrange(len(a_facts) + 1)) if a_facts else []
        phase2 = [fact("b", rng.randrange(keys)) for _ in range(rng.randrange(15))]
        sessions.append({"sid": sid, "phase1": xs + rest, "retract": retract, "phase2": phase2})
    return sessions


def case_lazy_pools(n=300, seed=7, live=5):
    h = dre.create_ruleset("lazy_pools", json.dumps(LAZY_POOLS_RULES))
    results, alive = [], []

    def run_actions(state_offset, fired):
        result = dre.start_action_for_state(h, state_offset)
        message = json.loads(result[1]) if result else None
        while message:
            for rule, frame in message.items():
                frames = frame if isinstance(frame, list) else [frame]
                fired[rule] = fired.get(rule, 0) + len(frames)
                for f in frames:
                    if rule == "clear":
                        dre.retract_fact(h, json.dumps(f["x"]))
                    elif rule == "consume":
                        dre.retract_fact(h, json.dumps(f["c"]))
                        dre.retract_fact(h, json.dumps(f["d"]))
            nxt = dre.complete_and_start_action(h, state_offset)
            message = json.loads(nxt) if nxt else None

    for spec in lazy_pools_sessions(n, seed):
        sid, fired = spec["sid"], {}
        state_offset = dre.assert_facts(h, json.dumps(spec["phase1"]))[1]
        run_actions(state_offset, fired)
        for f in spec["retract"]:
            dre.retract_fact(h, json.dumps(f))
        if spec["phase2"]:
            dre.assert_facts(h, json.dumps(spec["phase2"]))
        run_actions(state_offset, fired)
        left = sorted([f["t"], f["k"]] for f in json.loads(dre.get_facts(h, sid)) if "t" in f)
        results.append({"sid": sid, "fired": dict(sorted(fired.items())), "facts": left})
        alive.append(sid)
        if len(alive) > live:  # a few sessions alive at once, deleted out of order
            dre.delete_state(h, alive.pop(len(alive) // 2))
    for sid in alive:
        dre.delete_state(h, sid)
    dre.delete_ruleset(h)
    return {"sessions": results}


CASES = {
    "join_last_term_false": case_join_last_term_false,
    "sessions_no_fire": case_sessions_no_fire,
    "session_limit": case_session_limit,
    "empty_batch": case_empty_batch,
    "retract_both_in_action": case_retract_both_in_action,
    "regex_on_number": case_regex_on_number,
    "host_full_path": case_host_full_path,
    "lazy_pools": case_lazy_pools,
}


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CASES:
        sys.exit("usage: engine_reproducers.py {%s} [ints...]" % "|".join(CASES))
    result = CASES[sys.argv[1]](*(int(a) for a in sys.argv[2:]))
    print(json.dumps(result, sort_keys=True), flush=True)
