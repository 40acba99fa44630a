"""JWTs signed by an identity provider, verified with PyJWT against a public key
(``RAC_JWT_PUBLIC_KEY``, PEM) or a JWKS file (``RAC_JWKS_FILE``), issuer, audience
and expiry required and checked. Only asymmetric algorithms: the service holds
no secret that could mint a token, and a public key can never be mistaken for an
HMAC secret."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from .errors import AuthConfigError

log = logging.getLogger("service.auth")

DEFAULT_ALGORITHMS = "RS256,PS256,ES256,EdDSA"
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES256K", "ES384", "ES512",
                        "EdDSA"})
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


class JwtVerifier:
    def __init__(self, *, issuer: str, audience: str, algorithms: list[str], roles_claim: str = "roles",
                 leeway: int = 30, public_key=None, jwks=None, source: str = ""):
        self.issuer, self.audience, self.algorithms = issuer, audience, algorithms
        self.roles_claim, self.leeway, self.source = roles_claim, leeway, source
        self._public_key, self._jwks = public_key, jwks

    @classmethod
    def from_env(cls, env) -> JwtVerifier | None:
        key_file, jwks_file = env.get("RAC_JWT_PUBLIC_KEY"), env.get("RAC_JWKS_FILE")
        if not key_file and not jwks_file:
            return None
        if key_file and jwks_file:
            raise AuthConfigError("set RAC_JWT_PUBLIC_KEY or RAC_JWKS_FILE, not both")
        jwt = _jwt_module()
        issuer, audience = env.get("RAC_JWT_ISSUER"), env.get("RAC_JWT_AUDIENCE")
        if not issuer or not audience:  # a token of any issuer, or meant for any service, must not pass
            raise AuthConfigError("JWT verification needs RAC_JWT_ISSUER and RAC_JWT_AUDIENCE")
        algorithms = [a.strip() for a in env.get("RAC_JWT_ALGORITHMS", DEFAULT_ALGORITHMS).split(",") if a.strip()]
        refused = sorted(set(algorithms) - ASYMMETRIC)
        if refused or not algorithms:
            raise AuthConfigError(f"RAC_JWT_ALGORITHMS: {', '.join(refused) or 'none'} not allowed; "
                                  f"asymmetric only: {', '.join(sorted(ASYMMETRIC))}")
        try:
            leeway = int(env.get("RAC_JWT_LEEWAY", "30"))
        except ValueError:
            raise AuthConfigError("RAC_JWT_LEEWAY: a whole number of seconds") from None
        common = dict(issuer=issuer, audience=audience, algorithms=algorithms,
                      roles_claim=env.get("RAC_JWT_ROLES_CLAIM") or "roles", leeway=leeway)
        path = Path(key_file or jwks_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise AuthConfigError(f"cannot read {path}: {error.strerror}") from None
        if key_file:
            return cls(public_key=_load_public_key(text, path), source=f"RAC_JWT_PUBLIC_KEY {path}", **common)
        return cls(jwks=_load_jwks(jwt, text, path), source=f"RAC_JWKS_FILE {path}", **common)

    def verify(self, token: str) -> tuple[str, list] | None:
        """(subject, roles) of a token whose signature, issuer, audience and expiry hold; else None.
        Why a token was refused is logged here, never told to the caller (RFC 6750)."""
        jwt = _jwt_module()
        try:
            key, algorithms = self._key_for(jwt, token)
            claims = jwt.decode(token, key, algorithms=algorithms, audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": REQUIRED_CLAIMS})
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as error:
            log.info("bearer JWT refused: %s", type(error).__name__)
            return None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            log.info("bearer JWT refused: sub is not a string")
            return None
        return subject, _roles(claims, self.roles_claim)

    def _key_for(self, jwt, token: str):
        if self._jwks is None:
            return self._public_key, self.algorithms
        kid = jwt.get_unverified_header(token).get("kid")
        keys = self._jwks
        matching = [k for k in keys if k[0] == kid] if kid is not None else (keys if len(keys) == 1 else [])
        if not matching:
            raise KeyError("no JWKS key for kid")
        _, alg, key = matching[0]
        if alg is None:
            return key, self.algorithms
        return key, [alg] if alg in self.algorithms else []  # a key that names its algorithm is used with it alone


def _roles(claims: dict, claim: str) -> list:
    """The roles claim, a list or a space-separated string; a dotted name reaches into
    an object (Keycloak's ``realm_access.roles``)."""
    value = claims
    for part in claim.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [role for role in value if isinstance(role, str)]
    return []


def _load_jwks(jwt, text: str, path: Path) -> list[tuple]:
    """(kid, alg or None, key) of each key of a JWKS document."""
    try:
        data = json.loads(text)
        keys = [(item.get("kid"), item.get("alg"), jwt.PyJWK(item).key) for item in data["keys"]]
    except (ValueError, TypeError, KeyError, AttributeError, jwt.PyJWTError) as error:
        raise AuthConfigError(f"RAC_JWKS_FILE {path}: not a usable JWKS: {error}") from None
    if not keys:
        raise AuthConfigError(f"RAC_JWKS_FILE {path}: no keys")
    return keys


def _load_public_key(text: str, path: Path):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        return load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise AuthConfigError(f"RAC_JWT_PUBLIC_KEY {path}: not a PEM public key: {error}") from None


def _jwt_module():
    try:
        import jwt
        import cryptography  # noqa: F401  (PyJWT's asymmetric algorithms need it)
    except ImportError:
        raise AuthConfigError("JWT verification needs PyJWT[crypto] installed (pyproject.toml)") from None
    return jwt
