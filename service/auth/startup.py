"""The start-up rule: an open service (no credentials configured) listens on a
loopback address only, unless ``RAC_ALLOW_OPEN=1`` says the operator means it."""
from __future__ import annotations

import ipaddress
import logging
import re

from .config import Authenticator
from .errors import AuthConfigError

DEFAULT_BIND = "127.0.0.1:8080"  # gunicorn.conf.py's
CREDENTIAL_SETTINGS = "RAC_API_KEYS_FILE, RAC_API_KEYS, RAC_JWT_PUBLIC_KEY or RAC_JWKS_FILE"


class StartRefused(Exception):
    """The service must not start as configured; the message says what to set."""


def check_start(env) -> list[tuple[int, str]]:
    """The (logging level, line) notices to log at start-up; StartRefused when the
    configuration must not run: credentials that cannot be used, or an open service
    on an address others can reach."""
    try:
        auth = Authenticator.from_env(env)
    except AuthConfigError as error:
        raise StartRefused(f"authentication misconfigured: {error}") from None
    if auth is not None:
        return [(logging.INFO, auth.describe())]
    bind = env.get("BIND") or DEFAULT_BIND
    exposed = [address for address in bind_addresses(bind) if not is_loopback(address)]
    if exposed and env.get("RAC_ALLOW_OPEN") != "1":
        raise StartRefused(
            f"refusing to serve without authentication on {', '.join(exposed)} (BIND={bind}): anyone who can reach it "
            f"could submit and read decisions. Configure credentials ({CREDENTIAL_SETTINGS}), bind to 127.0.0.1, "
            "or set RAC_ALLOW_OPEN=1 if an open service is intended")
    why = "RAC_ALLOW_OPEN=1" if exposed else "loopback only"
    return [(logging.WARNING, f"authentication off: every endpoint is open to whoever reaches BIND={bind} ({why}); "
                              f"configure {CREDENTIAL_SETTINGS} to require credentials")]


def bind_addresses(bind: str) -> list[str]:
    """The hosts of a gunicorn bind setting (several may be separated by commas or spaces):
    ``host:port``, ``[v6]:port``, ``host``, ``unix:PATH`` (local: kept as ``unix:``), ``fd://N``."""
    hosts = []
    for item in filter(None, re.split(r"[,\s]+", bind)):
        if item.startswith("unix:"):
            hosts.append("unix:")
        elif item.startswith("fd://"):
            hosts.append(item)  # an inherited socket: where it listens is unknown, so not loopback
        elif item.startswith("["):
            hosts.append(item[1:item.index("]")] if "]" in item else item)
        elif item.count(":") == 1:
            hosts.append(item.split(":")[0])  # gunicorn reads an empty host as every interface
        else:
            hosts.append(item)
    return hosts


def is_loopback(host: str) -> bool:
    if host in ("localhost", "unix:"):  # a unix socket is reached only through the file system
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
