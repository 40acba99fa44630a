"""Authentication and roles (issue 11 §1): who may ask and who may read.

API-key tests always run; JWT tests need PyJWT[crypto] (pyproject.toml) and are
skipped where it is not installed."""
from __future__ import annotations

import json
import logging
import time
import uuid

import pytest
import yaml
from flask import g

from service.auth import AuthConfigError
from service.auth.apikeys import KeyStore, hash_entry, key_hash, make_key
from service.auth.startup import StartRefused, bind_addresses, check_start
from service.cli import main
from service.http.app import create_app

from tests.helpers import qz_case

KEYS = {"intake": make_key(), "audit-office": make_key(), "ops": make_key(), "scraper": make_key()}
ROLES = {"intake": ["submitter"], "audit-office": ["auditor"], "ops": ["admin"], "scraper": ["monitor"]}
CREDENTIAL_VARS = ("RAC_API_KEYS_FILE", "RAC_API_KEYS", "RAC_JWT_PUBLIC_KEY", "RAC_JWKS_FILE", "RAC_JWT_ISSUER",
                   "RAC_JWT_AUDIENCE", "RAC_JWT_ROLES_CLAIM", "RAC_JWT_ALGORITHMS", "RAC_JWT_LEEWAY")
ISSUER, AUDIENCE = "https://idp.example/realms/gx", "gx-zones-rules"


def _case(case_id="AUTH-1"):
    return qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True}],
                   case_id=case_id)


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _app_with(decider, **env):
    with pytest.MonkeyPatch.context() as patch:
        for name in CREDENTIAL_VARS:
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, str(value))
        return create_app(decider)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "api-keys.yaml"
    path.write_text(yaml.safe_dump({"keys": [hash_entry(name, ROLES[name], key) for name, key in KEYS.items()]}),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def app(decider, key_file):
    return _app_with(decider, RAC_API_KEYS_FILE=key_file)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def logged_id(client):
    response = client.post("/v1/decisions", json=_case(), headers=_bearer(KEYS["intake"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["decision_id"]


def _assert_refused(response, status, error=None, scope=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    challenge = 'Bearer realm="gx-zones-rules"' + (f', error="{error}"' if error else "") + \
        (f', scope="{scope}"' if scope else "")
    assert response.headers["WWW-Authenticate"] == challenge
    body = response.get_json()
    assert body["status"] == status and body["type"].startswith("https://")


# -- the bar: no credential, wrong role --

def test_without_a_credential_deciding_and_reading_are_401(client, logged_id):
    _assert_refused(client.post("/v1/decisions", json=_case()), 401)
    _assert_refused(client.get(f"/v1/decisions/{logged_id}"), 401)
    _assert_refused(client.post("/v1/decisions:batch", json={"cases": [_case()]}), 401)
    _assert_refused(client.post(f"/v1/decisions/{logged_id}/replay"), 401)


def test_a_submitter_decides_but_cannot_read_decisions(client, logged_id):
    token = _bearer(KEYS["intake"])
    assert client.post("/v1/decisions:batch", json={"cases": [_case("AUTH-B")]}, headers=token).status_code == 200
    _assert_refused(client.get(f"/v1/decisions/{logged_id}", headers=token), 403, "insufficient_scope", "auditor")
    _assert_refused(client.post(f"/v1/decisions/{logged_id}/replay", headers=token), 403, "insufficient_scope", "auditor")


def test_an_auditor_reads_and_replays_but_cannot_submit(client, logged_id):
    token = _bearer(KEYS["audit-office"])
    read = client.get(f"/v1/decisions/{logged_id}", headers=token)
    assert read.status_code == 200 and read.get_json()["decision_id"] == logged_id
    assert client.post(f"/v1/decisions/{logged_id}/replay", headers=token).get_json()["status"] == "identical"
    _assert_refused(client.post("/v1/decisions", json=_case(), headers=token), 403, "insufficient_scope", "submitter")
    _assert_refused(client.post("/v1/decisions:batch", json={"cases": [_case()]}, headers=token), 403,
                    "insufficient_scope", "submitter")


def test_a_scrapers_token_reads_the_metrics_and_nothing_else(client, logged_id):
    token = _bearer(KEYS["scraper"])
    assert client.get("/metrics", headers=token).status_code == 200  # prometheus-client is a dependency
    _assert_refused(client.get("/metrics"), 401)
    _assert_refused(client.get("/metrics", headers=_bearer(KEYS["audit-office"])), 403, "insufficient_scope", "monitor")
    _assert_refused(client.get(f"/v1/decisions/{logged_id}", headers=token), 403, "insufficient_scope", "auditor")
    _assert_refused(client.post("/v1/decisions", json=_case(), headers=token), 403, "insufficient_scope", "submitter")


def test_an_admin_does_both(client):
    token = _bearer(KEYS["ops"])
    decided = client.post("/v1/decisions", json=_case("AUTH-ADMIN"), headers=token)
    assert decided.status_code == 200
    assert client.get(f"/v1/decisions/{decided.get_json()['decision_id']}", headers=token).status_code == 200


def test_a_refused_token_is_told_invalid_token_and_nothing_more(client):
    wrong = make_key()
    response = client.post("/v1/decisions", json=_case(), headers=_bearer(wrong))
    _assert_refused(response, 401, "invalid_token")
    text = response.get_data(as_text=True)
    assert wrong not in text and "intake" not in text
    _assert_refused(client.get(f"/v1/decisions/{uuid.uuid4()}", headers=_bearer("not-a-key")), 401, "invalid_token")


def test_a_malformed_or_foreign_authorization_header(client):
    _assert_refused(client.post("/v1/decisions", json=_case(), headers={"Authorization": "Bearer"}), 400,
                    "invalid_request")
    _assert_refused(client.post("/v1/decisions", json=_case(), headers={"Authorization": "Bearer a b"}), 400,
                    "invalid_request")
    # another scheme is no bearer credential: a 401 without an error code (RFC 6750 §3.1)
    _assert_refused(client.post("/v1/decisions", json=_case(), headers={"Authorization": "Basic aW50YWtlOng="}), 401)


def test_refusals_speak_the_requested_language(client):
    en = client.get(f"/v1/decisions/{uuid.uuid4()}", headers={"Accept-Language": "en"})
    assert en.headers["Content-Language"] == "en" and en.get_json()["title"] == "Authentication required"
    zh = client.get(f"/v1/decisions/{uuid.uuid4()}")
    assert zh.headers["Content-Language"] == "zh" and zh.get_json()["title"] == "需要身份凭证"
    forbidden = client.post("/v1/decisions", json=_case(), headers={**_bearer(KEYS["audit-office"]),
                                                                    "Accept-Language": "en"})
    assert forbidden.get_json()["detail"] == "this request needs the role submitter"


def test_health_readiness_openapi_and_the_published_law_stay_open(client):
    for path in ("/healthz", "/readyz", "/openapi.json", "/v1/rulesets", "/v1/rulesets/qz-htz/versions",
                 "/v1/rulesets/qz-htz/versions/2021-12-30"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        assert "WWW-Authenticate" not in response.headers


def test_an_address_no_route_names_is_not_open(client):
    # default-deny: a route added later needs a credential unless the policy opens it
    _assert_refused(client.get("/v1/log/anything"), 401)
    _assert_refused(client.delete("/v1/rulesets"), 401)


def test_requested_by_is_the_credentials_name(app, decider):
    with app.test_request_context("/v1/decisions", method="POST", headers=_bearer(KEYS["intake"])):
        assert app.preprocess_request() is None
        assert g.requested_by == "intake"
    with app.test_request_context("/v1/rulesets", headers=_bearer(KEYS["intake"])):
        app.preprocess_request()
        assert g.requested_by is None  # an open route asks nobody's name
    open_app = _app_with(decider)
    with open_app.test_request_context("/v1/decisions", method="POST"):
        assert open_app.preprocess_request() is None
        assert g.requested_by is None


def test_the_existing_behaviour_with_auth_off(decider):
    client = _app_with(decider).test_client()
    decided = client.post("/v1/decisions", json=_case("AUTH-OFF"))
    assert decided.status_code == 200
    assert client.get(f"/v1/decisions/{decided.get_json()['decision_id']}").status_code == 200


# -- the key store --

def test_api_keys_are_stored_hashed(key_file):
    text = key_file.read_text(encoding="utf-8")
    for name, key in KEYS.items():
        assert key not in text and key[len("rac_"):] not in text
        assert key_hash(key) in text and name in text


def test_a_key_store_holding_a_plain_key_or_an_unknown_role_is_refused(tmp_path):
    key = make_key()
    for entry, fault in (({"name": "x", "key": key, "roles": ["admin"]}, "plain key"),
                         ({"name": "x", "sha256": key_hash(key), "roles": ["auditer"]}, "unknown role"),
                         ({"name": "x", "sha256": "abc", "roles": ["admin"]}, "64 lowercase hex"),
                         ({"name": "", "sha256": key_hash(key), "roles": ["admin"]}, "name")):
        with pytest.raises(AuthConfigError, match=fault):
            KeyStore.from_env({"RAC_API_KEYS": json.dumps([entry])}, ("submitter", "auditor", "admin"))


def test_a_key_store_configured_but_empty_does_not_leave_the_service_open(tmp_path):
    empty = tmp_path / "keys.yaml"
    empty.write_text("keys: []\n", encoding="utf-8")
    with pytest.raises(StartRefused, match="no keys"):
        check_start({"RAC_API_KEYS_FILE": str(empty)})


def test_keys_from_the_environment(decider):
    key = make_key()
    client = _app_with(decider, RAC_API_KEYS=json.dumps([hash_entry("portal", ["submitter"], key)])).test_client()
    assert client.post("/v1/decisions", json=_case(), headers=_bearer(key)).status_code == 200
    _assert_refused(client.post("/v1/decisions", json=_case()), 401)


def test_the_apikey_command_prints_the_key_once_and_its_hash_entry(capsys):
    assert main(["apikey", "--name", "county-portal", "--roles", "submitter,auditor"]) == 0
    out, err = capsys.readouterr()
    key = err.strip().rsplit(" ", 1)[-1]
    assert key.startswith("rac_") and len(key) > 40 and key not in out
    [entry] = yaml.safe_load(out)
    assert entry == {"name": "county-portal", "sha256": key_hash(key), "roles": ["submitter", "auditor"]}
    assert main(["apikey", "--name", "x", "--roles", "superuser"]) == 2


# -- the start-up rule --

def test_an_open_service_on_loopback_starts_and_says_so():
    for bind in (None, "127.0.0.1:8080", "localhost:9000", "[::1]:8080", "unix:/run/rac.sock"):
        env = {} if bind is None else {"BIND": bind}
        [(level, line)] = check_start(env)
        assert level == logging.WARNING and "authentication off" in line


def test_an_open_service_elsewhere_refuses_to_start_unless_intended():
    for bind in ("0.0.0.0:8080", "[::]:8080", ":8080", "10.0.0.5:8080", "fd://3", "127.0.0.1:8080,0.0.0.0:8081"):
        with pytest.raises(StartRefused, match="RAC_ALLOW_OPEN=1"):
            check_start({"BIND": bind})
    [(level, line)] = check_start({"BIND": "0.0.0.0:8080", "RAC_ALLOW_OPEN": "1"})
    assert level == logging.WARNING and "RAC_ALLOW_OPEN=1" in line
    with pytest.raises(StartRefused):
        check_start({"BIND": "0.0.0.0:8080", "RAC_ALLOW_OPEN": "yes"})  # only the explicit 1


def test_with_credentials_any_address_starts(key_file):
    [(level, line)] = check_start({"BIND": "0.0.0.0:8080", "RAC_API_KEYS_FILE": str(key_file)})
    assert level == logging.INFO and "4 API key(s)" in line


def test_unusable_credentials_refuse_to_start(tmp_path):
    with pytest.raises(StartRefused, match="cannot read"):
        check_start({"RAC_API_KEYS_FILE": str(tmp_path / "missing.yaml")})
    with pytest.raises(StartRefused, match="RAC_JWT_PUBLIC_KEY or RAC_JWKS_FILE, not both"):
        check_start({"RAC_JWT_PUBLIC_KEY": "a", "RAC_JWKS_FILE": "b"})


def test_bind_addresses():
    assert bind_addresses("[::1]:8080 0.0.0.0:1, unix:/x") == ["::1", "0.0.0.0", "unix:"]


# -- OpenAPI --

def test_the_document_says_which_operations_need_which_role(client):
    doc = client.get("/openapi.json").get_json()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {**doc["components"]["securitySchemes"]["bearerAuth"],
                                                                  "type": "http", "scheme": "bearer"}
    decide, read = doc["paths"]["/v1/decisions"]["post"], doc["paths"]["/v1/decisions/{decision_id}"]["get"]
    assert decide["security"] == [{"bearerAuth": []}] and decide["x-roles"] == ["admin", "submitter"]
    assert read["x-roles"] == ["admin", "auditor"]
    assert {"401", "403"} <= set(decide["responses"]) and {"401", "403"} <= set(read["responses"])
    for path in ("/healthz", "/readyz", "/openapi.json", "/v1/rulesets"):
        assert doc["paths"][path]["get"]["security"] == [] and "401" not in doc["paths"][path]["get"]["responses"]


# -- JWTs (PyJWT[crypto]) --

@pytest.fixture(scope="module")
def signing_key():
    pytest.importorskip("jwt")
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem(private_key) -> str:
    from cryptography.hazmat.primitives import serialization

    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _token(key, algorithm="ES256", headers=None, **overrides):
    import jwt

    claims = {"sub": "wei.zhang", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300,
              "roles": ["auditor"]}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm, headers=headers)


@pytest.fixture(scope="module")
def jwt_app(decider, signing_key, tmp_path_factory):
    pem = tmp_path_factory.mktemp("jwt") / "idp.pem"
    pem.write_text(_pem(signing_key), encoding="utf-8")
    return _app_with(decider, RAC_JWT_PUBLIC_KEY=pem, RAC_JWT_ISSUER=ISSUER, RAC_JWT_AUDIENCE=AUDIENCE)


def test_a_valid_jwt_carries_its_roles_and_its_subject(jwt_app, signing_key):
    client = jwt_app.test_client()
    auditor = _bearer(_token(signing_key))
    assert client.get(f"/v1/decisions/{uuid.uuid4()}", headers=auditor).status_code == 404  # past auth: not logged
    _assert_refused(client.post("/v1/decisions", json=_case(), headers=auditor), 403, "insufficient_scope", "submitter")
    submitter = _bearer(_token(signing_key, roles="submitter"))  # a space-separated string is read too
    assert client.post("/v1/decisions", json=_case(), headers=submitter).status_code == 200
    with jwt_app.test_request_context("/v1/decisions", method="POST", headers=submitter):
        jwt_app.preprocess_request()
        assert g.requested_by == "wei.zhang"


def test_a_wrong_expired_foreign_or_unsigned_jwt_is_401(jwt_app, signing_key):
    from cryptography.hazmat.primitives.asymmetric import ec

    client = jwt_app.test_client()
    other_key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    refused = {
        "expired": _token(signing_key, exp=now - 3600),
        "no expiry": _token(signing_key, exp=None),
        "wrong audience": _token(signing_key, aud="another-service"),
        "wrong issuer": _token(signing_key, iss="https://evil.example"),
        "no issuer": _token(signing_key, iss=None),
        "other key": _token(other_key),
        "not yet valid": _token(signing_key, nbf=now + 3600),
        "unsigned": _token(None, algorithm="none"),
        "HMAC with the public key as secret": _hs256_with(_pem(signing_key)),
        "tampered": _tamper(_token(signing_key, roles=["auditor"])),
    }
    for why, token in refused.items():
        response = client.get(f"/v1/decisions/{uuid.uuid4()}", headers=_bearer(token))
        assert response.status_code == 401, why
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="gx-zones-rules", error="invalid_token"', why


def _hs256_with(secret: str) -> str:
    """The classic algorithm confusion, made by hand (PyJWT refuses to sign it)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300,
                           "roles": ["admin"]}).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def _tamper(token: str) -> str:
    import base64

    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["roles"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def test_a_jwks_file_and_a_nested_roles_claim(signing_key, tmp_path):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from service.auth.jwts import JwtVerifier

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [dict(jwk, kid="k1", alg="RS256", use="sig")]}), encoding="utf-8")
    verifier = JwtVerifier.from_env({"RAC_JWKS_FILE": str(jwks), "RAC_JWT_ISSUER": ISSUER,
                                     "RAC_JWT_AUDIENCE": AUDIENCE, "RAC_JWT_ROLES_CLAIM": "realm_access.roles"})
    nested = {"realm_access": {"roles": ["auditor", "offline_access"]}}
    assert verifier.verify(_token(rsa_key, "RS256", {"kid": "k1"}, roles=None, **nested)) == \
        ("wei.zhang", ["auditor", "offline_access"])
    assert verifier.verify(_token(rsa_key, "RS256", {"kid": "k2"}, **nested)) is None  # no such key
    assert verifier.verify(_token(rsa_key, "PS256", {"kid": "k1"}, **nested)) is None  # the key names RS256 alone
    assert verifier.verify(_token(signing_key, "ES256", {"kid": "k1"}, **nested)) is None


def test_jwt_settings_that_would_let_tokens_through_are_refused(signing_key, tmp_path):
    from service.auth.jwts import JwtVerifier

    pem = tmp_path / "idp.pem"
    pem.write_text(_pem(signing_key), encoding="utf-8")
    with pytest.raises(AuthConfigError, match="RAC_JWT_ISSUER and RAC_JWT_AUDIENCE"):
        JwtVerifier.from_env({"RAC_JWT_PUBLIC_KEY": str(pem), "RAC_JWT_ISSUER": ISSUER})
    with pytest.raises(AuthConfigError, match="HS256"):
        JwtVerifier.from_env({"RAC_JWT_PUBLIC_KEY": str(pem), "RAC_JWT_ISSUER": ISSUER, "RAC_JWT_AUDIENCE": AUDIENCE,
                              "RAC_JWT_ALGORITHMS": "ES256,HS256"})
    pem.write_text("not a key", encoding="utf-8")
    with pytest.raises(AuthConfigError, match="not a PEM public key"):
        JwtVerifier.from_env({"RAC_JWT_PUBLIC_KEY": str(pem), "RAC_JWT_ISSUER": ISSUER, "RAC_JWT_AUDIENCE": AUDIENCE})


def test_the_wsgi_entry_point_refuses_an_open_service_off_loopback(tmp_path):
    """The check runs where gunicorn loads the app, before any ruleset is compiled."""
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    env.update(BIND="0.0.0.0:8080", RAC_ALLOW_STOCK_ENGINE="1", RAC_DECISION_LOG=str(tmp_path / "log.sqlite3"))
    env.pop("RAC_ALLOW_OPEN", None)
    result = subprocess.run([sys.executable, "-c", "import service.wsgi"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "refusing to serve without authentication on 0.0.0.0" in result.stderr


def test_the_auditors_page_wants_an_auditor(client, logged_id):
    _assert_refused(client.get("/ui/law"), 401)
    _assert_refused(client.get("/ui/law", headers=_bearer(KEYS["intake"])), 403, "insufficient_scope", "auditor")
    assert client.get("/ui/law", headers=_bearer(KEYS["audit-office"])).status_code == 200
    page = client.get(f"/ui/decisions/{logged_id}", headers=_bearer(KEYS["audit-office"]))
    assert page.status_code == 200 and logged_id in page.get_data(as_text=True)
