"""Cost of explaining: µs per decision over the golden cases with options.explain off and on.

    .venv/bin/python bench/explain.py [--repeat 5] [--instructions [--root CHECKOUT]]

Every valid golden case (tests/cases/**/*.yaml) is validated once, then decided by
``Decider.decide`` with ``options.explain`` false and true, the whole set ``--repeat``
times each, alternating; printed: the best round's µs per decision, and the ratio. Off,
the engine's actions test one flag (``Evaluation.deriving``) and build nothing; on, they
record what their rules matched and the decision gains ``trace`` and ``derivation``.

``--instructions``: instructions per decision instead (valgrind's callgrind, as
bench/instructions.py counts them: a run deciding the set once less a run deciding it not at
all, divided by the cases), a figure the machine's load does not move; ``--root`` counts
another checkout's code over this one's cases (explain off there: the cost before the
derivation existed).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import copy  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
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


DRIVER = """
import copy, sys
from pathlib import Path
sys.path.insert(0, {root!r})
import service
assert service.__file__.startswith({root!r}), service.__file__
from service.casefiles import load_cases
from service.decide import Decider
from service.validate.request import CaseValidator
decider = Decider()
validator = CaseValidator(decider.vocab, decider.registry)
cases = []
for path in sorted(Path({cases!r}).glob("**/*.yaml")):
    for spec in load_cases(path):
        case = spec.get("case") if isinstance(spec, dict) else None
        if isinstance(case, dict):
            case = copy.deepcopy(case)
            case["options"] = dict(case.get("options") or {{}}, explain={explain!r})
            valid, errors = validator.validate(case)
            if not errors:
                cases.append(valid)
for case in cases[:20]:
    decider.decide(case)
for _ in range({rounds}):
    for case in cases:
        decider.decide(case)
print(len(cases))
"""


def instructions(root: str, explain: bool, workdir: Path) -> tuple[float, int]:
    """(instructions per decision, cases) of one setting: one round less none, under callgrind."""
    counts = []
    for rounds in (0, 1):
        script = workdir / f"drive_{explain}_{rounds}.py"
        script.write_text(DRIVER.format(root=root, cases=str(ROOT / "tests" / "cases"), explain=explain, rounds=rounds))
        out = workdir / f"callgrind_{explain}_{rounds}.out"
        done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, str(script)],
                              capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"), cwd=workdir)
        if done.returncode != 0:
            raise SystemExit(f"callgrind run failed:\n{done.stderr[-2000:]}")
        counts.append((int(re.search(r"Collected : (\d+)", done.stderr).group(1)), int(done.stdout.split()[-1])))
    return (counts[1][0] - counts[0][0]) / counts[1][1], counts[1][1]


def main_instructions(root: str) -> None:
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install valgrind); nothing measured")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("this checkout", str(ROOT), False), ("this checkout", str(ROOT), True)]
        if root:
            rows.insert(0, (root, str(Path(root).resolve()), False))
        print("| code | explain | instructions/decision | cases |\n|---|---|---|---|")
        for name, code, explain in rows:
            per, cases = instructions(code, explain, Path(tmp))
            print(f"| {name} | {'on' if explain else 'off'} | {per / 1e6:.2f} M | {cases} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the whole set, per setting (best one printed)")
    parser.add_argument("--instructions", action="store_true", help="count instructions per decision (callgrind)")
    parser.add_argument("--root", default="", help="with --instructions: also count this checkout's code, explain off")
    args = parser.parse_args(argv)
    if args.instructions:
        main_instructions(args.root)
        return
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
