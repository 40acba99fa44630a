"""``python -m service checkpoint``: the checkpoint key and checkpoints, for an operator.

    checkpoint --generate-key FILE   write a new Ed25519 key (note private-key form) and print its verifier key
    checkpoint --public-key          print the verifier key of RAC_CHECKPOINT_KEY (what auditors hold)
    checkpoint [--issue]             print the latest checkpoint (--issue: sign one of the whole log now)
"""
from __future__ import annotations

import base64
import os
import sys
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("checkpoint", help="the signed checkpoints: key, latest, issue one now")
    from .replay import add_log_arguments

    add_log_arguments(parser)
    parser.add_argument("--generate-key", type=Path, metavar="FILE", default=None,
                        help="write a new Ed25519 signing key to FILE (must not exist) and print its verifier key")
    parser.add_argument("--name", default=None, help="the generated key's name (default: RAC_CHECKPOINT_ORIGIN)")
    parser.add_argument("--public-key", action="store_true", help="print the verifier key of RAC_CHECKPOINT_KEY")
    parser.add_argument("--issue", action="store_true", help="sign a checkpoint of the whole log now and print it")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..log import LogError
    from ..log.checkpoints import DEFAULT_ORIGIN, Checkpointer, TreeStore, settings_from_env

    if args.generate_key is not None:
        return generate(args.generate_key, args.name or os.environ.get("RAC_CHECKPOINT_ORIGIN") or DEFAULT_ORIGIN)
    try:
        settings = settings_from_env()
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if args.public_key:
        if settings is None:
            print("RAC_CHECKPOINT_KEY is not set", file=sys.stderr)
            return 2
        print(settings.verifier.text())
        return 0
    from ..log import from_env, open_log

    try:
        read_only = not args.issue
        decision_log = open_log(args.database, read_only=read_only) if args.database else from_env(read_only=read_only)
        if decision_log is None:
            print("the decision log is off (RAC_DECISION_LOG=off); pass --database", file=sys.stderr)
            return 2
        if args.issue:
            if settings is None:
                print("RAC_CHECKPOINT_KEY is not set", file=sys.stderr)
                return 2
            latest = Checkpointer(decision_log, settings).issue(force=True)
        else:
            latest = TreeStore(decision_log).latest()
    except (ValueError, LogError) as error:
        print(error, file=sys.stderr)
        return 2
    if latest is None:
        print("no checkpoint yet", file=sys.stderr)
        return 1
    sys.stdout.write(latest.note)
    return 0


def generate(path: Path, name: str) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..log.note import ALG_ED25519, Signer

    if path.exists():
        print(f"{path} exists: not overwritten", file=sys.stderr)
        return 2
    private = Ed25519PrivateKey.generate()
    signer = Signer(name, private)
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    text = f"PRIVATE+KEY+{name}+{signer.verifier.hash.hex()}+{base64.b64encode(ALG_ED25519 + seed).decode()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    print(signer.verifier.text())
    return 0
