"""The installed durable_rules must be the patched server build
(vendor/durable_rules/build.py + server.patch), and the memory bugs fixed by
server.patch must stay fixed.

Each reproducer runs in its own interpreter (engine_reproducers.py), so a
segfault in the C engine shows up as a failed test instead of killing the run.
On the stock durable_rules 2.0.28 build the join, session, session-limit,
empty-batch and full-path reproducers die with SIGSEGV.
"""

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

PATCHED_VERSION = "2.0.28+server.1"
SCRIPT = Path(__file__).with_name("engine_reproducers.py")
TIMEOUT = 300


def run_case(case, *args):
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), case, *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        timeout=TIMEOUT, env=env, cwd=str(SCRIPT.parent),
    )
    if proc.returncode != 0:
        how = f"exit code {proc.returncode}"
        if proc.returncode < 0:
            how += f" ({signal.Signals(-proc.returncode).name})"
        pytest.fail(
            f"reproducer {case!r} failed with {how}\n"
            f"--- stdout ---\n{proc.stdout[-2000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"reproducer {case!r} printed nothing; stderr:\n{proc.stderr[-2000:]}"
    return json.loads(lines[-1])


def test_installed_version_is_patched_build():
    assert importlib.metadata.version("durable_rules") == PATCHED_VERSION, (
        "run `python vendor/durable_rules/build.py` with this interpreter"
    )


def test_installed_build_is_from_this_server_patch():
    # The version string does not change with server.patch; build.py records
    # the sha256 of the patch it built from in durable/_server_patch.py.
    import hashlib
    patch = Path(__file__).resolve().parents[2] / "vendor" / "durable_rules" / "server.patch"
    try:
        from durable import _server_patch
    except ImportError:
        pytest.fail("durable/_server_patch.py missing: run `python vendor/durable_rules/build.py`")
    assert _server_patch.PATCH_SHA256 == hashlib.sha256(patch.read_bytes()).hexdigest(), (
        "the installed build is from another server.patch: run `python vendor/durable_rules/build.py`"
    )


def test_patched_version_satisfies_upstream_pin():
    packaging_version = pytest.importorskip("packaging.version")
    packaging_specifiers = pytest.importorskip("packaging.specifiers")
    version = packaging_version.Version(PATCHED_VERSION)
    assert version.local == "server.1"
    assert version in packaging_specifiers.SpecifierSet("==2.0.28")


def test_join_whose_last_and_term_is_false():
    # jruizgit/rules#381: the short-circuit of a false last "&" term scanned
    # past the beta node's expression sequence.
    n = 3000
    result = run_case("join_last_term_false", n)
    window = sum(1 for i in range(n) if i % 5 <= i % 9 <= i % 5 + 2)
    either = sum(1 for i in range(n) if (i // 3) % 3 == i % 3 or (i // 9) % 3 == i % 3)
    assert result == {"n": n, "fired": {"window": window, "either": either}}


def test_sessions_in_which_no_rule_fires_are_deleted_cleanly():
    # createStateNode left node->context uninitialised; deleteStateNode freed
    # context.messages/stateFact when non-NULL.
    result = run_case("sessions_no_fire", 8, 400)
    assert result == {"sessions": 3200, "actions": 0}


def test_session_limit_leaves_no_half_built_session():
    result = run_case("session_limit")
    assert result == {
        "over": ["MemoryError"] * 3,
        "ghost": "not found",
        "after_actions": 0,
    }


def test_empty_fact_batch_returns_no_state():
    result = run_case("empty_batch", 300)
    assert result == {"offsets": [0], "host_results": ["None"]}


def test_action_retracting_both_joined_facts():
    result = run_case("retract_both_in_action", 2000)
    assert result == {"fired": 2000}


def test_regex_on_numeric_property():
    result = run_case("regex_on_number")
    assert result == {"matches": [["code"], [], ["price"], [], ["code"]]}


def test_host_full_server_path():
    n = 600
    result = run_case("host_full_path", n)
    active = [i for i in range(n) if i % 7]  # every 7th session fires nothing
    window = sum(1 for i in active if i % 5 <= i % 9 <= i % 5 + 2)
    either = sum(1 for i in active if (i // 3) % 3 == i % 3 or (i // 9) % 3 == i % 3)
    big = sum(1 for i in active if i % 20 > 10)
    junk = sum(i % 25 for i in active)
    assert result == {
        "fired": {"window": window, "either": either, "big": big, "small": len(active) - big,
                  "derived": big, "junk": junk},
        "not_handled": 0,
    }


def _reproducers_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("engine_reproducers_specs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lazy_pools_expected(spec):
    """What the LAZY_POOLS_RULES must do with one session spec, by their meaning."""
    from collections import Counter

    def keys(facts, t):
        return [f["k"] for f in facts if f["t"] == t]

    phase1, phase2 = spec["phase1"], spec["phase2"]
    a, b, b2 = Counter(keys(phase1, "a")), Counter(keys(phase1, "b")), Counter(keys(phase2, "b"))
    c, d = Counter(keys(phase1, "c")), Counter(keys(phase1, "d"))
    xs, zs, ys = set(keys(phase1, "x")), set(keys(phase1, "z")), keys(phase1, "y")
    a_left = a - Counter(f["k"] for f in spec["retract"])
    cleared = xs & zs  # each such z retracts its x (the x facts have distinct k)
    consumed = Counter({k: min(c[k], d[k]) for k in c})  # each action retracts one c and one d
    fired = {
        "pair": sum(a[k] * b[k] for k in a) + sum(a_left[k] * b2[k] for k in b2),
        "lonely": sum(1 for k in ys if k not in xs - cleared),
        "clear": len(cleared),
        "consume": sum(consumed.values()),
        "tally": len(ys),
    }
    left = Counter()
    for t, counter in (("a", a_left), ("b", b + b2), ("c", c - consumed), ("d", d - consumed),
                       ("x", Counter(xs - cleared)), ("y", Counter(ys)), ("z", Counter(zs))):
        for k, n in counter.items():
            left[(t, k)] += n
    return {
        "sid": spec["sid"],
        "fired": {rule: n for rule, n in sorted(fired.items()) if n},
        "facts": sorted([t, k] for (t, k), n in left.items() for _ in range(n)),
    }


def test_lazy_frame_pools_many_sessions():
    # server.patch allocates the per-node frame pools on first use: joins,
    # negations re-opened by a retract inside an action, actions retracting
    # their own facts, pools grown past 8 frames, capped result batches.
    n, seed = 300, 7
    specs = _reproducers_module().lazy_pools_sessions(n, seed)
    expected = [lazy_pools_expected(spec) for spec in specs]
    # the specs do reach the interesting cases
    assert max(e["fired"].get("pair", 0) for e in expected) > 100
    assert sum(1 for s in specs if max(
        [sum(1 for f in s["phase1"] if f["t"] == t) for t in "abcd"]) > 8) > n // 2
    assert sum(e["fired"].get("clear", 0) for e in expected) > n
    assert sum(e["fired"].get("consume", 0) for e in expected) > n
    result = run_case("lazy_pools", n, seed)
    assert len(result["sessions"]) == n
    for got, want in zip(result["sessions"], expected):
        assert got == want, want["sid"]
