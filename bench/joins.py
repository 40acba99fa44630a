"""Cost of the joined measures per case and per event, at 10, 100 and 1,000 events.

    .venv/bin/python bench/joins.py [--sizes 10,100,1000] [--repeat 3] [--instructions]

Each scenario is a valid history of one joined event type (one event per year and
scope, as validation now requires), decided by ``Decider.decide`` directly: a case
of 1,000 events is beyond the validator's MAX_EVENTS, so the validator is not run
(its cost is not a join's). Printed: wall clock and CPU per case (best of
``--repeat``) and per event; ``--instructions`` adds callgrind's instruction count
per decision (valgrind; as bench/instructions.py counts them: a run with and one
without the counted decisions, subtracted). The join bar: cost per event flat
(±20%) from 10 to 1,000 events.

``--crowded`` decides the histories issue 10 measured instead: every event in a
few years (the validator now refuses them; the engine's cost on them is what
made the joins super-linear).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402

FIRST_YEAR = 2021  # the documents' windows open in 2021: an earlier event is only told it is outside


def _years(n: int, per_year: int, crowded: bool) -> list[int]:
    """The year of each of ``n`` events, ``per_year`` of them a year (one per scope or type);
    crowded: all in five years, as the issue's hostile cases were."""
    span = 5 if crowded else -(-n // per_year)
    return [FIRST_YEAR + (i // per_year) % span for i in range(n)]


def _rankings(n: int, scopes: tuple[str, ...], crowded: bool) -> list[dict]:
    events = []
    for i, year in enumerate(_years(n, len(scopes), crowded)):
        scope = scopes[i % len(scopes)]
        # ranks wander so that every measure sees rises, falls and the top places
        rank = 1 + (i * 37 + year * 11) % (60 if scope == "national" else 20)
        events.append({"id": f"z{i}", "type": "zone_evaluated", "date": date(year, 12, 31), "scope": scope,
                       "rank": rank, "list_size": 169 if scope == "national" else 20})
    return events


def _gazelle(n: int, crowded: bool) -> list[dict]:
    """qz-htz 二: a recognition and a regional award each year (the top-up joins them)."""
    events = []
    for i, year in enumerate(_years(n, 2, crowded)):
        if i % 2 == 0:
            events.append({"id": f"g{i}", "type": "gazelle_recognized", "date": date(year, 3, 1)})
        else:
            events.append({"id": f"a{i}", "type": "gazelle_regional_award", "date": date(year, 9, 1),
                           "amount": 100000 + 1000 * (i % 7)})
    return events


def _new_hte(n: int, crowded: bool) -> list[dict]:
    return [{"id": f"h{i}", "type": "zone_new_hte_counted", "date": date(year, 12, 31), "new_hte_count": (i * 3) % 9}
            for i, year in enumerate(_years(n, 1, crowded))]


def _zone(zone: str) -> dict:
    return {"kind": "zone", "zone": zone}


GOOD_ENTERPRISE = {name: True for name in (
    "registered_in_zone", "tax_in_zone", "statistics_in_zone", "independent_legal_person", "independent_accounting",
    "sound_financial_system", "operates_honestly", "pays_taxes_lawfully", "fits_industrial_policy")}


SCENARIOS = {
    # name: (applicant, events(n, crowded)); the zone picks the documents that judge it
    "zone_evaluated national (gx-htz 23.x, lz-htz 21.x)": (_zone("liuzhou-national-htz"),
                                                          lambda n, c: _rankings(n, ("national",), c)),
    "zone_evaluated regional (gx-htz 23.x, lz-htz 21.x)": (_zone("hexi-liuzhou-htz"),
                                                          lambda n, c: _rankings(n, ("regional",), c)),
    "zone_evaluated both scopes (gx-etdz 19)": (_zone("nanning-etdz"),
                                                lambda n, c: _rankings(n, ("national", "regional"), c)),
    "zone_evaluated regional ETDZ (gx-etdz 19)": (_zone("luzhai-etdz"), lambda n, c: _rankings(n, ("regional",), c)),
    "zone_new_hte_counted (gx-htz 23.6)": (_zone("wuzhou-htz"), _new_hte),
    "gazelle recognition + award (qz-htz 二)": (
        {"kind": "enterprise", "zone": "qinzhou-htz",
         "attributes": GOOD_ENTERPRISE | {"high_tech_enterprise_since": date(2020, 1, 1)}}, _gazelle),
}


def case_of(scenario: str, n: int, crowded: bool = False) -> dict:
    from service.zones import zones

    applicant, events = SCENARIOS[scenario]
    # as the validator completes it: city, zone level and type from the zone registry
    applicant = zones().derive(applicant["zone"]) | applicant
    return {"case_id": f"BENCH-JOIN-{n}", "applicant": applicant, "events": events(n, crowded),
            "prior_awards": [], "options": {"lang": "en", "explain": False, "include_drafts": False, "pin": {}}}


def _timed(decider, case: dict, repeat: int) -> tuple[float, float, int]:
    """(best wall seconds, best CPU seconds, outcomes + denials) of deciding ``case``."""
    best_wall = best_cpu = float("inf")
    size = 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        decision = decider.decide(case)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        size = len(decision["outcomes"]) + len(decision["denials"])
    return best_wall, best_cpu, size


DRIVER = """
import sys
sys.path.insert(0, {root!r})
from bench.joins import case_of
from service.decide import Decider
decider = Decider()
case = case_of({scenario!r}, {n}, {crowded!r})
decider.decide(case)
for _ in range({count}):
    decider.decide(case)
"""


def instructions(scenario: str, n: int, crowded: bool, count: int = 2) -> float:
    """Instructions per decision: callgrind runs with ``count`` and ``2 * count`` decisions, subtracted.
    Both runs have decided before they are counted apart: a run of none would leave the first
    decision's own costs (a compiled copy of each ruleset borrowed, caches filled) in the difference,
    which on a small case is larger than the case and made its count negative."""
    root = Path(__file__).resolve().parent.parent
    totals = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in (count, 2 * count):
            script = Path(tmp) / f"drive_{k}.py"
            script.write_text(DRIVER.format(root=str(root), scenario=scenario, n=n, crowded=crowded, count=k))
            done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out_{k}",
                                   sys.executable, str(script)], capture_output=True, text=True,
                                  env=dict(os.environ, PYTHONHASHSEED="0"), cwd=tmp)
            if done.returncode != 0:
                raise SystemExit(f"callgrind run failed:\n{done.stderr[-2000:]}")
            totals.append(int(re.search(r"Collected : (\d+)", done.stderr).group(1)))
    return (totals[1] - totals[0]) / count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="events per case (default 10,100,1000)")
    parser.add_argument("--repeat", type=int, default=3, help="decisions per case, the best counts (default 3)")
    parser.add_argument("--only", help="the scenarios whose name contains this")
    parser.add_argument("--crowded", action="store_true", help="every event in five years (now refused by validation)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions with callgrind (slow)")
    args = parser.parse_args(argv)
    if args.instructions and not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    from service.decide import Decider

    sizes = [int(s) for s in args.sizes.split(",")]
    decider = Decider()
    print("# bench/joins.py — joined measures, Decider.decide alone"
          + (" (crowded: every event in five years)" if args.crowded else " (one event per year and scope)") + "\n")
    header = "| scenario | events | results | ms/case | CPU ms/case | µs/event | CPU µs/event |"
    if args.instructions:
        header += " instructions/event |"
    print(header)
    print("|---" + "|---:" * (header.count("|") - 2) + "|")
    for scenario in SCENARIOS:
        if args.only and args.only not in scenario:
            continue
        decider.decide(case_of(scenario, 10, args.crowded))  # warm: the first decision pays lazy set-up
        for n in sizes:
            case = case_of(scenario, n, args.crowded)
            wall, cpu, size = _timed(decider, case, args.repeat)
            row = (f"| {scenario} | {n:,} | {size:,} | {wall * 1e3:,.1f} | {cpu * 1e3:,.1f} "
                   f"| {wall * 1e6 / n:,.0f} | {cpu * 1e6 / n:,.0f} |")
            if args.instructions:
                # a small case is counted over more decisions: the runs' own noise (~10^6) is shared out
                row += f" {instructions(scenario, n, args.crowded, count=max(2, 400 // n)) / n:,.0f} |"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
