"""``python -m service apikey --name NAME --roles submitter[,auditor]``: make an API key.

Prints the key once, on stderr, for its holder, and on stdout the entry to add to
the key store (RAC_API_KEYS_FILE): name, sha256 of the key, roles. The key itself
is kept nowhere."""
from __future__ import annotations

import json
import sys

import yaml


def add_parser(sub) -> None:
    parser = sub.add_parser("apikey", help="make an API key; print the key (stderr) and its store entry (stdout)")
    parser.add_argument("--name", required=True, help="who holds it: recorded as requested_by")
    parser.add_argument("--roles", required=True, help="comma-separated: submitter, auditor, admin")
    parser.add_argument("--json", action="store_true", help="print the entry as JSON instead of YAML")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..auth import ROLES
    from ..auth.apikeys import hash_entry, make_key

    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    unknown = sorted(set(roles) - set(ROLES))
    if not args.name.strip():
        print("--name: who holds the key", file=sys.stderr)
        return 2
    if not roles or unknown:
        print(f"--roles: one or more of {', '.join(ROLES)}, comma-separated"
              + (f"; not {', '.join(unknown)}" if unknown else ""), file=sys.stderr)
        return 2
    key = make_key()
    entry = hash_entry(args.name.strip(), roles, key)
    print(f"API key for {entry['name']} (shown once; give it to its holder, store only the entry): {key}",
          file=sys.stderr)
    if args.json:
        print(json.dumps(entry, ensure_ascii=False))
    else:
        sys.stdout.write(yaml.safe_dump([entry], allow_unicode=True, sort_keys=False))
    return 0
