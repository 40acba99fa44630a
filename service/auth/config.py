"""The configured credentials, and the one question asked of them: who is this token?"""
from __future__ import annotations

from dataclasses import dataclass

from .apikeys import PREFIX, KeyStore
from .errors import AuthConfigError
from .jwts import JwtVerifier
from .policy import ROLES

__all__ = ["AuthConfigError", "Authenticator", "Credential", "Refused"]


@dataclass(frozen=True)
class Credential:
    name: str  # what the log records as requested_by
    roles: frozenset
    kind: str  # "api-key" or "jwt"


class Refused(Exception):
    """A bearer token that is not accepted; the caller learns no more than that."""


class Authenticator:
    def __init__(self, keys: KeyStore | None = None, jwt: JwtVerifier | None = None):
        self.keys, self.jwt = keys, jwt

    @classmethod
    def from_env(cls, env) -> Authenticator | None:
        """The credentials the environment configures; None when it configures none (the service is open)."""
        keys, jwt = KeyStore.from_env(env, ROLES), JwtVerifier.from_env(env)
        if keys is None and jwt is None:
            return None
        return cls(keys, jwt)

    def describe(self) -> str:
        parts = []
        if self.keys is not None:
            parts.append(f"{len(self.keys)} API key(s)")
        if self.jwt is not None:
            parts.append(f"JWTs of {self.jwt.issuer} for {self.jwt.audience} ({self.jwt.source})")
        return "authentication on: " + " and ".join(parts)

    def authenticate(self, token: str) -> Credential:
        if token.startswith(PREFIX):
            entry = self.keys.find(token) if self.keys is not None else None
            if entry is None:
                raise Refused()
            return Credential(entry["name"], entry["roles"], "api-key")
        verified = self.jwt.verify(token) if self.jwt is not None else None
        if verified is None:
            raise Refused()
        subject, roles = verified
        return Credential(subject, frozenset(r for r in roles if r in ROLES), "jwt")
