"""``python -m service coverage``: print the coverage table (Markdown); exit 1 if an article is unaccounted for."""
from __future__ import annotations

import sys


def run(args) -> int:
    from ..coverage import markdown, missing
    from ..rulebook.registry import Registry

    registry = Registry.load(args.rulesets, compile_rules=False)
    sys.stdout.write(markdown(registry))
    gaps = missing(registry)
    for gap in gaps:
        print(f"{gap['policy']}@{gap['version']}: article {gap['article']} "
              + ("is in no measure or directive" if gap["in_source"] else "is not an article of the source"), file=sys.stderr)
    return 1 if gaps else 0
