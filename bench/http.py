"""HTTP benchmark: gunicorn on loopback, driven by keep-alive clients on the same machine.

    .venv/bin/python bench/http.py [--workers 2] [--threads 4] [--clients 8]
                                   [--seconds 20] [--requests 40000] [--case mix|ten]

Starts ``gunicorn -c gunicorn.conf.py service.wsgi:app`` on 127.0.0.1 and a free
port, waits for /healthz, then ``--clients`` threads each hold one keep-alive
``http.client`` connection and POST /v1/decisions until the time or the count
runs out (whichever first). Reports requests/s, median/p90/p99 latency and the
non-200 answers. gunicorn is always stopped, error or not.

Client and server share the machine's CPUs: the figures are a floor for the
server, not its capacity on a dedicated host.
"""
import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import collections  # noqa: E402
import random  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from bench.cases import mix, ten_event_case  # noqa: E402
from bench.common import (Budget, Client, Gunicorn, encode, environment_line, latency_row, run_clients,  # noqa: E402
                          markdown_table, worker_events)


def drive(server: Gunicorn, bodies: list[bytes], clients: int, budget: Budget, offset: int = 0):
    """Run ``clients`` threads against the server; returns (latencies ns, status counter, errors, seconds)."""
    latencies: list[list[int]] = [[] for _ in range(clients)]
    statuses: list[collections.Counter] = [collections.Counter() for _ in range(clients)]
    errors: list[collections.Counter] = [collections.Counter() for _ in range(clients)]
    clock = time.perf_counter_ns

    def run(index: int) -> None:
        client = Client(server.host, server.port)
        mine, seen, failed = latencies[index], statuses[index], errors[index]
        try:
            while (ticket := budget.take()) is not None:
                body = bodies[(ticket + offset) % len(bodies)]
                t0 = clock()
                try:
                    status, _ = client.post("/v1/decisions", body)
                except Exception as error:  # connection refused/reset, timeout: counted, then reconnect
                    failed[type(error).__name__] += 1
                    continue
                mine.append(clock() - t0)
                seen[status] += 1
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(i,), name=f"client-{i}") for i in range(clients)]
    start = time.perf_counter()
    run_clients(threads, budget)
    elapsed = time.perf_counter() - start
    return ([v for part in latencies for v in part], sum(statuses, collections.Counter()),
            sum(errors, collections.Counter()), elapsed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--clients", type=int, default=8, help="client threads, one connection each (default 8)")
    parser.add_argument("--seconds", type=float, default=20, help="time bound of the timed run (default 20)")
    parser.add_argument("--requests", type=int, default=40_000, help="count bound of the timed run (default 40,000)")
    parser.add_argument("--warmup", type=int, default=500, help="untimed requests first (default 500)")
    parser.add_argument("--case", choices=["mix", "ten"], default="mix",
                        help="mix: seeded 1-12-event cases; ten: the 10-event case only (default mix)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    if args.case == "ten":
        bodies = [encode(ten_event_case())]
    else:
        bodies = [encode(c) for c in mix(random.Random(args.seed), 2_000)]

    with Gunicorn(workers=args.workers, threads=args.threads) as server:
        boot_workers = server.worker_pids()
        drive(server, bodies, args.clients, Budget(args.warmup, 60), offset=len(bodies) // 2)
        ns, statuses, errors, elapsed = drive(server, bodies, args.clients, Budget(args.requests, args.seconds))
        booted, deaths = worker_events(server.log_text())
        end_workers = server.worker_pids()
        log_path = server.log_path

    non_200 = sum(n for status, n in statuses.items() if status != 200)
    extra = f"{non_200:,}" + (f" ({', '.join(f'{s}: {n}' for s, n in sorted(statuses.items()) if s != 200)})" if non_200 else "")
    row = latency_row(f"POST /v1/decisions, {args.case}", ns, elapsed, extra)
    print("# bench/http.py — gunicorn on loopback\n")
    print(f"- {environment_line()}")
    print(f"- gunicorn: {args.workers} workers × {args.threads} threads (gthread), 127.0.0.1:{server.port}; "
          f"{args.clients} client threads with keep-alive connections on the same machine")
    print(f"- bounds: {args.seconds:g} s or {args.requests:,} requests; {args.warmup:,} untimed requests first; "
          f"ran {elapsed:.1f} s")
    if server.stock_engine:
        print("- stock durable_rules (not the server build): RAC_ALLOW_STOCK_ENGINE=1 was set for gunicorn")
    print()
    print(markdown_table(["run", "requests", "requests/s", "median µs", "p90 µs", "p99 µs", "non-200"], [row]))
    if errors:
        print(f"\nConnection errors: {dict(errors)}")
    if deaths or len(booted) != len(boot_workers) or sorted(end_workers) != sorted(boot_workers):
        print(f"\nWorker trouble: {deaths or 'workers changed'}; log: {log_path}")
    return 0 if not errors and not non_200 else 1


if __name__ == "__main__":
    sys.exit(main())
