"""``python -m service batch FILE.jsonl``: decide JSON lines of requests offline.

One output line per non-blank input line, in order: the decision, or the
problem+json body ``POST /v1/decisions`` would answer (``status`` tells which).
Exit 0 when every line was decided, 1 when any line failed.
"""
from __future__ import annotations

import json
import sys

from .inputs import read_text, rulesets_dir
from .progress import Progress


def add_parser(sub) -> None:
    parser = sub.add_parser("batch", help="decide JSON lines of requests; one decision or problem per line on stdout")
    parser.add_argument("file", help="JSON lines (one request per line), or - for stdin")
    parser.add_argument("--rulesets", type=rulesets_dir, metavar="DIR", default=None, help="ruleset directory (default: the service's)")
    parser.set_defaults(run=run)


def read_lines(file: str):
    """(line number, parsed request or None, parse error or None) for each non-blank line."""
    for number, line in numbered_lines(read_text(file)):
        try:
            yield number, json.loads(line), None
        except ValueError as error:
            yield number, None, str(error)


def numbered_lines(text: str) -> list[tuple[int, str]]:
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def run(args) -> int:
    from ..decide import Decider
    from ..http.batch_routes import decide_payload, problem_body
    from ..rulebook.registry import Registry
    from ..validate.request import CaseValidator

    lines = list(read_lines(args.file))  # the file read (or refused) before the rules are compiled
    decider = Decider(Registry.load(args.rulesets) if args.rulesets else None)
    validator = CaseValidator(decider.vocab, decider.registry)
    failed = 0
    out = sys.stdout
    progress = Progress("batch", len(lines))
    for number, payload, error in lines:
        if error is not None:
            status, body = 400, problem_body(400, "Malformed JSON", f"line {number} is not valid JSON: {error}",
                                             kind="malformed-json")
        else:
            status, body = decide_payload(decider, validator, payload)
        failed += status != 200
        out.write(json.dumps(body, ensure_ascii=False) + "\n")
        progress.advance()
    progress.close()
    out.flush()
    return 1 if failed else 0
