"""Bearer authentication and roles over HTTP (service/auth has the rules).

Every request is checked before its view runs, and so before its body is read:
an open route (``auth.required_role`` is None) passes; otherwise the token must
be accepted and hold the role. ``flask.g.requested_by`` is the credential's name,
None when the route is open or authentication is off.

Refusals are problem+json with ``WWW-Authenticate: Bearer`` (RFC 6750 §3): a
request without a token gets no error code; a malformed header is a 400
``invalid_request``; a token not accepted a 401 ``invalid_token`` — never why;
a token without the role a 403 ``insufficient_scope`` naming the role needed.
"""
from __future__ import annotations

import os
import re

from flask import Flask, g, request

from ..auth import Authenticator, Refused, required_role
from ..auth.policy import holds
from ..validate.messages import Messages
from .problems import header_lang, problem

EXTENSION = "auth"
REALM = "gx-zones-rules"
B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")  # RFC 6750 §2.1


def register(app: Flask, env=None) -> None:
    """Read the credentials from the environment (None: authentication off) and check every request."""
    app.extensions[EXTENSION] = Authenticator.from_env(os.environ if env is None else env)

    @app.before_request
    def authenticate():
        g.requested_by = None
        auth: Authenticator | None = app.extensions[EXTENSION]
        if auth is None:
            return None
        rule = request.url_rule.rule if request.url_rule is not None else request.path
        needed = required_role(request.method, rule)
        if needed is None:
            return None
        header = request.headers.get("Authorization")
        if header is None:
            return _refusal(401, "auth_required", None)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer":  # another scheme is no bearer credential at all
            return _refusal(401, "auth_required", None)
        if not B64TOKEN.match(token):
            return _refusal(400, "auth_malformed", "invalid_request")
        try:
            credential = auth.authenticate(token)
        except Refused:
            return _refusal(401, "auth_invalid", "invalid_token")
        if not holds(credential.roles, needed):
            return _refusal(403, "auth_forbidden", "insufficient_scope", role=needed)
        g.requested_by = credential.name
        return None


def _refusal(status: int, key: str, error: str | None, role: str | None = None):
    lang = header_lang()
    messages = Messages(lang)
    kind = {400: "invalid-authorization", 401: "unauthorized", 403: "forbidden"}[status]
    response = problem(status, messages(key + "_title"), messages(key, role=role) if role else messages(key),
                       kind=kind, lang=lang)
    challenge = f'Bearer realm="{REALM}"'
    if error is not None:
        challenge += f', error="{error}"'
    if role is not None:
        challenge += f', scope="{role}"'
    response.headers["WWW-Authenticate"] = challenge
    return response
