"""Issue 13 items 1-2: an open registrant cannot grant itself privileges, no client can choose
a reserved claim, and a machine token never passes for a login session (real Redis, real
MongoDB-wire server, the Flask app)."""
from __future__ import annotations

import time

import pytest

from app import create_app
from app.core import tokens
from app.settings import load_settings
from tests.conftest import ADMIN, ISSUER, basic, login_site

ROUTES = {"/admin": {"GET": {"authorization": {"expression": "groups.admin"}}},
          "/": {"ALL": {"authorization": {"expression": "true"}}}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def open_app(env):
    return create_app(load_settings({**env, "OPEN_REGISTRATION": "true",
                                     "OPEN_REGISTRATION_AUDIENCES": "orders-api",
                                     "OPEN_REGISTRATION_SCOPES": "orders:read",
                                     "OPEN_REGISTRATION_AUTH_METHODS": "client_secret_basic,private_key_jwt"}))


@pytest.fixture
def oc(open_app):
    return open_app.test_client()


def written(app) -> tuple[int, int]:
    db = app.extensions["gatehouse"].mongo
    return db.clients.count_documents({}), db.credentials.count_documents({})


SELF_GRANTED = [
    ("admin permission", {"permissions": ["gatehouse:admin"]}, "permissions: only an admin may grant permissions"),
    ("any permission", {"permissions": ["orders"]}, "permissions: only an admin"),
    ("custom claims", {"allowed_custom_claims": {"groups": ["admin"]}}, "allowed_custom_claims"),
    ("harmless custom claim", {"allowed_custom_claims": {"usagePlan": "gold"}},
     "allowed_custom_claims: only an admin may allow custom claims"),
    ("audience beyond the default", {"audience": ["billing-api"]}, "audience: only an admin"),
    ("one allowed, one not", {"audience": ["orders-api", "billing-api"]}, "audience: only an admin"),
    ("scope beyond the configured", {"scope": "orders:read orders:write"},
     "scope: only an admin may register these scopes: orders:write"),
    ("auth method not configured", {"token_endpoint_auth_method": "client_secret_post"},
     "token_endpoint_auth_method: open registration allows only client_secret_basic, private_key_jwt"),
]


@pytest.mark.parametrize("name,meta,message", SELF_GRANTED, ids=[row[0] for row in SELF_GRANTED])
def test_open_registration_refuses_self_granted_privileges(open_app, oc, name, meta, message):
    r = oc.post("/register", json={"client_name": "self", **meta})
    assert (r.status_code, r.json["error"]) == (400, "invalid_client_metadata"), r.json
    assert message in r.json["error_description"]
    assert written(open_app) == (0, 0)


OPEN_ALLOWED = [
    ("plain", {}),
    ("configured audience", {"audience": ["orders-api"]}),
    ("configured scope", {"scope": "orders:read"}),
    ("empty permissions and claims", {"permissions": [], "allowed_custom_claims": {}}),
]


@pytest.mark.parametrize("name,meta", OPEN_ALLOWED, ids=[row[0] for row in OPEN_ALLOWED])
def test_open_registration_allows_what_is_configured(oc, name, meta):
    r = oc.post("/register", json={"client_name": "self", **meta})
    assert r.status_code == 201, r.json
    assert r.json["permissions"] == []


def test_the_issue_reproduction_no_longer_opens_the_admin_api(open_app, oc):
    r = oc.post("/register", json={"client_name": "x", "permissions": ["gatehouse:admin"]})
    assert r.status_code == 400
    plain = oc.post("/register", json={"client_name": "x"}).json
    token = oc.post("/oauth/token", data={"grant_type": "client_credentials"},
                    headers=basic(plain["client_id"], plain["client_secret"])).json["access_token"]
    assert oc.get("/clients", headers=bearer(token)).status_code == 403


def test_an_admin_token_still_grants_everything_with_open_registration(open_app, oc):
    r = oc.post("/register", headers=ADMIN, json={
        "client_name": "x", "permissions": ["gatehouse:admin"], "allowed_custom_claims": {"usagePlan": "gold"},
        "audience": ["billing-api"], "scope": "orders:write", "token_endpoint_auth_method": "client_secret_post"})
    assert r.status_code == 201, r.json
    assert r.json["permissions"] == ["gatehouse:admin"]


def test_a_bad_token_is_not_taken_for_an_anonymous_registrant(open_app, oc):
    r = oc.post("/register", json={"client_name": "x"}, headers=bearer("not-a-token"))
    assert r.status_code == 401
    assert written(open_app) == (0, 0)


@pytest.mark.parametrize("meta", [{}, {"permissions": ["gatehouse:admin"]}], ids=["plain", "asking for admin"])
def test_a_non_admin_token_registers_nothing_with_open_registration(open_app, oc, meta):
    """A valid machine token without gatehouse:admin is neither an admin nor an anonymous registrant."""
    plain = oc.post("/register", json={"client_name": "x"}).json
    token = oc.post("/oauth/token", data={"grant_type": "client_credentials"},
                    headers=basic(plain["client_id"], plain["client_secret"])).json["access_token"]
    before = written(open_app)
    r = oc.post("/register", json={"client_name": "y", **meta}, headers=bearer(token))
    assert r.status_code == 403, r.json
    assert written(open_app) == before


RESERVED = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "user", "user_in", "groups", "roles", "permissions",
            "scope", "scp", "client_id", "azp", "typ", "auth_time", "acr", "amr", "cnf", "act"]


@pytest.mark.parametrize("claim", RESERVED)
def test_reserved_claims_are_never_custom_claims_even_for_an_admin(app, client, db, claim):
    r = client.post("/register", headers=ADMIN,
                    json={"client_name": "x", "allowed_custom_claims": {"usagePlan": "gold", claim: "forged"}})
    assert (r.status_code, r.json["error"]) == (400, "invalid_client_metadata")
    assert f"reserved claim names cannot be custom claims: {claim}" in r.json["error_description"]
    assert db.clients.count_documents({}) == 0 and db.credentials.count_documents({}) == 0


def test_reserved_claims_refused_by_patch_and_nothing_changes(client, api, db):
    reg = api.register(allowed_custom_claims={"usagePlan": "gold"})
    before = db.clients.find_one({"clientId": reg["client_id"]}, {"_id": 0})
    r = client.patch(f"/clients/{reg['client_id']}", headers=ADMIN,
                     json={"allowedCustomClaims": {"sid": "x", "user": {"userId": "alice", "groups": ["admin"]}}})
    assert (r.status_code, r.json["error"]) == (400, "Bad Request")
    assert "reserved claim names cannot be custom claims: sid, user" in r.json["message"]
    assert db.clients.find_one({"clientId": reg["client_id"]}, {"_id": 0}) == before


@pytest.fixture
def with_sessions(env, tmp_path, dev_provider):
    """Login sessions configured with the same issuer as machine tokens (the default)."""
    app = login_site(env, tmp_path, dev_provider.url, ROUTES)
    return app, app.test_client()


def check(c, token: str, path: str = "/admin"):
    return c.get("/auth", headers={"X-Original-URI": path, "X-Original-Method": "GET", **bearer(token)})


def test_a_stored_legacy_client_with_session_claims_gets_none_of_them(with_sessions):
    app, c = with_sessions
    reg = c.post("/register", json={"client_name": "legacy"}, headers=ADMIN).json
    app.extensions["gatehouse"].mongo.clients.update_one(
        {"clientId": reg["client_id"]},
        {"$set": {"allowedCustomClaims": {"sid": "no-such-session", "usagePlan": "gold", "groups": ["admin"],
                                          "permissions": ["gatehouse:admin"],
                                          "user": {"userId": "alice", "groups": ["admin"]}}}})
    r = c.post("/oauth/token", data={"grant_type": "client_credentials"},
               headers=basic(reg["client_id"], reg["client_secret"]))
    claims = tokens.unverified_claims(r.json["access_token"])
    assert "sid" not in claims and "user" not in claims and "groups" not in claims
    assert claims["permissions"] == [] and claims["usagePlan"] == "gold"
    assert check(c, r.json["access_token"]).status_code == 403
    assert c.get("/clients", headers=bearer(r.json["access_token"])).status_code == 403


@pytest.mark.parametrize("sid", ["no-such-session", "an open session"])
def test_a_machine_token_carrying_sid_and_user_is_no_session(with_sessions, sid):
    """Even signed by Gatehouse with session-shaped claims, and naming a session that is open:
    its `typ` says access token."""
    app, c = with_sessions
    if sid == "an open session":
        from tests.integration.test_login import at_dev_provider, start
        session = c.post("/oauth/token", json=at_dev_provider(start(c), "bob")).json
        c.delete_cookie("sid"), c.delete_cookie("refresh_token")
        sid = tokens.unverified_claims(session["accessToken"])["sid"]
        assert check(c, session["accessToken"], "/x").status_code == 204
    keys = app.extensions["gatehouse"].composition.keys
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "client-x", "aud": ISSUER, "iat": now, "exp": now + 300,
              "jti": tokens.new_jti(), "client_id": "client-x", "scope": "", "permissions": [],
              "sid": sid, "groups": ["admin"], "user": {"userId": "alice", "groups": ["admin"]}}
    forged = tokens.sign(keys, claims)  # typ at+jwt
    assert tokens.unverified_header(forged)["typ"] == "at+jwt"
    r = check(c, forged)
    assert r.status_code == 401 and r.headers["mia-allowed"] == "0" and "mia-groups" not in r.headers
    assert c.get("/userinfo", headers=bearer(forged)).status_code == 401


def test_a_session_jwt_for_a_session_that_never_existed_is_refused(with_sessions):
    app, c = with_sessions
    keys = app.extensions["gatehouse"].composition.keys
    now = int(time.time())
    user = {"userId": "alice", "groups": ["admin"]}
    claims = {"iss": ISSUER, "sub": "alice", "jti": tokens.new_jti(), "iat": now, "exp": now + 300,
              "sid": "no-such-session", "groups": ["admin"], "user": user}
    token = tokens.sign(keys, claims, typ="JWT")
    assert check(c, token).status_code == 401
    assert c.get("/userinfo", headers=bearer(token)).status_code == 401
