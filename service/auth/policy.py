"""Which role a request needs. Default-deny: a route added later, by any module,
needs a credential unless it is named open here."""
from __future__ import annotations

SUBMITTER = "submitter"
AUDITOR = "auditor"
ADMIN = "admin"
# a scraper's token reads the counters and nothing else: /metrics holds no case data, but a
# token that could also read decisions would be a leak waiting for its scraper's config
MONITOR = "monitor"
ROLES = (SUBMITTER, AUDITOR, ADMIN, MONITOR)
MONITOR_PATHS = frozenset({"/metrics"})

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json"})
LAW_PREFIX = "/v1/rulesets"  # the published law: anyone may read what the service decides by
SUBMIT_PATHS = frozenset({"/v1/decisions", "/v1/decisions:batch"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that only look at what is logged (replay, explain, verify, proofs): an auditor's
AUDIT_POST_PREFIXES = ("/v1/decisions/", "/v1/log/", "/ui/")  # /ui/: replay, impact diff of an upload


def required_role(method: str, path: str) -> str | None:
    """The role ``method path`` needs (``admin`` holds every role), or None when it is open.

    ``path`` is the matched route rule (``/v1/decisions/<decision_id>``) when there is
    one, so that the decision follows the route the request reaches."""
    if path in OPEN_PATHS:
        return None
    if method in READ_METHODS and (path == LAW_PREFIX or path.startswith(LAW_PREFIX + "/")):
        return None
    if method == "POST" and path in SUBMIT_PATHS:
        return SUBMITTER
    if method in READ_METHODS and path in MONITOR_PATHS:
        return MONITOR
    if method in READ_METHODS:
        return AUDITOR
    if method == "POST" and path.startswith(AUDIT_POST_PREFIXES):
        return AUDITOR
    return ADMIN


def holds(roles, needed: str) -> bool:
    return needed in roles or ADMIN in roles
