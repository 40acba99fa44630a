#!/usr/bin/env python3
"""The image's HEALTHCHECK: exit 0 while GET /readyz at BIND's port answers 200, else 1.

Readiness, not liveness: unhealthy while decisions cannot be logged (the log
unwritable, its lock held elsewhere). A wildcard host (0.0.0.0, [::], or none)
is reached on loopback. Standard library only, so that it runs in the final
image as it is, and on the host in the tests.
"""
import os
import sys
import urllib.error
import urllib.request

LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


def readyz_url(bind: str) -> str:
    host, _, port = bind.rpartition(":")
    return f"http://{LOOPBACK.get(host, host)}:{port}/readyz"


def main() -> int:
    url = readyz_url(os.environ.get("BIND", "127.0.0.1:8080"))
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return 0 if answer.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:  # a 503 is an HTTPError, an URLError
        print(f"not ready: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
