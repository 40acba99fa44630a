"""What observing a request costs: request id, access line, metrics; and a /metrics scrape.

    .venv/bin/python bench/observe.py [--n 5000]

In process (Flask test client, one thread): GET /healthz and POST /v1/decisions
(the one-event qz-htz case, decision log off) with service/http/observe.py's hooks,
then with them taken out; the difference is what a request pays for being observed.
The access lines go to a null handler: the JSON is made, not written. Then a
scrape of /metrics in multiprocess mode over files of two workers' worth of labels.
Printed, never asserted.
"""
import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

os.environ["RAC_DECISION_LOG"] = "off"

from service import metrics  # noqa: E402
from service.decide import Decider  # noqa: E402
from service.http import observe  # noqa: E402
from service.http.app import create_app  # noqa: E402
from service.jsonlog import JsonFormatter  # noqa: E402

CASE = {"case_id": "B-1", "applicant": {"kind": "enterprise", "zone": "qinzhou-htz", "city": "qinzhou", "attributes": {
    "registered_in_zone": True, "tax_in_zone": True, "statistics_in_zone": True, "independent_legal_person": True,
    "independent_accounting": True, "sound_financial_system": True, "operates_honestly": True,
    "pays_taxes_lawfully": True, "fits_industrial_policy": True}},
    "events": [{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}]}


class _Formatting(logging.Handler):
    """Formats each record as the service's handler would, and drops it."""

    def emit(self, record):
        self.format(record)


def per_request_us(client, n: int, call) -> float:
    for _ in range(min(200, n)):
        call(client)
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            call(client)
        samples.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(samples)


def unobserved(app):
    app.before_request_funcs[None].remove(observe._start)
    app.after_request_funcs[None].remove(observe._finish)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    handler = _Formatting()
    handler.setFormatter(JsonFormatter())
    logging.getLogger("service").addHandler(handler)
    logging.getLogger("service").setLevel(logging.INFO)
    decider = Decider()
    rows = []
    for name, call, n in (("GET /healthz", lambda c: c.get("/healthz"), args.n),
                          ("POST /v1/decisions", lambda c: c.post("/v1/decisions", json=CASE), args.n // 5)):
        observed = per_request_us(create_app(decider).test_client(), n, call)
        bare = per_request_us(unobserved(create_app(decider)).test_client(), n, call)
        rows.append(f"{name:20} observed {observed:8.1f} µs   not observed {bare:8.1f} µs   cost {observed - bare:6.1f} µs")
    print(f"prometheus_client: {'yes' if metrics.available() else 'MISSING (metrics are no-ops)'}; "
          f"multiprocess: {bool(os.environ.get(metrics.MULTIPROC_ENV))}")
    for row in rows:
        print(row)
    if metrics.available():
        started = time.perf_counter()
        for _ in range(100):
            body, _ = metrics.exposition()
        print(f"/metrics exposition {(time.perf_counter() - started) / 100 * 1000:.2f} ms, {len(body)} bytes")


if __name__ == "__main__":
    main()
