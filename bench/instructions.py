"""Instructions per decision, counted by valgrind's callgrind: a figure that,
unlike a median in microseconds, does not move with what else the machine does.

    .venv/bin/python bench/instructions.py [--n 200]

Runs the 10-event case under callgrind twice, with 0 and with ``--n`` timed
decisions after the same warm-up, and prints the difference divided by ``--n``
(start-up, imports and compilation cancel out), in total and inside the
durable-rules C core. PYTHONHASHSEED is fixed; two runs on one build agree within 2%.
Needs valgrind (Debian package ``valgrind``).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DRIVER = """
import sys
sys.path.insert(0, {root!r})
from bench.cases import ten_event_case
from service.decide import Decider
from service.validate.request import CaseValidator
from service.rulebook.registry import Registry
alone = {alone!r}
decider = Decider(Registry.load(alone) if alone else None)
case, errors = CaseValidator(decider.vocab, decider.registry).validate(ten_event_case())
assert not errors, errors
for _ in range(20):
    decider.decide(case)
for _ in range({n}):
    decider.decide(case)
"""


def _run(n: int, workdir: Path, alone: str | None) -> tuple[int, int]:
    """(all instructions, instructions in the durable-rules core) of one callgrind run."""
    script = workdir / f"drive_{n}.py"
    script.write_text(DRIVER.format(root=str(ROOT), n=n, alone=alone))
    out = workdir / f"callgrind_{n}.out"
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, str(script)],
                          capture_output=True, text=True, env=env, cwd=workdir)
    if done.returncode != 0:
        raise SystemExit(f"callgrind run failed:\n{done.stderr[-2000:]}")
    total = int(re.search(r"Collected : (\d+)", done.stderr).group(1))
    annotated = subprocess.run(["callgrind_annotate", str(out)], capture_output=True, text=True).stdout
    core = sum(int(m.group(1).replace(",", "")) for m in
               re.finditer(r"^\s*([\d,]+) .*durable_rules_engine", annotated, re.MULTILINE))
    return total, core


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="decisions counted (default 200)")
    parser.add_argument("--alone", metavar="POLICY",
                        help="register only this policy's versions (e.g. qz-htz: the service as issue 2 scoped it)")
    args = parser.parse_args(argv)
    if not shutil.which("valgrind"):
        print("valgrind is not installed (apt-get install valgrind); nothing measured")
        return 1
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
        alone = None
        if args.alone:
            alone = str(Path(tmp) / "rulesets")
            shutil.copytree(ROOT / "rulesets" / args.alone, Path(alone) / args.alone)
        base, timed = pool.map(lambda n: _run(n, Path(tmp), alone), (0, args.n))
    per = (timed[0] - base[0]) / args.n
    core = (timed[1] - base[1]) / args.n
    print("# bench/instructions.py — callgrind, 10-event case, decide() alone\n")
    print(f"- {args.n} decisions after 20 warm-up calls; PYTHONHASHSEED=0"
          + (f"; only {args.alone} registered" if args.alone else "; every ruleset registered") + "\n")
    print("| measurement | instructions per decision |")
    print("|---|---:|")
    print(f"| decide(), all | {per:,.0f} |")
    print(f"| of which in the durable-rules C core (its own functions) | {core:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
