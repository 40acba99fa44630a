"""In-process benchmark of a decision: no HTTP, one thread.

    .venv/bin/python bench/decide.py [--n 20000] [--warmup 1000] [--seed 1]

Rows: (a) ``Decider.decide()`` alone on the 10-event case (already validated);
(b) validate + decide on the 10-event case, as the HTTP handler does it;
(c) validate + decide on the seeded mix of 1-12-event cases; (d) a hand-written
Decimal function computing the same amounts for the 10-event case, to show
what the engine, the settlement and the rendering cost over the bare arithmetic;
(e) a case touching three documents; (f) the 10-event case with only qz-htz
registered, the service as issue 2 scoped it.
"""
import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import gc  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402
from decimal import ROUND_HALF_UP, Decimal  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.cases import TEN_EVENT_EXPECTED, mix, ten_event_case, three_document_case  # noqa: E402
from bench.common import environment_line, latency_row, markdown_table  # noqa: E402

# --------------------------------------------------------------------------- the same law, by hand

WINDOW_FROM, WINDOW_UNTIL = date(2021, 12, 30), date(2025, 12, 31)
IN_ZONE = ("registered_in_zone", "tax_in_zone", "statistics_in_zone")
REQUIRED = ("sound_financial_system", "independent_legal_person", "independent_accounting",
            "operates_honestly", "pays_taxes_lawfully", "fits_industrial_policy")
GRADES = {"general": 1, "relatively_major": 2, "major": 3, "extraordinarily_serious": 4}
HTE_AWARD, GAZELLE_AWARD = Decimal("200000.00"), Decimal("500000.00")
TOPUP_RATE, FEN = Decimal("0.20"), Decimal("0.01")
PATENT_CAP = Decimal("100000.00")
PLATFORM_AWARD = {"national": Decimal("1000000.00"), "regional": Decimal("200000.00"), "city": Decimal("50000.00")}


def plain_qz(case: dict) -> dict:
    """qz-htz for the event types of the 10-event case, in plain Python: event id -> amount (None: no amount)."""
    applicant = case["applicant"]
    if applicant.get("zone") != "qinzhou-htz":
        return {}
    attrs = applicant.get("attributes") or {}
    in_zone = all(attrs.get(k) for k in IN_ZONE) or (attrs.get("registered_in_ftz_qinzhou_port") and attrs.get("operates_in_zone"))
    if not in_zone or not all(attrs.get(k) for k in REQUIRED):
        return {}
    bad_years = set()
    for inc in applicant.get("incidents") or ():
        kind, grade = inc["type"], GRADES.get(inc.get("grade"), 0)
        if kind in ("major_economic_loss", "major_violation") or (
                kind in ("safety_accident", "environmental_emergency") and grade >= 1):
            bad_years.add(inc["year"])
    events = sorted(case["events"], key=lambda e: (e["date"], e["type"], e["id"]))
    hte_since = attrs.get("high_tech_enterprise_since")
    # gazelle recognitions a top-up can hang on: inside the window, already a high-tech enterprise
    recognitions = [e["date"] for e in events if e["type"] == "gazelle_recognized"
                    and WINDOW_FROM <= e["date"] <= WINDOW_UNTIL and hte_since and hte_since <= e["date"]]
    prior = case.get("prior_awards") or ()
    patent_left = PATENT_CAP - sum((p["amount"] for p in prior if p["measure"] == "qz-htz/5"), Decimal(0))
    once = {p["measure"] for p in prior}
    platforms = {p.get("platform_id") for p in prior if p["measure"] == "qz-htz/4"}
    topup_years: set = set()
    incubator_years = {e["date"].year for e in events if e["type"] == "incubator_recognized"
                       and WINDOW_FROM <= e["date"] <= WINDOW_UNTIL and e["date"].year not in bad_years}
    granted: dict = {}
    for e in events:
        when, kind = e["date"], e["type"]
        if kind == "gazelle_regional_award":
            # the top-up's window is its gazelle recognition's (reading gazelle_topup_years)
            if (when.year not in bad_years and when.year not in topup_years
                    and any(r.year <= when.year <= r.year + 2 for r in recognitions)):
                topup_years.add(when.year)
                granted[e["id"]] = (e["amount"] * TOPUP_RATE).quantize(FEN, rounding=ROUND_HALF_UP)
            continue
        if not WINDOW_FROM <= when <= WINDOW_UNTIL or when.year in bad_years:
            continue
        if kind == "hte_recognized":
            first = not hte_since or hte_since >= when  # a renewal is not rewarded
            if e.get("was_tech_sme") and first and "qz-htz/2.1" not in once:
                once.add("qz-htz/2.1")
                granted[e["id"]] = HTE_AWARD
        elif kind == "gazelle_recognized":
            if hte_since and hte_since <= when and "qz-htz/2.2" not in once:
                once.add("qz-htz/2.2")
                granted[e["id"]] = GAZELLE_AWARD
        elif kind == "patent_purchased":
            if e["patent_kind"] == "invention" and e.get("core_of_successful_hte_application") and patent_left > 0:
                amount = min(e["amount"] if "amount" in e else e["cost"], patent_left)
                patent_left -= amount
                granted[e["id"]] = amount
        elif kind == "platform_recognized":
            platform = e.get("platform_id") or e["id"]
            if platform not in platforms:
                platforms.add(platform)
                granted[e["id"]] = PLATFORM_AWARD[e["level"]]
        elif kind == "incubator_recognized":
            granted[e["id"]] = None  # per policy: eligibility only
        elif kind == "incubator_evaluated":
            if e["rating"] == "excellent" and when.year not in incubator_years:  # 3.1 stands, 3.3 is not stacked
                granted[e["id"]] = None
    return granted


# --------------------------------------------------------------------------- timing

def timed(fn, items, n: int, warmup: int) -> tuple[list[int], float]:
    """Call fn(item) over items (cycled) warmup times, then n times; per-call ns and total seconds."""
    m = len(items)
    for i in range(warmup):
        fn(items[i % m])
    gc.collect()
    out = [0] * n
    clock = time.perf_counter_ns
    start = clock()
    for i in range(n):
        item = items[i % m]
        t0 = clock()
        fn(item)
        out[i] = clock() - t0
    return out, (clock() - start) / 1e9


def granted_amounts(decision: dict, policy: str = "qz-htz") -> dict:
    """What the Qinzhou measures grant, by event (gx-htz also speaks to a Qinzhou HTZ enterprise)."""
    return {o["event"]: o.get("amount") or o.get("amount_max") for o in decision["outcomes"]
            if o["policy"] == policy and (o.get("amount") or o.get("amount_max"))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="timed decisions per row (default 20,000)")
    parser.add_argument("--warmup", type=int, default=1_000, help="untimed calls before each row (default 1,000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mix (default 1)")
    parser.add_argument("--mix-size", type=int, default=5_000,
                        help="distinct mixed cases, cycled through (default 5,000)")
    args = parser.parse_args(argv)

    from service.decide import Decider, canonical_sha256
    from service.engine import engine_version
    from service.paths import RULESETS_DIR
    from service.rulebook.registry import Registry
    from service.validate.request import CaseValidator

    t0 = time.perf_counter()
    decider = Decider()
    compile_s = time.perf_counter() - t0
    validator = CaseValidator(decider.vocab, decider.registry)

    payload = ten_event_case()
    case, errors = validator.validate(payload)
    if errors:
        raise SystemExit(f"the 10-event case does not validate: {errors}")
    expected = {k: Decimal(v) for k, v in TEN_EVENT_EXPECTED.items()}
    got = {k: Decimal(v) for k, v in granted_amounts(decider.decide(case)).items()}
    if got != expected:
        raise SystemExit(f"the engine's amounts differ from the expected ones: {got} != {expected}")
    by_hand = {k: v for k, v in plain_qz(case).items() if v is not None}
    if by_hand != expected:
        raise SystemExit(f"the hand-written amounts differ from the expected ones: {by_hand} != {expected}")

    def validate_and_decide(body):
        valid, problems = validator.validate(body)
        if problems:
            raise AssertionError(problems)
        return decider.decide(valid, input_sha256=canonical_sha256(body))

    rng = random.Random(args.seed)
    mixed = mix(rng, args.mix_size)
    events_in_mix = sum(len(c["events"]) for c in mixed) / len(mixed)
    invalid = [(i, errs) for i, errs in ((i, validator.validate(c)[1]) for i, c in enumerate(mixed)) if errs]
    if invalid:
        raise SystemExit(f"{len(invalid)} mixed case(s) do not validate, e.g. #{invalid[0][0]}: {invalid[0][1]}")

    # as service/wsgi.py does once the law is loaded: what lives for the process's
    # life leaves the collector's generations, so collections walk only new objects
    gc.collect()
    gc.freeze()
    rows = []
    ns, s = timed(decider.decide, [case], args.n, args.warmup)
    rows.append(latency_row("(a) decide() alone, 10-event case", ns, s))
    engine_median = sorted(ns)[len(ns) // 2]
    ns, s = timed(validate_and_decide, [payload], args.n, args.warmup)
    rows.append(latency_row("(b) validate + decide, 10-event case", ns, s))
    ns, s = timed(validate_and_decide, mixed, args.n, args.warmup)
    rows.append(latency_row(f"(c) validate + decide, mix (1-12 events, mean {events_in_mix:.1f})", ns, s))
    three, problems = validator.validate(three_document_case())
    if problems:
        raise SystemExit(f"the three-document case does not validate: {problems}")
    touched = {r["policy"] + "@" + r["version"] for r in decider.decide(three)["rulesets"]} | \
              {n["policy"] + "@" + n["version"] for n in decider.decide(three)["notices"]}
    ns, s = timed(decider.decide, [three], args.n, args.warmup)
    rows.append(latency_row(f"(e) decide() alone, 8-event case touching {len(touched)} documents", ns, s))
    # issue 2's scope: the service holding the Qinzhou measures alone (gx-htz, which
    # also applies to a Qinzhou HTZ enterprise, came with issue 3)
    with tempfile.TemporaryDirectory() as alone:
        shutil.copytree(RULESETS_DIR / "qz-htz", Path(alone) / "qz-htz")
        qz_alone = Decider(Registry.load(Path(alone)))
    gc.freeze()
    ns, s = timed(qz_alone.decide, [case], args.n, args.warmup)
    rows.append(latency_row("(f) decide() alone, 10-event case, only qz-htz registered", ns, s))
    ns, s = timed(plain_qz, [case], args.n, args.warmup)
    rows.append(latency_row("(d) plain Python + Decimal, 10-event case", ns, s))
    plain_median = sorted(ns)[len(ns) // 2]
    ns, s = timed(validator.validate, [payload], args.n, args.warmup)
    rows.append(latency_row("validate() alone, 10-event case (for reference)", ns, s))

    print(f"# bench/decide.py — in-process, one thread\n")
    print(f"- engine: durable_rules {engine_version()} (`service.engine.engine_version()`)")
    print(f"- {environment_line()}")
    print(f"- Decider() built in {compile_s * 1000:,.0f} ms; warm-up {args.warmup:,} calls per row; "
          f"mix seed {args.seed}, {len(mixed):,} distinct cases cycled")
    print(f"- (e) touches {', '.join(sorted(touched))} (a Qinzhou HTZ enterprise with include_drafts: qz-htz and "
          "gx-htz in force, the announced gx-htz revision as a notice; no applicant is in both an HTZ and an ETDZ, "
          "so gx-etdz is not_applicable to it)")
    print(f"- 10-event case: the engine and the hand-written function both grant "
          f"{sum(expected.values()):,} CNY over {len(expected)} amounts (checked before timing)\n")
    print(markdown_table(["measurement", "n", "decisions/s", "median µs", "p90 µs", "p99 µs"], rows))
    print(f"\nEngine overhead on the 10-event case: decide() median is {engine_median / plain_median:,.0f}× "
          f"the plain-Python median.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
