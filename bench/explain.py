"""Cost of explaining: µs per decision over the golden cases with options.explain off and on.

    .venv/bin/python bench/explain.py [--repeat 5]

Every valid golden case (tests/cases/**/*.yaml) is validated once, then decided by
``Decider.decide`` with ``options.explain`` false and true, the whole set ``--repeat``
times each, alternating; printed: the best round's µs per decision, and the ratio. Off,
the engine's actions test one flag (``Evaluation.deriving``) and build nothing; on, they
record what their rules matched and the decision gains ``trace`` and ``derivation``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import copy  # noqa: E402
import time  # noqa: E402

from service.casefiles import load_cases  # noqa: E402
from service.decide import Decider  # noqa: E402
from service.validate.request import CaseValidator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def golden_cases(validator: CaseValidator) -> list[dict]:
    """The validated cases of every golden file, explain off (the refused ones left out)."""
    found = []
    for path in sorted((ROOT / "tests" / "cases").glob("**/*.yaml")):
        for spec in load_cases(path):
            case = spec.get("case") if isinstance(spec, dict) else None
            if not isinstance(case, dict):
                continue
            case = copy.deepcopy(case)
            case.setdefault("options", {})["explain"] = False
            valid, errors = validator.validate(case)
            if not errors:
                found.append(valid)
    return found


def with_explain(cases: list[dict]) -> list[dict]:
    explained = copy.deepcopy(cases)
    for case in explained:
        case["options"] = dict(case.get("options") or {}, explain=True)
    return explained


def one_round(decider: Decider, cases: list[dict]) -> float:
    started = time.perf_counter()
    for case in cases:
        decider.decide(case)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the whole set, per setting (best one printed)")
    args = parser.parse_args(argv)
    decider = Decider()
    validator = CaseValidator(decider.vocab, decider.registry)
    off = golden_cases(validator)
    on = with_explain(off)
    for case in off[:20] + on[:20]:  # warm: the compiled rulesets' first sessions, the render caches
        decider.decide(case)
    best = {"off": float("inf"), "on": float("inf")}
    for _ in range(args.repeat):
        best["off"] = min(best["off"], one_round(decider, off))
        best["on"] = min(best["on"], one_round(decider, on))
    steps = sum(len(entry.get("steps", ())) for case in on[:200]
                for part in decider.decide(case)["derivation"].values() for entry in part)
    per = {k: v / len(off) * 1e6 for k, v in best.items()}
    print(f"| golden cases | explain off µs/decision | explain on µs/decision | on/off |\n|---|---|---|---|\n"
          f"| {len(off)} | {per['off']:.0f} | {per['on']:.0f} | {per['on'] / per['off']:.2f} |")
    print(f"\n(best of {args.repeat} rounds; {steps} derivation steps in the first {min(200, len(on))} explained decisions)")


if __name__ == "__main__":
    main()
