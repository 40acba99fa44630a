"""``python -m service openapi [-o FILE]``: the OpenAPI document served at GET /openapi.json.

The checked-in copy is refreshed with ``python -m service openapi > schemas/openapi.json``.
"""
from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("openapi", help="print the OpenAPI document (python -m service openapi > schemas/openapi.json)")
    parser.add_argument("-o", "--output", type=Path, default=None, help="write to FILE instead of stdout")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..http.openapi import build_document, render

    data = render(build_document()).encode("utf-8")
    if args.output:
        args.output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0
