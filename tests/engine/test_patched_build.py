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
