"""Issue 13 items 3-5: private key material and weak keys refused (registration, PATCH,
external issuers' JWKS), unknown critical headers refused, and malformed time claims a clear
401 everywhere, never a 500 (real Redis, MongoDB-wire server, a local issuer over HTTP)."""
from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jose import jws

from app import create_app
from app.core.tokens import ASSERTION_TYPE
from app.settings import load_settings
from tests.conftest import ADMIN, ISSUER, basic
from tests.support.issuer import LocalIssuer

TOKEN_URL = "http://127.0.0.1:3000/oauth/token"


def pem_public(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def pem_private(key, fmt=serialization.PrivateFormat.PKCS8) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def jwk_public(key, kid: str = "k1") -> dict:
    if isinstance(key, rsa.RSAPrivateKey):
        data = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    else:
        data = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid}


def jwk_private(key, kid: str = "k1") -> dict:
    algorithm = pyjwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else pyjwt.algorithms.ECAlgorithm
    return {**json.loads(algorithm.to_jwk(key)), "kid": kid}


RSA_2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)
RSA_2040 = rsa.generate_private_key(public_exponent=65537, key_size=2040)
EC_256 = ec.generate_private_key(ec.SECP256R1())
EC_384 = ec.generate_private_key(ec.SECP384R1())
EC_521 = ec.generate_private_key(ec.SECP521R1())
EC_K1 = ec.generate_private_key(ec.SECP256K1())
ED = ed25519.Ed25519PrivateKey.generate()
ED_JWK = {"kty": "OKP", "crv": "Ed25519", "kid": "k1",
          "x": base64.urlsafe_b64encode(ED.public_key().public_bytes(serialization.Encoding.Raw,
                                                                     serialization.PublicFormat.Raw)).decode().rstrip("=")}
RSA_PRIVATE_JWK = jwk_private(RSA_2048)


def b64int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode().rstrip("=")


# A 512-bit modulus (the issue's example): no library makes such a key any more, so its public
# half is written by hand; it only has to parse.
RSA_512_JWK = {"kty": "RSA", "kid": "tiny", "e": "AQAB", "n": b64int((1 << 511) | secrets.randbits(510) << 1 | 1)}
PUBLIC_ONLY = {k: RSA_PRIVATE_JWK[k] for k in ("kty", "n", "e", "kid")}


def members(*names: str) -> dict:
    return {**PUBLIC_ONLY, **{n: RSA_PRIVATE_JWK.get(n, "AQAB") for n in names}}


# (name, registration metadata, message)
BAD_KEYS = [
    ("PKCS#8 private PEM", {"public_key": pem_private(RSA_2048)}, "public_key must be a public key PEM, not a private key"),
    ("PKCS#1 private PEM", {"public_key": pem_private(RSA_2048, serialization.PrivateFormat.TraditionalOpenSSL)},
     "not a private key"),
    ("EC private PEM", {"public_key": pem_private(EC_256, serialization.PrivateFormat.TraditionalOpenSSL)},
     "not a private key"),
    ("jwks with d", {"jwks": {"keys": [jwk_private(RSA_2048)]}}, "private members present (d, p, q, dp, dq, qi)"),
    ("p q dp dq qi without d", {"jwks": {"keys": [members("p", "q", "dp", "dq", "qi")]}},
     "private members present (p, q, dp, dq, qi)"),
    ("only p", {"jwks": {"keys": [members("p")]}}, "private members present (p)"),
    ("only qi", {"jwks": {"keys": [members("qi")]}}, "private members present (qi)"),
    ("oth", {"jwks": {"keys": [{**PUBLIC_ONLY, "oth": [{"r": "AQAB", "d": "AQAB", "t": "AQAB"}]}]}},
     "private members present (oth)"),
    ("EC with d", {"jwks": {"keys": [jwk_private(EC_256)]}}, "private members present (d)"),
    ("symmetric k", {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}]}}, "private members present (k)"),
    ("RSA 512 JWK", {"jwks": {"keys": [RSA_512_JWK]}}, "RSA keys must have at least 2048 bits (this one has 512)"),
    ("RSA 1024 JWK", {"jwks": {"keys": [jwk_public(RSA_1024)]}}, "RSA keys must have at least 2048 bits (this one has 1024)"),
    ("RSA 1024 PEM", {"public_key": pem_public(RSA_1024)}, "at least 2048 bits"),
    ("RSA 2040 PEM", {"public_key": pem_public(RSA_2040)}, "at least 2048 bits (this one has 2040)"),
    ("EC P-384", {"jwks": {"keys": [jwk_public(EC_384)]}}, "EC keys must be on P-256"),
    ("EC P-521 PEM", {"public_key": pem_public(EC_521)}, "EC keys must be on P-256"),
    ("EC secp256k1 PEM", {"public_key": pem_public(EC_K1)}, "EC keys must be on P-256"),
    ("Ed25519", {"jwks": {"keys": [ED_JWK]}}, "OKP keys (Ed25519) are not supported"),
    ("one good one private", {"jwks": {"keys": [jwk_public(EC_256, "a"), {**members("d"), "kid": "b"}]}},
     "private members present (d)"),
]


@pytest.mark.parametrize("name,meta,message", BAD_KEYS, ids=[row[0] for row in BAD_KEYS])
def test_registration_refuses_private_and_weak_keys(client, db, name, meta, message):
    r = client.post("/register", headers=ADMIN,
                    json={"client_name": "k", "token_endpoint_auth_method": "private_key_jwt", **meta})
    assert (r.status_code, r.json["error"]) == (400, "invalid_client_metadata"), r.json
    assert message in r.json["error_description"]
    assert "PRIVATE" not in r.json["error_description"] and RSA_PRIVATE_JWK["d"] not in r.data.decode()
    assert db.clients.count_documents({}) == 0 and db.credentials.count_documents({}) == 0


GOOD_KEYS = [
    ("RSA 2048 PEM", {"public_key": pem_public(RSA_2048)}),
    ("RSA 2048 JWK", {"jwks": {"keys": [PUBLIC_ONLY]}}),
    ("EC P-256 JWK", {"jwks": {"keys": [jwk_public(EC_256)]}}),
    ("EC P-256 PEM", {"public_key": pem_public(EC_256)}),
]


@pytest.mark.parametrize("name,meta", GOOD_KEYS, ids=[row[0] for row in GOOD_KEYS])
def test_registration_accepts_strong_public_keys(client, name, meta):
    r = client.post("/register", headers=ADMIN,
                    json={"client_name": "k", "token_endpoint_auth_method": "private_key_jwt", **meta})
    assert r.status_code == 201, r.json


PATCHES = [
    ("private PEM", {"publicKey": pem_private(RSA_2048)}, "not a private key"),
    ("jwks with p q", {"jwks": {"keys": [members("p", "q")]}}, "private members present (p, q)"),
    ("weak RSA", {"publicKey": pem_public(RSA_1024)}, "at least 2048 bits"),
    ("P-384", {"jwks": {"keys": [jwk_public(EC_384)]}}, "EC keys must be on P-256"),
]


@pytest.mark.parametrize("name,change,message", PATCHES, ids=[row[0] for row in PATCHES])
def test_patch_refuses_private_and_weak_keys_and_changes_nothing(client, api, db, name, change, message):
    reg = api.register(client_name="k", token_endpoint_auth_method="private_key_jwt", public_key=pem_public(RSA_2048))
    before = db.clients.find_one({"clientId": reg["client_id"]}, {"_id": 0})
    r = client.patch(f"/clients/{reg['client_id']}", json=change, headers=ADMIN)
    assert (r.status_code, r.json["error"]) == (400, "Bad Request") and message in r.json["message"], r.json
    assert db.clients.find_one({"clientId": reg["client_id"]}, {"_id": 0}) == before
    shown = client.get(f"/clients/{reg['client_id']}", headers=ADMIN).data.decode()
    assert "PRIVATE KEY" not in shown and '"p"' not in shown


# --- time claims and crit -------------------------------------------------------------------

def raw_jwt(payload: str, key_pem: str, alg: str = "RS256", **header) -> str:
    """A JWS over exactly this payload text (1e400 is no JSON a library would write)."""
    return jws.sign(payload.encode(), key_pem, headers=header, algorithm=alg)


# (name, the time members as JSON text for a given now, message)
BAD_TIMES = [
    ("exp 1e400", lambda now: f'"iat": {now}, "exp": 1e400', "exp must be an integer"),
    ("iat 1e400", lambda now: f'"iat": 1e400, "exp": {now + 60}', "iat must be an integer"),
    ("nbf 1e400", lambda now: f'"iat": {now}, "nbf": 1e400, "exp": {now + 60}', "nbf must be an integer"),
    ("exp -1e400", lambda now: f'"iat": {now}, "exp": -1e400', "exp must be an integer"),
    ("negative exp", lambda now: f'"iat": {now}, "exp": -5', "exp is out of range"),
    ("negative nbf", lambda now: f'"iat": {now}, "nbf": -1, "exp": {now + 60}', "nbf is out of range"),
    ("exp beyond 2286", lambda now: f'"iat": {now}, "exp": 10000000000', "exp is out of range"),
    ("huge integer exp", lambda now: f'"iat": {now}, "exp": {10 ** 400}', "exp is out of range"),
    ("float exp", lambda now: f'"iat": {now}, "exp": {now + 60}.5', "exp must be an integer"),
    ("string exp", lambda now: f'"iat": {now}, "exp": "{now + 60}"', "exp must be an integer"),
    ("boolean iat", lambda now: f'"iat": true, "exp": {now + 60}', "iat must be an integer"),
    ("null exp", lambda now: f'"iat": {now}, "exp": null', "exp must be an integer"),
    ("iat an hour ahead", lambda now: f'"iat": {now + 3600}, "exp": {now + 3660}', "iat is in the future"),
]


@pytest.fixture(scope="module")
def assertion_key() -> tuple[str, str]:
    return pem_private(RSA_2048), pem_public(RSA_2048)


@pytest.fixture
def jwt_client(api, assertion_key):
    return api.register(client_name="jwt", token_endpoint_auth_method="private_key_jwt", public_key=assertion_key[1])


def assertion(client_id: str, times: str, key_pem: str, **header) -> dict[str, str]:
    payload = (f'{{"iss": "{client_id}", "sub": "{client_id}", "aud": "{ISSUER}", '
               f'"jti": "{uuid.uuid4().hex}", {times}}}')
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": raw_jwt(payload, key_pem, **header)}


@pytest.mark.parametrize("name,times,message", BAD_TIMES, ids=[row[0] for row in BAD_TIMES])
def test_assertion_time_claims_are_a_clear_401(client, rdb, jwt_client, assertion_key, name, times, message):
    # the times are made now: a module-level clock goes stale in a long run
    r = client.post("/oauth/token", data=assertion(jwt_client["client_id"], times(int(time.time())), assertion_key[0]))
    assert (r.status_code, r.json["error"]) == (401, "invalid_client"), r.json
    assert f"client_assertion {message}" in r.json["error_description"]
    assert not list(rdb.scan_iter("gatehouse:v1:used:*")), "no assertion jti was recorded"


def test_assertion_with_good_times_still_works(client, jwt_client, assertion_key):
    r = client.post("/oauth/token", data=assertion(jwt_client["client_id"], f'"iat": {int(time.time())}, "exp": {int(time.time()) + 60}',
                                                   assertion_key[0]))
    assert r.status_code == 200, r.json


@pytest.mark.parametrize("crit", [["urn:x:unknown"], ["exp"], [], "b64", [1]])
def test_assertion_with_crit_is_refused(client, jwt_client, assertion_key, crit):
    r = client.post("/oauth/token", data=assertion(jwt_client["client_id"], f'"iat": {int(time.time())}, "exp": {int(time.time()) + 60}',
                                                   assertion_key[0], crit=crit))
    assert (r.status_code, r.json["error"]) == (401, "invalid_client")
    assert "critical header parameters" in r.json["error_description"]


ROUTES = {"/": {"ALL": {"authorization": {"expression": "true"}}}}


@pytest.fixture
def issuer():
    server = LocalIssuer()
    yield server
    server.close()


def app_trusting(env, tmp_path, issuer, **entry):
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    cfg = tmp_path / "gatehouse.json"
    cfg.write_text(json.dumps({"issuers": [{"issuer": issuer.url, "audience": ["api"], "jwks_uri": f"{issuer.url}/jwks",
                                            **entry}]}))
    app = create_app(load_settings({**env, "GATEHOUSE_CONFIG": str(cfg), "ROUTES_FILE": str(routes),
                                    "JWKS_REFETCH_COOLDOWN_SECONDS": "0"}))
    return app, app.test_client()


@pytest.fixture
def ext(env, tmp_path, issuer):
    return app_trusting(env, tmp_path, issuer)


def check(c, token: str):
    r = c.get("/auth", headers={"X-Original-URI": "/x", "X-Original-Method": "GET", "Authorization": f"Bearer {token}"})
    assert r.data == b""
    return r


def external(issuer, times: str, kid: str | None = None, **header) -> str:
    kid = kid or issuer.kid
    payload = f'{{"iss": "{issuer.url}", "sub": "user-1", "aud": "api", {times}}}'
    return raw_jwt(payload, pem_private(issuer.keys[kid]), kid=kid, **header)


@pytest.mark.parametrize("name,times,message", BAD_TIMES, ids=[row[0] for row in BAD_TIMES])
def test_external_jwt_time_claims_are_a_401(ext, issuer, name, times, message):
    _, c = ext
    assert check(c, external(issuer, f'"iat": {int(time.time())}, "exp": {int(time.time()) + 60}')).status_code == 204
    r = check(c, external(issuer, times(int(time.time()))))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


OWN_BAD_TIMES = BAD_TIMES  # an iat ahead by more than the 5 s leeway too: our instances' clocks agree that well


@pytest.mark.parametrize("name,times,message", OWN_BAD_TIMES, ids=[row[0] for row in OWN_BAD_TIMES])
def test_gatehouse_signed_jwt_time_claims_are_a_401(ext, rdb, name, times, message):
    """An access token signed with Gatehouse's key: /auth, /tokeninfo and introspection refuse it
    cleanly. Revocation records nothing for malformed times; a token issued ahead of this host's
    clock (another instance's clock runs ahead) is still revoked: ending a token must not depend
    on the clocks agreeing."""
    app, c = ext
    reg = c.post("/register", json={"client_name": "x"}, headers=ADMIN).json
    active = app.extensions["gatehouse"].composition.keys.active
    cid = reg["client_id"]
    payload = (f'{{"iss": "{ISSUER}", "sub": "{cid}", "jti": "{uuid.uuid4().hex}", "client_id": "{cid}", '
               f'"scope": "", "permissions": [], {times(int(time.time()))}}}')
    token = raw_jwt(payload, active.private, active.alg, kid=active.kid, typ="at+jwt")
    r = check(c, token)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = c.get("/tokeninfo", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert message in r.json["message"], r.json
    auth = basic(cid, reg["client_secret"])
    r = c.post("/oauth/introspect", data={"token": token}, headers=auth)
    assert (r.status_code, r.json) == (200, {"active": False})
    db = app.extensions["gatehouse"].mongo
    assert c.post("/oauth/revoke", data={"token": token}, headers=auth).status_code == 200
    revoked = 1 if name == "iat an hour ahead" else 0
    assert (db.revocations.count_documents({}), rdb.zcard("gatehouse:v1:feed")) == (revoked, revoked)


@pytest.fixture
def with_session(env, tmp_path, dev_provider):
    """An app with browser login, and one open session of bob's (its sid and session JWT)."""
    from tests.conftest import login_site
    from tests.integration.test_login import at_dev_provider, start
    app = login_site(env, tmp_path, dev_provider.url, ROUTES)
    c = app.test_client()
    session = c.post("/oauth/token", json=at_dev_provider(start(c), "bob")).json
    c.delete_cookie("sid"), c.delete_cookie("refresh_token")
    return app, c, session["accessToken"]


@pytest.mark.parametrize("name,times,message", OWN_BAD_TIMES, ids=[row[0] for row in OWN_BAD_TIMES])
def test_session_jwt_time_claims_are_a_401(with_session, name, times, message):
    """A session JWT signed with Gatehouse's key for a session that is open: /auth and
    /userinfo refuse it (never a 500), and the session itself is untouched."""
    app, c, real = with_session
    sid = json.loads(base64.urlsafe_b64decode(real.split(".")[1] + "==="))["sid"]
    active = app.extensions["gatehouse"].composition.keys.active
    payload = (f'{{"iss": "{ISSUER}", "sub": "bob", "jti": "{uuid.uuid4().hex}", "sid": "{sid}", '
               f'"groups": ["users"], "user": {{"userId": "bob", "groups": ["users"]}}, {times(int(time.time()))}}}')
    token = raw_jwt(payload, active.private, active.alg, kid=active.kid, typ="JWT")
    r = check(c, token)
    assert r.status_code == 401 and r.headers["mia-allowed"] == "0"
    assert c.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert check(c, real).status_code == 204, "the session is still open"


def test_logout_with_a_session_jwt_issued_ahead_of_this_clock_ends_the_session(with_session):
    """Another instance, its clock a minute ahead, issued the session JWT: using it here is refused
    (iat in the future), but logging out with it ends the session all the same."""
    app, c, real = with_session
    claims = json.loads(base64.urlsafe_b64decode(real.split(".")[1] + "==="))
    active = app.extensions["gatehouse"].composition.keys.active
    now = int(time.time())
    ahead = {**claims, "jti": uuid.uuid4().hex, "iat": now + 60, "exp": now + 660}
    token = raw_jwt(json.dumps(ahead), active.private, active.alg, kid=active.kid, typ="JWT")
    assert check(c, token).status_code == 401, "not usable here yet"
    assert check(c, real).status_code == 204
    r = c.get("/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 302
    assert check(c, real).status_code == 401, "the session has ended"


def test_external_jwt_with_unknown_crit_is_refused(ext, issuer):
    _, c = ext
    times = f'"iat": {int(time.time())}, "exp": {int(time.time()) + 60}'
    assert check(c, external(issuer, times)).status_code == 204
    assert check(c, external(issuer, times, crit=["urn:x:unknown"])).status_code == 401


def test_weak_or_private_keys_in_an_issuers_jwks_are_ignored_and_logged(ext, issuer, caplog):
    _, c = ext
    strong = issuer.kid
    issuer.keys["weak"] = RSA_1024
    published = issuer.jwks

    def with_private_members() -> dict:
        doc = published()
        for key in doc["keys"]:
            if key["kid"] == "leaky":
                key.update({m: RSA_PRIVATE_JWK[m] for m in ("p", "q", "dp", "dq", "qi")})
        return doc
    issuer.keys["leaky"] = RSA_2048

    def served() -> dict:
        doc = with_private_members()
        doc["keys"].append(RSA_512_JWK)
        return doc
    issuer.jwks = served
    times = f'"iat": {int(time.time())}, "exp": {int(time.time()) + 60}'
    with caplog.at_level(logging.WARNING, logger="gatehouse.issuers"):
        assert check(c, external(issuer, times, kid="weak")).status_code == 401
        assert check(c, external(issuer, times, kid="leaky")).status_code == 401
        tiny = raw_jwt(f'{{"iss": "{issuer.url}", "sub": "user-1", "aud": "api", {times}}}', pem_private(RSA_1024),
                       kid="tiny")
        assert check(c, tiny).status_code == 401
        assert check(c, external(issuer, times, kid=strong)).status_code == 204
    ignored = {(r.kid, r.detail) for r in caplog.records if r.getMessage() == "JWKS key ignored"}
    assert ("weak", "RSA keys must have at least 2048 bits (this one has 1024)") in ignored
    assert ("tiny", "RSA keys must have at least 2048 bits (this one has 512)") in ignored
    assert ("leaky", "keys must be public: private members present (p, q, dp, dq, qi)") in ignored


def test_secret_clients_are_unaffected(client, api):
    reg = api.register()
    assert client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(reg["client_id"], reg["client_secret"])).status_code == 200


def test_private_material_stored_before_the_rules_is_never_shown(client, api, db):
    reg = api.register(client_name="k", token_endpoint_auth_method="private_key_jwt", jwks={"keys": [PUBLIC_ONLY]})
    db.clients.update_one({"clientId": reg["client_id"]}, {"$set": {"jwks": {"keys": [RSA_PRIVATE_JWK]}}})
    shown = client.get(f"/clients/{reg['client_id']}", headers=ADMIN).json
    (key,) = shown["jwks"]["keys"]
    assert not set(key) & {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} and key["n"] == PUBLIC_ONLY["n"]
    other = api.register(client_name="p", token_endpoint_auth_method="private_key_jwt", public_key=pem_public(RSA_2048))
    db.clients.update_one({"clientId": other["client_id"]}, {"$set": {"publicKey": pem_private(RSA_2048)}})
    listed = {c["clientId"]: c for c in client.get("/clients", headers=ADMIN).json}
    assert listed[other["client_id"]]["publicKey"] is None
    assert "PRIVATE KEY" not in client.get("/clients", headers=ADMIN).data.decode()


def test_gatehouse_signed_jwt_with_crit_is_refused(ext):
    app, c = ext
    active = app.extensions["gatehouse"].composition.keys.active
    now = int(time.time())
    payload = (f'{{"iss": "{ISSUER}", "sub": "client-x", "jti": "{uuid.uuid4().hex}", "client_id": "client-x", '
               f'"scope": "", "permissions": [], "iat": {now}, "exp": {now + 60}}}')
    plain = raw_jwt(payload, active.private, active.alg, kid=active.kid, typ="at+jwt")
    assert check(c, plain).status_code == 204
    critical = raw_jwt(payload, active.private, active.alg, kid=active.kid, typ="at+jwt", crit=["urn:x:unknown"])
    assert check(c, critical).status_code == 401
    assert c.get("/tokeninfo", headers={"Authorization": f"Bearer {critical}"}).status_code == 401


# (name, the issuer's key, the token's alg, /auth status, the logged rule when the key is ignored)
ISSUER_KEYS = [
    ("EC P-256", EC_256, "ES256", 204, None),
    ("EC P-384", EC_384, "ES384", 204, None),
    ("EC P-521", EC_521, "ES512", 204, None),
    ("EC secp256k1", EC_K1, "ES256", 401, "a registered key cannot be parsed"),
    ("RSA 2040", RSA_2040, "RS256", 401, "RSA keys must have at least 2048 bits (this one has 2040)"),
    ("RSA 2048", RSA_2048, "RS256", 204, None),
]


@pytest.mark.parametrize("name,key,alg,status,rule", ISSUER_KEYS, ids=[row[0] for row in ISSUER_KEYS])
def test_issuer_keys_on_other_curves_and_sizes(env, tmp_path, issuer, caplog, name, key, alg, status, rule):
    """External issuers may use P-256, P-384 and P-521 (ES256/384/512, as configured); any other
    curve or a short RSA key is ignored and logged, and its tokens are refused."""
    _, c = app_trusting(env, tmp_path, issuer, algorithms=["RS256", "ES256", "ES384", "ES512"])
    issuer.keys["k"] = key
    times = f'"iat": {int(time.time())}, "exp": {int(time.time()) + 60}'
    token = raw_jwt(f'{{"iss": "{issuer.url}", "sub": "user-1", "aud": "api", {times}}}', pem_private(key), alg, kid="k")
    with caplog.at_level(logging.WARNING, logger="gatehouse.issuers"):
        assert check(c, token).status_code == status
        assert check(c, external(issuer, times)).status_code == 204, "the issuer's other key still works"
    ignored = {(r.kid, r.detail) for r in caplog.records if r.getMessage() == "JWKS key ignored"}
    assert ignored == ({("k", rule)} if rule else set())


def test_an_ed25519_key_in_an_issuers_jwks_is_ignored_and_logged(ext, issuer, caplog):
    _, c = ext
    issuer.keys["ed"] = ED
    times = f'"iat": {int(time.time())}, "exp": {int(time.time()) + 60}'
    with caplog.at_level(logging.WARNING, logger="gatehouse.issuers"):
        assert check(c, external(issuer, times)).status_code == 204
    ignored = {(r.kid, r.detail) for r in caplog.records if r.getMessage() == "JWKS key ignored"}
    assert ignored == {("ed", "OKP keys (Ed25519) are not supported; use RSA or EC")}


@pytest.mark.parametrize("name,key", [("RSA 1024", RSA_1024), ("private members", RSA_2048)])
def test_an_issuer_publishing_only_unacceptable_keys_gets_401_not_503(ext, issuer, caplog, name, key):
    """Its JWKS was fetched: the token names no key Gatehouse accepts, which is the token's fault
    (401), not an outage (503)."""
    _, c = ext
    issuer.keys.clear()
    issuer.keys["only"] = key
    issuer.kid = "only"
    if name == "private members":
        published = issuer.jwks
        issuer.jwks = lambda: {"keys": [{**k, "d": RSA_PRIVATE_JWK["d"]} for k in published()["keys"]]}
    times = f'"iat": {int(time.time())}, "exp": {int(time.time()) + 60}'
    with caplog.at_level(logging.WARNING, logger="gatehouse.issuers"):
        r = check(c, external(issuer, times))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert [rec.kid for rec in caplog.records if rec.getMessage() == "JWKS key ignored"] == ["only"]
