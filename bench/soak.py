"""Soak test: many mixed cases through gunicorn; no worker may die, no worker may grow.

    .venv/bin/python bench/soak.py [--cases 200000] [--workers 2] [--threads 4] [--clients 8]
                                   [--warmup 2000] [--max-seconds 1500] [--rss-limit 10]

Starts gunicorn on 127.0.0.1 and a free port (loopback only) and sends
``--cases`` requests from ``--clients`` keep-alive client threads: seeded mixed
Qinzhou cases (bench/cases.py), ≈5% invalid requests (expected 400: bad
fields, unknown types, duplicate ids, non-object bodies, malformed JSON) and
≈5% cases on which no qz-htz rule can fire (applicant outside Qinzhou; expected
200 with no qz-htz outcome — gx-htz and lz-htz may still grant to another zone's
enterprise). The first ``--warmup`` cases warm the workers up; RSS
(VmRSS, /proc/<pid>/status) of the master and of each worker is read after
them and again at the end.

Crashes = worker deaths or respawns seen in gunicorn's log after start
("Worker (pid:…) was sent …", "… exited …", "WORKER TIMEOUT", "Booting worker"
with a pid other than the initial workers', a changed set of worker pids) +
connection errors + 5xx answers.

Exit status: 0 pass; 1 if crashes > 0, if any worker's RSS grew more than
``--rss-limit`` %, if an answer had an unexpected status (a valid case not
200, an invalid one not 400), or if an applicant outside Qinzhou got a qz-htz
outcome; 2 if ``--max-seconds`` ran out before all cases were sent (the
figures are printed all the same).
"""
import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from bench.cases import invalid_case, mixed_case, no_rule_case  # noqa: E402
from bench.common import (BOOTING, WORKER_DEATH, Budget, Client, Gunicorn, encode, run_clients,  # noqa: E402
                          environment_line, markdown_table, percentile, rss_kib)

MALFORMED = [b'{"applicant": {"kind": "enterprise"', b"\xff\xfe not utf-8", b"", b"null", b'{"events": [}']


class Tally:
    """Per-thread counters, summed at the end (no lock on the hot path)."""

    def __init__(self):
        self.sent = 0
        self.by_kind = collections.Counter()        # valid / no_rule / invalid
        self.status = collections.Counter()         # HTTP status -> count
        self.unexpected = collections.Counter()     # "kind->status" -> count
        self.conn_errors = collections.Counter()    # exception name -> count
        self.no_outcome = 0                         # 200 answers with "outcomes": []
        self.no_rule_with_outcome = 0
        self.latency_ns: list[int] = []

    def merge(self, other: "Tally") -> None:
        self.sent += other.sent
        self.by_kind += other.by_kind
        self.status += other.status
        self.unexpected += other.unexpected
        self.conn_errors += other.conn_errors
        self.no_outcome += other.no_outcome
        self.no_rule_with_outcome += other.no_rule_with_outcome
        self.latency_ns += other.latency_ns


def make_request(rng: random.Random, invalid_rate: float, no_rule_rate: float) -> tuple[str, bytes]:
    roll = rng.random()
    if roll < invalid_rate:
        if rng.random() < 0.1:
            return "invalid", rng.choice(MALFORMED)
        return "invalid", encode(invalid_case(rng))
    if roll < invalid_rate + no_rule_rate:
        return "no_rule", encode(no_rule_case(rng))
    return "valid", encode(mixed_case(rng))


def drive(server: Gunicorn, clients: int, budget: Budget, seed: int, args, live: list | None = None) -> Tally:
    tallies = [Tally() for _ in range(clients)]
    if live is not None:
        live[:] = tallies  # for the progress lines
    clock = time.perf_counter_ns

    def run(index: int) -> None:
        rng = random.Random(seed * 1_000_003 + index)
        tally = tallies[index]
        client = Client(server.host, server.port)
        try:
            while budget.take() is not None:
                kind, body = make_request(rng, args.invalid_rate, args.no_rule_rate)
                tally.sent += 1
                tally.by_kind[kind] += 1
                t0 = clock()
                try:
                    status, data = client.post("/v1/decisions", body)
                except Exception as error:
                    tally.conn_errors[type(error).__name__] += 1
                    continue
                tally.latency_ns.append(clock() - t0)
                tally.status[status] += 1
                expected = 400 if kind == "invalid" else 200
                if status != expected:
                    tally.unexpected[f"{kind}->{status}"] += 1
                elif status == 200:
                    empty = b'"outcomes": []' in data
                    tally.no_outcome += empty
                    # gx-htz and lz-htz speak to other zones' enterprises; qz-htz must not
                    if kind == "no_rule" and not empty and any(
                            o["policy"] == "qz-htz" for o in json.loads(data)["outcomes"]):
                        tally.no_rule_with_outcome += 1
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(i,), name=f"soak-{i}", daemon=True) for i in range(clients)]
    run_clients(threads, budget)
    total = Tally()
    for t in tallies:
        total.merge(t)
    return total


def rss_snapshot(server: Gunicorn) -> dict[int, int | None]:
    return {pid: rss_kib(pid) for pid in [server.pid] + server.worker_pids()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200_000, help="requests in all, warm-up included (default 200,000)")
    parser.add_argument("--warmup", type=int, default=2_000, help="cases before the start RSS is read (default 2,000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--invalid-rate", type=float, default=0.05, help="share of invalid requests (default 0.05)")
    parser.add_argument("--no-rule-rate", type=float, default=0.05,
                        help="share of valid cases on which no rule can fire (default 0.05)")
    parser.add_argument("--max-seconds", type=float, default=1_500, help="time bound of the whole soak (default 1,500)")
    parser.add_argument("--rss-limit", type=float, default=10.0, help="max RSS growth of a worker, %% (default 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--progress", type=float, default=30, help="seconds between progress lines on stderr (0: none)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    deadline = started + args.max_seconds
    samples: list[tuple[float, dict]] = []
    with Gunicorn(workers=args.workers, threads=args.threads) as server:
        boot_workers = server.worker_pids()
        boot_rss = rss_snapshot(server)

        warm = drive(server, args.clients, Budget(min(args.warmup, args.cases), deadline - time.monotonic()), args.seed, args)
        start_workers = server.worker_pids()
        start_rss = rss_snapshot(server)

        budget = Budget(max(0, args.cases - warm.sent), deadline - time.monotonic())
        stop_monitor = threading.Event()
        live: list[Tally] = []

        def monitor() -> None:
            t_main = time.monotonic()
            last_print = t_main
            while not stop_monitor.wait(5):
                now = time.monotonic()
                samples.append((now - t_main, rss_snapshot(server)))
                if args.progress and now - last_print >= args.progress:
                    last_print = now
                    done = sum(t.sent for t in live)
                    rss = ", ".join(f"{pid}: {kib / 1024:.1f} MiB" for pid, kib in samples[-1][1].items() if kib)
                    print(f"[soak {now - started:6.0f} s] ~{warm.sent + done:,} sent; RSS {rss}", file=sys.stderr, flush=True)

        watcher = threading.Thread(target=monitor, daemon=True)
        watcher.start()
        t_main = time.perf_counter()
        main_tally = drive(server, args.clients, budget, args.seed + 1, args, live)
        main_seconds = time.perf_counter() - t_main
        stop_monitor.set()
        watcher.join()

        end_workers = server.worker_pids()
        end_rss = rss_snapshot(server)
        # read before the stop: a graceful stop logs its own "Worker exiting" lines
        log = server.log_text()
        master_alive = server.proc.poll() is None
        master_pid, log_path = server.pid, server.log_path
    elapsed = time.monotonic() - started

    total = Tally()
    total.merge(warm)
    total.merge(main_tally)
    deaths = [m.group(0) for m in WORKER_DEATH.finditer(log)]
    # a worker's "Booting worker" line may reach the log after /healthz answered: judge by pid, not by time
    respawns = [pid for pid in BOOTING.findall(log) if int(pid) not in boot_workers]
    changed_workers = sorted(start_workers) != sorted(boot_workers) or sorted(end_workers) != sorted(start_workers)
    tracebacks = log.count("Traceback (most recent call last)")
    five_xx = sum(n for status, n in total.status.items() if status >= 500)
    conn_errors = sum(total.conn_errors.values())
    crashes = (len(deaths) + len(respawns) + conn_errors + five_xx + (0 if master_alive else 1)
               + (1 if changed_workers and not deaths and not respawns else 0))
    unexpected = sum(total.unexpected.values())
    incomplete = total.sent < args.cases

    rss_rows, worst = [], 0.0
    for pid, kib in start_rss.items():
        role = "master" if pid == master_pid else "worker"
        end = end_rss.get(pid)
        growth = (end - kib) / kib * 100 if end and kib else float("nan")
        if role == "worker":
            worst = max(worst, growth if end else float("inf"))
        rss_rows.append([f"{role} {pid}", f"{boot_rss.get(pid, 0) / 1024:.1f}" if boot_rss.get(pid) else "–",
                         f"{kib / 1024:.1f}", f"{end / 1024:.1f}" if end else "gone",
                         f"{growth:+.1f}%" if end else "–"])
    for pid in sorted(set(end_rss) - set(start_rss)):
        rss_rows.append([f"new worker {pid}", "–", "–", f"{end_rss[pid] / 1024:.1f}", "respawned"])
    rss_failed = worst > args.rss_limit

    lat = sorted(main_tally.latency_ns)
    rate = main_tally.sent / main_seconds if main_seconds else float("nan")
    print("# bench/soak.py — soak through gunicorn on loopback\n")
    print(f"- {environment_line()}")
    print(f"- gunicorn {args.workers} workers × {args.threads} threads, {args.clients} client threads (keep-alive); "
          f"seed {args.seed}; log {log_path}")
    if server.stock_engine:
        print("- stock durable_rules (not the server build): RAC_ALLOW_STOCK_ENGINE=1 was set for gunicorn")
    print(f"- {total.sent:,} cases sent in {elapsed:,.0f} s ({warm.sent:,} warm-up, then {main_tally.sent:,} at "
          f"{rate:,.0f}/s; median {percentile(lat, 50) / 1e3:,.0f} µs, p99 {percentile(lat, 99) / 1e3:,.0f} µs)\n")
    kinds = total.by_kind
    rows = [
        ["cases sent", f"{total.sent:,}", f"of {args.cases:,} asked" + (" — TIME LIMIT HIT" if incomplete else "")],
        ["valid mixed cases", f"{kinds['valid']:,}", "expected 200"],
        ["no-rule cases (outside Qinzhou)", f"{kinds['no_rule']:,}",
         f"expected 200 with no qz-htz outcome; {total.no_rule_with_outcome:,} had one"],
        ["invalid requests", f"{kinds['invalid']:,}", "expected 400"],
    ]
    rows += [[f"answers {status}", f"{n:,}", ""] for status, n in sorted(total.status.items())]
    rows += [
        ["200 answers with no outcome", f"{total.no_outcome:,}", "no rule granted anything"],
        ["unexpected statuses", f"{unexpected:,}", ", ".join(f"{k}: {n}" for k, n in sorted(total.unexpected.items()))],
        ["**crashes**", f"**{crashes}**",
         f"worker deaths {len(deaths)}, respawns {len(respawns)}, connection errors {conn_errors}"
         f"{' ' + str(dict(total.conn_errors)) if conn_errors else ''}, 5xx {five_xx}"
         f"{'' if master_alive else ', MASTER DIED'}"],
        ["tracebacks in the log", f"{tracebacks}", ""],
        ["worker pids unchanged", "yes" if not changed_workers else "NO", f"{boot_workers} → {end_workers}"],
    ]
    print(markdown_table(["", "count", "note"], rows, align="lrl"))
    print()
    print(markdown_table(["process", "RSS at boot MiB", f"after warm-up ({warm.sent:,}) MiB", "at end MiB", "growth"], rss_rows))
    if samples:
        step = max(1, len(samples) // 8)
        trend = [samples[i] for i in range(0, len(samples), step)] + ([samples[-1]] if (len(samples) - 1) % step else [])
        workers_sum = lambda snap: sum(kib for pid, kib in snap.items() if pid != master_pid and kib) / 1024
        print("\nWorkers' RSS (sum, MiB) over the main run: "
              + ", ".join(f"{t:.0f} s: {workers_sum(s):.1f}" for t, s in trend))
    if deaths:
        print("\nWorker lines in the log:\n" + "\n".join(f"    {d}" for d in deaths[:20]))

    verdicts = []
    if crashes:
        verdicts.append(f"{crashes} crash(es)")
    if rss_failed:
        verdicts.append("a worker is gone, its growth unknown" if worst == float("inf")
                        else f"a worker's RSS grew {worst:+.1f}% (> {args.rss_limit:g}%)")
    if unexpected:
        verdicts.append(f"{unexpected} unexpected status(es)")
    if total.no_rule_with_outcome:
        verdicts.append(f"{total.no_rule_with_outcome} qz-htz outcome(s) for applicants outside Qinzhou")
    if verdicts:
        print(f"\n**FAIL**: {'; '.join(verdicts)}")
        return 1
    if incomplete:
        print(f"\n**INCOMPLETE**: the time limit ({args.max_seconds:g} s) ran out after {total.sent:,} of {args.cases:,} cases")
        return 2
    print(f"\n**PASS**: 0 crashes; worst worker RSS growth {worst:+.1f}% (limit {args.rss_limit:g}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
