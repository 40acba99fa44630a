"""No lock held by one party stalls the others.

- The decision log's write lock held elsewhere (BEGIN IMMEDIATE on SQLite, the
  advisory lock on PostgreSQL when TEST_DATABASE_URL is set): decisions are a 503
  with Retry-After while it is held (answered before it is released, after about
  RAC_LOG_LOCK_WAIT), /healthz answers, /readyz is a 503; all recover after.
- The engine: one case holding its ruleset's session does not stop another case
  of the same ruleset (there used to be a lock per ruleset)."""
from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from service.http.app import create_app

from tests.helpers import postgres_schema, qz_case
from tests.hostile.ops_support import _print_ops_figures, figure, get, gunicorn, ms, post_json, timed  # noqa: F401

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
LOCK_WAIT = 0.5  # RAC_LOG_LOCK_WAIT of the service under test


def hte_case(case_id="LOCK-1"):
    return qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}], case_id=case_id)


class HeldLock:
    """The log's append lock, taken by another connection (as another process would) and held."""

    def __init__(self, kind: str, location: str):
        self.kind, self.location = kind, location

    def __enter__(self):
        if self.kind == "sqlite":
            self.conn = sqlite3.connect(self.location, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            from service.log.db import ADVISORY_LOCK_KEY

            self.conn = psycopg.connect(self.location, autocommit=True)
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        self.held = True
        return self

    def __exit__(self, *exc):
        self.conn.execute("ROLLBACK")
        self.conn.close()
        self.held = False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set: PostgreSQL tests skipped"))])
def log_target(request, tmp_path, monkeypatch):
    monkeypatch.setenv("RAC_LOG_LOCK_WAIT", str(LOCK_WAIT))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if request.param == "sqlite":
        path = tmp_path / "log" / "decisions.sqlite3"
        monkeypatch.setenv("RAC_DECISION_LOG", str(path))
        yield "sqlite", str(path)
        return
    with postgres_schema("rac_lock") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        yield "postgresql", url


def test_a_held_log_lock_is_a_prompt_503_and_health_tells_the_truth(log_target, decider):
    kind, location = log_target
    client = create_app(decider).test_client()
    assert client.post("/v1/decisions", json=hte_case()).status_code == 200  # the log exists
    assert client.get("/readyz").status_code == 200
    refused, health, ready = [], [], []
    with HeldLock(kind, location) as lock:
        for i in range(3):
            response, took = timed(client.post, "/v1/decisions", json=hte_case(f"LOCK-{i}"))
            assert lock.held  # answered while the lock is still held: it did not wait for the release
            assert response.status_code == 503, response.get_data(as_text=True)
            assert response.mimetype == "application/problem+json"
            assert int(response.headers["Retry-After"]) >= 1
            assert response.get_json()["type"].endswith("/decision-not-logged")
            refused.append(took)
            response, took = timed(client.get, "/healthz")
            assert response.status_code == 200
            health.append(took)
            response, took = timed(client.get, "/readyz")
            assert response.status_code == 503 and "lock" in response.get_json()["detail"]
            assert response.headers["Retry-After"]
            ready.append(took)
    time.sleep(LOCK_WAIT)  # appends refused at once for one wait after a timeout
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/decisions", json=hte_case("LOCK-after")).status_code == 200
    figure(f"{kind}, RAC_LOG_LOCK_WAIT={LOCK_WAIT:g} s, lock held elsewhere: decisions 503 after {ms(refused)} "
           f"(the first waits the whole wait, the next are refused at once); /healthz {ms(health)}; "
           f"/readyz 503 after {ms(ready)}")


def test_on_gunicorn_a_held_lock_leaves_health_and_other_requests_answered(tmp_path):
    with gunicorn(tmp_path, RAC_LOG_LOCK_WAIT="2") as base:
        assert post_json(base + "/v1/decisions", hte_case())[0] == 200
        results, health = [], []
        with HeldLock("sqlite", str(tmp_path / "log" / "decisions.sqlite3")) as lock:
            def decide(i):
                (status, headers, _), took = timed(post_json, base + "/v1/decisions", hte_case(f"G-{i}"))
                results.append((status, headers.get("Retry-After"), took, lock.held))

            threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            for _ in range(20):
                (status, _, _), took = timed(get, base + "/healthz")
                assert status == 200
                health.append(took)
                time.sleep(0.05)
            (ready_status, _, _), ready_took = timed(get, base + "/readyz")
            for thread in threads:
                thread.join(30)
            assert lock.held
        assert {(status, retry, held) for status, retry, _, held in results} == {(503, "2", True)}, results
        assert ready_status == 503
        deadline = time.monotonic() + 10
        while get(base + "/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # a worker refuses appends for one wait after a timeout
        after = [post_json(base + "/v1/decisions", hte_case(f"G-after-{i}"))[0] for i in range(4)]
        assert after == [200] * 4
        assert get(base + "/readyz")[0] == 200
    figure(f"gunicorn, RAC_LOG_LOCK_WAIT=2 s, SQLite lock held: 8 concurrent decisions 503 after "
           f"{ms([took for _, _, took, _ in results])}; /healthz meanwhile {ms(health)}; /readyz 503 in {ready_took:.0f} ms")


# -- the engine --

def test_a_case_holding_its_ruleset_does_not_stop_another_of_the_same_ruleset(decider):
    """Thread A opens a session of the qz-htz ruleset and holds it; thread B's whole
    decision of a qz-htz case completes meanwhile (it used to wait on A's lock)."""
    [compiled] = [c for key, c in decider.registry.compiled.items() if key.startswith("qz-htz@")][:1]
    holding, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold():
        with compiled.ruleset.session(None) as session:
            session.assert_all([{"t": "hold", "id": "hold"}])
            holding.set()
            release.wait(30)

    def decide():
        decision = decider.decide(hte_case("ENGINE-B"))
        assert decision["outcomes"], decision["denials"]
        done.set()

    a = threading.Thread(target=hold)
    a.start()
    assert holding.wait(10)
    start = time.perf_counter()
    b = threading.Thread(target=decide)
    b.start()
    finished = done.wait(20)
    took = (time.perf_counter() - start) * 1000
    assert not release.is_set()
    release.set()
    a.join(10)
    b.join(10)
    assert finished, "a decision waited for another session of its ruleset"
    figure(f"engine: a decision of qz-htz while another qz-htz session is held open: {took:.1f} ms")


def test_a_slow_evaluation_does_not_stop_another(decider, monkeypatch):
    """One evaluation slowed down inside the engine (an action that sleeps 2 s, as a
    costly join would take) does not delay another thread's evaluation of the same ruleset."""
    from service import engine

    original = engine.Session.drain
    slow_thread = {}

    def drain(self):
        if threading.get_ident() == slow_thread.get("id"):
            time.sleep(2)
        return original(self)

    monkeypatch.setattr(engine.Session, "drain", drain)
    times = {}

    def run(name, slow):
        if slow:
            slow_thread["id"] = threading.get_ident()
        start = time.perf_counter()
        decider.decide(hte_case(name))
        times[name] = time.perf_counter() - start

    slow = threading.Thread(target=run, args=("SLOW", True))
    slow.start()
    time.sleep(0.2)  # the slow one is inside the engine
    fast = threading.Thread(target=run, args=("FAST", False))
    fast.start()
    fast.join(30)
    finished_first = "SLOW" not in times
    slow.join(30)
    assert finished_first, "the ordinary case finished only after the slow one"
    figure(f"engine: ordinary case {times['FAST'] * 1000:.1f} ms beside one slowed by 2 s per drain "
           f"({times['SLOW']:.1f} s)")
