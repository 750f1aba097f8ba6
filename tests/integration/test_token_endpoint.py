"""POST /oauth/token against real Redis and the MongoDB-wire server.

Tokens are verified against the served JWKS with PyJWT (not the library that signed them)."""
from __future__ import annotations

import base64
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.core.tokens import ASSERTION_TYPE
from tests.conftest import ADMIN, ISSUER, basic

CLIENT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CLIENT_PUB = CLIENT_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
TOKEN_URL = f"{ISSUER}/oauth/token"


def verify_with_jwks(client, token: str) -> dict:
    jwks = client.get("/.well-known/jwks.json").json
    header = pyjwt.get_unverified_header(token)
    key = pyjwt.PyJWK.from_dict(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    return pyjwt.decode(token, key.key, algorithms=["RS256"], issuer=ISSUER,
                        options={"verify_aud": False, "require": ["exp", "iat", "jti", "sub"]})


def assertion(client_id: str, **changes) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "iat": now, "exp": now + 60,
              "jti": f"j-{time.monotonic_ns()}", **changes}
    return pyjwt.encode({k: v for k, v in claims.items() if v is not None}, CLIENT_KEY, algorithm="RS256")


def hs256_with_public_key(client_id: str) -> str:
    import hashlib
    import hmac
    def seg(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    now = int(time.time())
    signing_input = seg({"alg": "HS256", "typ": "JWT"}) + "." + seg(
        {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": "hs"})
    sig = hmac.new(CLIENT_PUB.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def jwt_form(client_id: str, token: str | None = None, **extra) -> dict:
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": token or assertion(client_id), **extra}


@pytest.fixture
def secret_client(api):
    return api.register(permissions=["orders"], audience=["orders-api", "billing-api"],
                        allowed_custom_claims={"usagePlan": "gold"})


@pytest.fixture
def jwt_client(api):
    return api.register(client_name="jwt", token_endpoint_auth_method="private_key_jwt",
                        public_key=CLIENT_PUB, scope="orders:read")


def test_client_secret_basic(client, secret_client):
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                    headers=basic(secret_client["client_id"], secret_client["client_secret"]))
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    body = r.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    claims = verify_with_jwks(client, body["access_token"])
    assert claims["sub"] == secret_client["client_id"] and claims["iss"] == ISSUER
    assert claims["scope"] == "orders:read orders:write" == body["scope"]
    assert claims["permissions"] == ["orders"] and claims["usagePlan"] == "gold"
    assert claims["aud"] == ["orders-api", "billing-api"]
    assert pyjwt.get_unverified_header(body["access_token"])["kid"] == "test-rsa"


def test_client_secret_post_with_scope_and_audience(client, secret_client):
    r = client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": secret_client["client_id"],
        "client_secret": secret_client["client_secret"], "scope": "orders:read", "audience": "orders-api"})
    assert r.status_code == 200, r.json
    claims = verify_with_jwks(client, r.json["access_token"])
    assert claims["scope"] == "orders:read" and claims["aud"] == "orders-api"


def test_private_key_jwt(client, jwt_client, db):
    r = client.post("/oauth/token", data=jwt_form(jwt_client["client_id"]))
    assert r.status_code == 200, r.json
    assert verify_with_jwks(client, r.json["access_token"])["sub"] == jwt_client["client_id"]
    assert db.clients.find_one({"clientId": jwt_client["client_id"]})["lastLogin"] >= int(time.time()) - 5


def test_ec_signing_key(env, mongo_server, key_files):
    from app import create_app
    from app.settings import load_settings
    app = create_app(load_settings({**env, "PRIVATE_RSA_KEY_FILE_PATH": str(key_files["ec"])}))
    c = app.test_client()
    reg = c.post("/register", json={"client_name": "ec"}, headers=ADMIN).json
    token = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   headers=basic(reg["client_id"], reg["client_secret"])).json["access_token"]
    jwk = c.get("/jwks").json["keys"][0]
    assert jwk["kty"] == "EC" and jwk["alg"] == "ES256"
    claims = pyjwt.decode(token, pyjwt.PyJWK.from_dict(jwk).key, algorithms=["ES256"],
                          options={"verify_aud": False})
    assert claims["sub"] == reg["client_id"]


def test_secret_stored_as_bcrypt_under_hmac(client, db, secret_client, settings):
    import hashlib
    import hmac
    doc = db.credentials.find_one({})
    expected = hmac.new(settings.client_id_hash_salt, secret_client["client_id"].encode(), hashlib.sha256).hexdigest()
    assert doc["clientIdHash"] == expected and doc["secretHash"].startswith("$2b$04$")
    assert secret_client["client_secret"] not in json.dumps(doc, default=str)
    client_doc = db.clients.find_one({"clientId": secret_client["client_id"]}, {"_id": 0})
    assert "secret" not in json.dumps(client_doc).lower().replace("client_secret_basic", "")


def snapshot(db, rdb):
    clients = sorted((json.dumps(d, sort_keys=True, default=str) for d in db.clients.find({}, {"_id": 0})))
    creds = sorted((json.dumps(d, sort_keys=True, default=str) for d in db.credentials.find({}, {"_id": 0})))
    used = sorted(k for k in rdb.keys("gatehouse:v1:*") if b"authfail" not in k)
    return clients, creds, used


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def bad_cases():
    """(name, build(ctx) -> (data, headers, content_type), status, error)."""
    form = "application/x-www-form-urlencoded"
    cc = {"grant_type": "client_credentials"}
    return [
        ("wrong secret", lambda c: (cc, basic(c["s"]["client_id"], "nope"), form), 401, "invalid_client"),
        ("unknown client", lambda c: (cc, basic("ghost", "nope"), form), 401, "invalid_client"),
        ("disabled client", lambda c: (cc, basic(c["d"]["client_id"], c["d"]["client_secret"]), form), 401, "invalid_client"),
        ("missing grant_type", lambda c: ({}, basic(c["s"]["client_id"], c["s"]["client_secret"]), form), 400, "invalid_request"),
        ("duplicate grant_type", lambda c: ("grant_type=client_credentials&grant_type=client_credentials",
                                            basic(c["s"]["client_id"], c["s"]["client_secret"]), form), 400, "invalid_request"),
        ("unsupported grant", lambda c: ({"grant_type": "password"}, basic(c["s"]["client_id"], c["s"]["client_secret"]), form), 400, "unsupported_grant_type"),
        ("JSON body", lambda c: (json.dumps(cc), basic(c["s"]["client_id"], c["s"]["client_secret"]), "application/json"), 400, "invalid_request"),
        ("Basic not base64", lambda c: (cc, {"Authorization": "Basic %%%"}, form), 400, "invalid_request"),
        ("Basic without colon", lambda c: (cc, {"Authorization": "Basic " + b64("justid")}, form), 400, "invalid_request"),
        ("Basic and body credentials", lambda c: ({**cc, "client_id": c["s"]["client_id"], "client_secret": c["s"]["client_secret"]},
                                                  basic(c["s"]["client_id"], c["s"]["client_secret"]), form), 400, "invalid_request"),
        ("no credentials", lambda c: (cc, {}, form), 401, "invalid_client"),
        ("oversized body", lambda c: ({**cc, "pad": "x" * 20000}, basic(c["s"]["client_id"], c["s"]["client_secret"]), form), 413, "invalid_request"),
        ("unknown scope", lambda c: ({**cc, "scope": "admin"}, basic(c["s"]["client_id"], c["s"]["client_secret"]), form), 400, "invalid_scope"),
        ("malformed scope", lambda c: ({**cc, "scope": "a\"b"}, basic(c["s"]["client_id"], c["s"]["client_secret"]), form), 400, "invalid_scope"),
        ("audience not allowed", lambda c: ({**cc, "audience": "evil-api"}, basic(c["s"]["client_id"], c["s"]["client_secret"]), form), 400, "invalid_request"),
        ("assertion replayed", lambda c: (jwt_form(c["j"]["client_id"], c["used"]), {}, form), 401, "invalid_client"),
        ("assertion expired", lambda c: (jwt_form(c["j"]["client_id"], assertion(c["j"]["client_id"], exp=int(time.time()) - 120)), {}, form), 401, "invalid_client"),
        ("assertion not yet valid", lambda c: (jwt_form(c["j"]["client_id"], assertion(c["j"]["client_id"], nbf=int(time.time()) + 600)), {}, form), 401, "invalid_client"),
        ("assertion exp too far", lambda c: (jwt_form(c["j"]["client_id"], assertion(c["j"]["client_id"], exp=int(time.time()) + 86400)), {}, form), 401, "invalid_client"),
        ("assertion wrong aud", lambda c: (jwt_form(c["j"]["client_id"], assertion(c["j"]["client_id"], aud="https://other")), {}, form), 401, "invalid_client"),
        ("assertion wrong iss", lambda c: (jwt_form(c["j"]["client_id"], assertion(c["j"]["client_id"], iss="x")), {}, form), 401, "invalid_client"),
        ("assertion alg none", lambda c: (jwt_form(c["j"]["client_id"], pyjwt.encode(
            {"iss": c["j"]["client_id"], "sub": c["j"]["client_id"], "aud": TOKEN_URL, "exp": int(time.time()) + 60, "jti": "n"},
            None, algorithm="none")), {}, form), 401, "invalid_client"),
        ("assertion unknown kid", lambda c: (jwt_form(c["j"]["client_id"], pyjwt.encode(
            {"iss": c["j"]["client_id"], "sub": c["j"]["client_id"], "aud": TOKEN_URL, "exp": int(time.time()) + 60, "jti": "k"},
            CLIENT_KEY, algorithm="RS256", headers={"kid": "nope"})), {}, form), 401, "invalid_client"),
        ("assertion wrong sub", lambda c: (jwt_form(c["j"]["client_id"], assertion(c["j"]["client_id"], sub="x")), {}, form), 401, "invalid_client"),
        ("assertion HS256 with the public key", lambda c: (jwt_form(c["j"]["client_id"], hs256_with_public_key(c["j"]["client_id"])), {}, form), 401, "invalid_client"),
        ("assertion type wrong", lambda c: ({**jwt_form(c["j"]["client_id"]), "client_assertion_type": "x"}, {}, form), 400, "invalid_request"),
        ("assertion wrong type", lambda c: ({**jwt_form(c["j"]["client_id"]), "client_assertion_type": "saml"}, {}, form), 400, "invalid_request"),
    ]


CASES = bad_cases()


@pytest.mark.parametrize("name,build,status,error", CASES, ids=[c[0] for c in CASES])
def test_bad_token_requests(client, api, db, rdb, name, build, status, error):
    ctx = {"s": api.register(audience=["orders-api"]), "d": api.register(client_name="off"),
           "j": api.register(client_name="jwt", token_endpoint_auth_method="private_key_jwt", public_key=CLIENT_PUB)}
    client.delete(f"/clients/{ctx['d']['client_id']}", headers=ADMIN)
    ctx["used"] = assertion(ctx["j"]["client_id"])
    assert client.post("/oauth/token", data=jwt_form(ctx["j"]["client_id"], ctx["used"])).status_code == 200
    before = snapshot(db, rdb)
    data, headers, content_type = build(ctx)
    r = client.post("/oauth/token", data=data, headers=headers, content_type=content_type)
    assert (r.status_code, r.json["error"]) == (status, error), r.json
    assert r.headers["Cache-Control"] == "no-store" and r.json["error_description"]
    assert "access_token" not in r.json
    assert snapshot(db, rdb) == before
    if status == 401 and "Authorization" in headers:
        assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_rate_limited_per_client_and_address_not_per_client(env, rdb):
    """Failures lock out the address that made them (per client, then for every client), never
    the client itself: the right secret from another address still gets a token."""
    from app import create_app
    from app.settings import load_settings
    c = create_app(load_settings({**env, "AUTH_FAILURE_LIMIT": "3", "AUTH_FAILURE_SOURCE_LIMIT": "5"})).test_client()
    attacker, victim = {"REMOTE_ADDR": "10.9.9.9"}, {"REMOTE_ADDR": "10.1.1.1"}

    def token(reg, secret, where):
        return c.post("/oauth/token", data={"grant_type": "client_credentials"},
                      headers=basic(reg["client_id"], secret), environ_base=where)

    reg = c.post("/register", json={"client_name": "rl"}, headers=ADMIN).json
    other = c.post("/register", json={"client_name": "other"}, headers=ADMIN).json
    for _ in range(3):
        assert token(reg, "wrong", attacker).status_code == 401
    r = token(reg, reg["client_secret"], attacker)
    assert (r.status_code, r.json["error"]) == (429, "too_many_requests") and int(r.headers["Retry-After"]) > 0
    assert "from this address" in r.json["error_description"]
    assert token(reg, reg["client_secret"], victim).status_code == 200, "the client itself is not locked out"
    assert token(other, other["client_secret"], attacker).status_code == 200, "other clients: under the address limit"
    for _ in range(2):
        assert token(other, "wrong", attacker).status_code == 401
    assert token(other, other["client_secret"], attacker).status_code == 429, "the address limit (5) is reached"
    assert token(other, other["client_secret"], victim).status_code == 200
    assert token(reg, reg["client_secret"], victim).status_code == 200


def test_required_and_accepted_audiences(env, key_files):
    from app import create_app
    from app.settings import load_settings
    c = create_app(load_settings({**env, "REQUIRED_AUDIENCE_IN_TOKEN_REQUEST": "true",
                                  "ACCEPTED_AUDIENCES": "orders-api,billing-api"})).test_client()
    reg = c.post("/register", json={"client_name": "a"}, headers=ADMIN).json
    auth = basic(reg["client_id"], reg["client_secret"])
    r = c.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=auth)
    assert (r.status_code, r.json["error"], r.json["error_description"]) == (400, "invalid_request", "audience is required")
    r = c.post("/oauth/token", data={"grant_type": "client_credentials", "audience": "evil"}, headers=auth)
    assert (r.status_code, r.json["error_description"]) == (400, "audience not allowed for this client")
    r = c.post("/oauth/token", data={"grant_type": "client_credentials", "audience": ["orders-api", "billing-api"]}, headers=auth)
    assert r.status_code == 200
    assert pyjwt.decode(r.json["access_token"], options={"verify_signature": False})["aud"] == ["orders-api", "billing-api"]


def test_rotated_signing_key_still_verifies(env, key_files, api, client):
    """A token signed by the old key stays valid while the old key is configured for verification."""
    from app import create_app
    from app.settings import load_settings
    reg = api.register()
    old_token = api.token(reg["client_id"], reg["client_secret"])["access_token"]
    rotated = create_app(load_settings({**env, "PRIVATE_RSA_KEY_FILE_PATH": str(key_files["old"]),
                                        "PRIVATE_RSA_KEY_ID": "new-key",
                                        "VERIFICATION_KEYS": f"test-rsa={key_files['rsa.pub']}"})).test_client()
    assert [k["kid"] for k in rotated.get("/jwks").json["keys"]] == ["new-key", "test-rsa"]
    assert rotated.get("/tokeninfo", headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
    new = rotated.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(reg["client_id"], reg["client_secret"])).json["access_token"]
    assert pyjwt.get_unverified_header(new)["kid"] == "new-key"
    assert client.get("/tokeninfo", headers={"Authorization": f"Bearer {new}"}).status_code == 401
