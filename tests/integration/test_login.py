"""Browser login (docs/login.md) against real providers over HTTP: the development OIDC
provider for the happy path, a local provider for refusals and the OAuth 2 provider types.
The browser's part at the provider (pressing "Authorize") is a form POST made here."""
from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from app import create_app
from app.settings import load_settings
from tests.conftest import ADMIN, login_app, with_apps

ROUTES = {"/": {"ALL": {"authorization": {"expression": "groups.users || groups.admin"}}},
          "/admin": {"GET": {"authorization": {"expression": "groups.admin"}}}}


def make(env, tmp_path, apps, **settings):
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    app = create_app(load_settings({**with_apps(env, tmp_path, apps, **settings), "ROUTES_FILE": str(routes)}))
    return app, app.test_client()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


def start(c, redirect="/orders", app_id="web", provider="dev"):
    r = c.get("/authorize", query_string={"appId": app_id, "providerId": provider, "redirect": redirect})
    assert r.status_code == 302, r.data
    return r.headers["Location"]


def at_dev_provider(authorize_url: str, sub: str) -> dict[str, str]:
    """Press the dev provider's button for `sub`; answers the callback's query."""
    r = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    return query(r.headers["Location"])


def set_cookies(response) -> dict[str, str]:
    """The cookies a response sets (a website app's refresh answers its tokens only there)."""
    jar = {}
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        jar[name] = rest.split(";", 1)[0]
    return jar


def refreshed(response) -> dict[str, str]:
    """A website app's /refreshtoken answer: {expireAt} in JSON, the tokens in the cookies."""
    assert response.status_code == 200, response.json
    assert set(response.json) == {"expireAt"}
    jar = set_cookies(response)
    return {"accessToken": jar["sid"], "refreshToken": jar["refresh_token"], **response.json}


def auth(c, **headers):
    return c.get("/auth", headers={"X-Original-URI": "/orders", "X-Original-Method": "GET", **headers})


@pytest.fixture
def dev(env, tmp_path, dev_provider):
    return make(env, tmp_path, {"web": login_app(dev_provider.url)})


def login(c, sub="alice", redirect="/orders"):
    back = at_dev_provider(start(c, redirect), sub)
    page = c.get("/web-login/oauth/callback", query_string=back)
    assert page.status_code == 200 and b'action="/oauth/token"' in page.data
    return c.post("/oauth/token", data=back, headers={"Accept": "text/html"})


def test_login_page_lists_providers_in_order(env, tmp_path, dev_provider):
    app_cfg = login_app(dev_provider.url)
    app_cfg["providers"]["second"] = {**app_cfg["providers"]["dev"], "label": None, "order": -1}
    _, c = make(env, tmp_path, {"web": app_cfg})
    page = c.get("/web-login?appId=web&redirect=/orders").data.decode()
    assert page.index("Continue with second") < page.index("Continue with Dev IdP")
    assert c.get("/apps/web/providers").json == [
        {"id": "second", "type": "oidc", "label": "second", "order": -1},
        {"id": "dev", "type": "oidc", "label": "Dev IdP", "order": 0}]
    assert "secret" not in c.get("/apps/web/providers").data.decode()


def test_authorize_sends_state_pkce_and_nonce(dev):
    _, c = dev
    params = query(start(c))
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 24
    assert params["client_id"] == "gatehouse-web" and "openid" in params["scope"].split()


def test_login_creates_the_user_and_a_session_accepted_by_auth(dev):
    app, c = dev
    r = login(c)
    assert r.status_code == 303 and r.headers["Location"] == "/orders"
    cookies = {k.split("=")[0]: k for k in r.headers.getlist("Set-Cookie")}
    assert "HttpOnly" in cookies["sid"] and "SameSite=Lax" in cookies["sid"]
    assert "HttpOnly" in cookies["refresh_token"]
    users = app.extensions["gatehouse"].mongo["users"]
    user = users.find_one({"providerUserId": "alice"})
    assert user["groups"] == ["users"] and user["email"] == "alice@example.test" and user["realm"] == "demo"
    allowed = auth(c)
    assert allowed.status_code == 204 and allowed.headers["mia-userid"] == user["userId"]
    assert allowed.headers["mia-groups"] == "users"
    assert c.get("/userinfo").json["email"] == "alice@example.test"
    assert auth(c, Cookie="").status_code == 204  # the test client keeps the cookie


def script_nonce(page) -> str:
    """The page after a provider's redirect runs one inline script, the one its CSP allows by a
    nonce; it is never cached and never sends its URL (which holds the code) as a Referer."""
    nonces = re.findall(rb'<script nonce="([^"]+)">', page.data)
    assert len(nonces) == 1 and page.data.count(b"<script") == 1, page.data
    nonce = nonces[0].decode()
    assert page.headers["Content-Security-Policy"] == (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; base-uri 'none'; "
        "frame-ancestors 'none'")
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    return nonce


def test_the_callback_page_runs_only_its_own_script_with_a_fresh_nonce(dev):
    _, c = dev
    back = at_dev_provider(start(c), "alice")
    first = script_nonce(c.get("/web-login/oauth/callback", query_string=back))
    assert script_nonce(c.get("/web-login/oauth/callback", query_string=back)) != first


def test_json_completion_answers_tokens_and_location(dev):
    _, c = dev
    back = at_dev_provider(start(c, "/x"), "bob")
    r = c.post("/oauth/token", json=back)
    assert r.status_code == 200, r.json
    assert r.headers["Location"] == "/x"
    assert set(r.json) == {"accessToken", "refreshToken", "expireAt"}
    assert r.headers["Cache-Control"] == "no-store"
    replay = c.post("/oauth/token", json=back)  # the same state again: spent
    assert replay.status_code == 400 and "already used" in replay.json["message"]
    c.delete_cookie("sid")
    assert auth(c, Authorization=f"Bearer {r.json['accessToken']}").status_code == 204


def test_groups_from_mongodb_after_refresh_and_rotation(dev):
    app, c = dev
    back = at_dev_provider(start(c), "alice")
    first = c.post("/oauth/token", json=back).json
    users = app.extensions["gatehouse"].mongo["users"]
    users.update_one({"providerUserId": "alice"}, {"$set": {"groups": ["admin"], "name": "ignored"}})
    second = refreshed(c.post("/refreshtoken", json={"refreshToken": first["refreshToken"]}))
    c.delete_cookie("sid")
    r = auth(c, Authorization=f"Bearer {second['accessToken']}")
    assert r.headers["mia-groups"] == "admin"
    # a later login refreshes the provider's fields, never the groups
    login(c)
    assert users.find_one({"providerUserId": "alice"})["groups"] == ["admin"]
    assert users.find_one({"providerUserId": "alice"})["name"] == "Alice Admin"


def _age_spent_refresh_tokens(app) -> None:
    """What the clock does: the spent records are older than the concurrent-refresh grace."""
    rdb = app.extensions["gatehouse"].redis
    for key in rdb.scan_iter("gatehouse:v1:refresh-spent:*"):
        doc = json.loads(rdb.get(key))
        rdb.set(key, json.dumps({**doc, "spentAt": doc["spentAt"] - 60}), keepttl=True)


def test_refresh_token_reuse_ends_the_session(dev):
    app, c = dev
    first = c.post("/oauth/token", json=at_dev_provider(start(c), "alice")).json
    c.delete_cookie("sid"), c.delete_cookie("refresh_token")
    second = refreshed(c.post("/refreshtoken", json={"refreshToken": first["refreshToken"]}))
    c.delete_cookie("sid"), c.delete_cookie("refresh_token")
    # two tabs refreshing at once: the slower one is refused, the session lives on
    racing = c.post("/refreshtoken", json={"refreshToken": first["refreshToken"]})
    assert racing.status_code == 401
    assert auth(c, Authorization=f"Bearer {second['accessToken']}").status_code == 204
    _age_spent_refresh_tokens(app)
    reuse = c.post("/refreshtoken", json={"refreshToken": first["refreshToken"]})
    assert reuse.status_code == 401 and "already used" in reuse.json["message"]
    # the whole session is gone: its newest refresh token and its JWTs too
    assert c.post("/refreshtoken", json={"refreshToken": second["refreshToken"]}).status_code == 401
    assert auth(c, Authorization=f"Bearer {second['accessToken']}").status_code == 401


def test_logout_ends_the_session_and_goes_through_the_provider(dev, dev_provider):
    _, c = dev
    tokens = c.post("/oauth/token", json=at_dev_provider(start(c), "alice")).json
    r = c.get("/logout?redirect=/bye")
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(f"{dev_provider.url}/oauth2/end_session?")
    params = query(location)
    assert params["post_logout_redirect_uri"] == "http://127.0.0.1/bye" and params["id_token_hint"].count(".") == 2
    assert any(h.startswith("sid=;") for h in r.headers.getlist("Set-Cookie"))
    assert auth(c, Authorization=f"Bearer {tokens['accessToken']}").status_code == 401
    assert c.get("/userinfo", headers={"Authorization": f"Bearer {tokens['accessToken']}"}).status_code == 401
    refresh = c.post("/refreshtoken", json={"refreshToken": tokens["refreshToken"]})
    assert refresh.status_code == 401


# docs/login.md "Registering Gatehouse at the provider": the post-logout redirect URI each target
# is sent as (what to register): made absolute on the origin of redirectUrl, its query kept; an
# allow-listed absolute target as it is.
LOGOUT_TARGETS = [
    ("default", "/logout", "http://127.0.0.1/"),
    ("root", "/logout?redirect=/", "http://127.0.0.1/"),
    ("path", "/logout?redirect=/bye", "http://127.0.0.1/bye"),
    ("path with a query", "/logout?redirect=%2Fbye%3Fsee%3Dyou", "http://127.0.0.1/bye?see=you"),
    ("allow-listed absolute", "/logout?redirect=https://app.example.test/home", "https://app.example.test/home"),
]


@pytest.mark.parametrize("name,logout,registered", LOGOUT_TARGETS, ids=[t[0] for t in LOGOUT_TARGETS])
def test_the_post_logout_redirect_uri_of_each_target(dev, dev_provider, name, logout, registered):
    _, c = dev
    c.post("/oauth/token", json=at_dev_provider(start(c), "alice"))
    r = c.get(logout)
    assert r.status_code == 302 and r.headers["Location"].startswith(f"{dev_provider.url}/oauth2/end_session?")
    assert query(r.headers["Location"])["post_logout_redirect_uri"] == registered


def test_admin_revokes_every_session_of_a_user(dev):
    app, c = dev
    a = c.post("/oauth/token", json=at_dev_provider(start(c), "alice")).json
    b = c.post("/oauth/token", json=at_dev_provider(start(c), "alice")).json
    user_id = app.extensions["gatehouse"].mongo["users"].find_one({"providerUserId": "alice"})["userId"]
    assert c.delete(f"/sessions/{user_id}").status_code == 401
    r = c.delete(f"/sessions/{user_id}", headers=ADMIN)
    assert r.status_code == 200 and r.json == {"count": 2}
    c.delete_cookie("sid")
    for tokens in (a, b):
        assert auth(c, Authorization=f"Bearer {tokens['accessToken']}").status_code == 401


def _sessions(app) -> int:
    return app.extensions["gatehouse"].mongo["sessions"].count_documents({})


def _users(app) -> int:
    return app.extensions["gatehouse"].mongo["users"].count_documents({})


def test_state_is_single_use_and_bound_to_the_browser(dev, env, tmp_path, dev_provider):
    app, c = dev
    back = at_dev_provider(start(c), "alice")
    other_app, other_browser = make(env, tmp_path, {"web": login_app(dev_provider.url)})
    stolen = other_browser.post("/oauth/token", json=back)
    assert stolen.status_code == 400 and "another browser" in stolen.json["message"]
    # that attempt spent the state: the right browser cannot use it any more either
    replay = c.post("/oauth/token", json=back)
    assert replay.status_code == 400 and "already used" in replay.json["message"]
    assert _sessions(app) == 0 and _users(app) == 0


def test_code_replayed_is_refused(dev):
    app, c = dev
    back = at_dev_provider(start(c), "alice")
    assert c.post("/oauth/token", json=back).status_code == 200
    # a fresh state with the old code: the provider refuses the code
    second = at_dev_provider(start(c), "alice")
    r = c.post("/oauth/token", json={**second, "code": back["code"]})
    assert r.status_code == 400 and "refused the authorization code" in r.json["message"]
    assert _sessions(app) == 1


def test_state_expires(env, tmp_path, dev_provider):
    app, c = make(env, tmp_path, {"web": login_app(dev_provider.url)}, login_state_ttl_seconds=30)
    back = at_dev_provider(start(c), "alice")
    rdb = app.extensions["gatehouse"].redis
    for key in rdb.scan_iter("gatehouse:v1:login:*"):
        assert 0 < rdb.ttl(key) <= 30
        rdb.delete(key)  # what the TTL does after 30 s
    r = c.post("/oauth/token", json=back)
    assert r.status_code == 400 and "expired" in r.json["message"] and _sessions(app) == 0


@pytest.fixture
def local(env, tmp_path, local_provider):
    return make(env, tmp_path, {"web": login_app(local_provider.url)})


def local_login(c, provider, redirect="/orders"):
    url = start(c, redirect)
    return {"code": provider.code_for(url), "state": query(url)["state"]}


BAD_ID_TOKENS = [
    ("wrong nonce", {"nonce": "not-the-one"}, "nonce"),
    ("another audience", {"aud": "someone-else"}, "another audience"),
    ("expired", {"exp": 1000, "iat": 900}, "invalid or expired"),
    ("another issuer", {"iss": "https://evil.example"}, "another issuer"),
]


@pytest.mark.parametrize("name,claims,message", BAD_ID_TOKENS, ids=[b[0] for b in BAD_ID_TOKENS])
def test_bad_id_tokens_are_refused_and_create_nothing(local, local_provider, name, claims, message):
    app, c = local
    back = local_login(c, local_provider)
    local_provider.id_claims = claims
    r = c.post("/oauth/token", json=back)
    assert r.status_code == 400 and r.json["error"] == "Bad Request" and message in r.json["message"]
    assert _sessions(app) == 0 and _users(app) == 0


# (name, ID token claims for a given now, extra header, message): issue 13 items 4-5 for ID tokens
BAD_ID_TOKEN_SHAPES = [
    ("exp infinite", lambda now: {"exp": float("inf")}, {}, "exp must be an integer"),
    ("iat infinite", lambda now: {"iat": float("inf")}, {}, "iat must be an integer"),
    ("nbf infinite", lambda now: {"nbf": float("inf")}, {}, "nbf must be an integer"),
    ("float exp", lambda now: {"exp": now + 300.5}, {}, "exp must be an integer"),
    ("string exp", lambda now: {"exp": str(now + 300)}, {}, "exp must be an integer"),
    ("negative exp", lambda now: {"exp": -5}, {}, "exp is out of range"),
    ("exp beyond 2286", lambda now: {"exp": 10 ** 10}, {}, "exp is out of range"),
    ("iat an hour ahead", lambda now: {"iat": now + 3600, "exp": now + 3900}, {}, "iat is in the future"),
    ("unknown crit", lambda now: {}, {"crit": ["urn:x:unknown"]}, "critical header parameters"),
]


@pytest.mark.parametrize("name,claims,header,message", BAD_ID_TOKEN_SHAPES, ids=[b[0] for b in BAD_ID_TOKEN_SHAPES])
def test_malformed_id_token_times_and_crit_are_a_400_never_a_500(local, local_provider, name, claims, header, message):
    app, c = local
    back = local_login(c, local_provider)
    local_provider.id_claims, local_provider.id_header = claims(int(time.time())), header
    r = c.post("/oauth/token", json=back)
    assert (r.status_code, r.json["error"]) == (400, "Bad Request"), r.json
    assert "the ID token is invalid" in r.json["message"] and message in r.json["message"]
    assert _sessions(app) == 0 and _users(app) == 0


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the weak key is the point
def test_an_id_token_signed_by_a_weak_provider_key_is_refused(local, local_provider, caplog):
    """The provider's JWKS holds only a 1024-bit key: ignored and logged, the ID token refused."""
    app, c = local
    back = local_login(c, local_provider)
    local_provider.key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with caplog.at_level(logging.WARNING, logger="gatehouse.issuers"):
        r = c.post("/oauth/token", json=back)
    assert (r.status_code, r.json["error"]) == (400, "Bad Request"), r.json
    assert "the ID token is invalid: unknown signing key" in r.json["message"]
    assert [rec.detail for rec in caplog.records if rec.getMessage() == "JWKS key ignored"] == [
        "RSA keys must have at least 2048 bits (this one has 1024)"]
    assert _sessions(app) == 0 and _users(app) == 0


def test_provider_down_during_callback_is_a_clear_error_page(local, local_provider):
    app, c = local
    back = local_login(c, local_provider)
    local_provider.up = False
    r = c.post("/oauth/token", data=back, headers={"Accept": "text/html"})
    assert r.status_code in (502, 503) and r.mimetype == "text/html" and b"identity provider" in r.data
    assert _sessions(app) == 0 and _users(app) == 0


OPEN_REDIRECTS = ["//evil.example", "/\\evil.example", "https://evil.example", "javascript:alert(1)",
                  "https://app.example.test.evil.example/home", "/%0d%0aSet-Cookie:x=1\r\n", "\t//evil.example"]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_open_redirects_refused_everywhere(local, target):
    app, c = local
    for path, args in (("/authorize", {"appId": "web", "providerId": "dev"}), ("/web-login", {"appId": "web"}),
                       ("/logout", {})):
        r = c.get(path, query_string={**args, "redirect": target})
        assert r.status_code == 400, (path, target)
    rdb = app.extensions["gatehouse"].redis
    assert list(rdb.scan_iter("gatehouse:v1:login:*")) == []


def test_allowed_absolute_redirect_ignores_the_query(local, local_provider):
    _, c = local
    assert c.get("/authorize", query_string={"appId": "web", "providerId": "dev",
                                             "redirect": "https://app.example.test/home?tab=2"}).status_code == 302


BAD_COMPLETIONS = [
    ("no body", {}, None, 400),
    ("json without state", {"json": {"code": "x"}}, "state", 400),
    ("json not an object", {"data": "[1]", "content_type": "application/json"}, "JSON object", 400),
    ("unknown state", {"json": {"code": "x", "state": "nope"}}, "unknown", 400),
    ("huge state", {"json": {"code": "x", "state": "s" * 5000}}, "state", 400),
]


@pytest.mark.parametrize("name,kwargs,message,status", BAD_COMPLETIONS, ids=[b[0] for b in BAD_COMPLETIONS])
def test_bad_completion_requests(local, name, kwargs, message, status):
    app, c = local
    r = c.post("/oauth/token", **kwargs)
    assert r.status_code == status
    if message:
        assert message in json.dumps(r.json)
    assert _sessions(app) == 0


@pytest.mark.parametrize("kind,path,doc,expected", [
    ("github", "/api/v3/user", {"id": 583231, "login": "octocat", "name": "The Octocat", "email": "octo@example.test"},
     {"providerUserId": "583231", "username": "octocat", "name": "The Octocat", "email": "octo@example.test"}),
    ("gitlab", "/api/v4/user", {"id": 42, "username": "tanuki", "name": "Tanu Ki", "email": "tanuki@example.test"},
     {"providerUserId": "42", "username": "tanuki", "name": "Tanu Ki", "email": "tanuki@example.test"}),
])
def test_oauth2_provider_types_map_their_user_documents(env, tmp_path, local_provider, kind, path, doc, expected):
    cfg = login_app(local_provider.url, provider={"type": kind, "baseUrl": local_provider.url, "discoveryUrl": None})
    cfg["providers"]["dev"].pop("discoveryUrl")
    app, c = make(env, tmp_path, {"web": cfg})
    url = start(c)
    assert "nonce" not in query(url) and query(url)["code_challenge_method"] == "S256"
    local_provider.user_doc = doc
    r = c.post("/oauth/token", json={"code": local_provider.code_for(url), "state": query(url)["state"]})
    assert r.status_code == 200, r.json
    assert f"GET {path}" in local_provider.calls
    user = app.extensions["gatehouse"].mongo["users"].find_one({"providerId": "dev"}, {"_id": 0})
    assert {k: user[k] for k in expected} == expected


def test_userinfo_refusals(dev):
    _, c = dev
    assert c.get("/userinfo").status_code == 401
    r = c.get("/userinfo", headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 401 and "invalid_token" in r.headers["WWW-Authenticate"]
    c.set_cookie("sid", "not.a.jwt")
    assert c.get("/userinfo").status_code == 401
    assert auth(c).status_code == 401


def test_without_apps_login_endpoints_do_not_exist(client):
    for path in ("/web-login", "/authorize?appId=web&providerId=dev", "/userinfo", "/logout"):
        assert client.get(path).status_code == 404, path
    assert client.post("/oauth/token", json={"code": "c", "state": "s"}).status_code == 404


def test_session_jwt_from_another_key_is_refused(dev, key_files):
    from app.core import tokens
    from app.core.keys import KeySet, load_private_key
    _, c = dev
    other = KeySet(load_private_key(key_files["old"].read_bytes(), None, "test-rsa"))
    forged = tokens.sign(other, {"iss": "https://gatehouse.test", "sub": "u", "jti": "j", "iat": 1,
                                 "exp": 9999999999, "sid": "s", "user": {"groups": ["admin"]}})
    assert auth(c, Authorization=f"Bearer {forged}").status_code == 401
    c.set_cookie("sid", forged)
    assert auth(c).status_code == 401 and c.get("/userinfo").status_code == 401


def test_a_session_ends_at_a_fixed_time_whatever_the_refreshes(dev):
    app, c = dev
    tokens = c.post("/oauth/token", json=at_dev_provider(start(c), "alice")).json
    rdb = app.extensions["gatehouse"].redis
    (key,) = list(rdb.scan_iter("gatehouse:v1:session:*"))
    doc = json.loads(rdb.get(key))
    rdb.set(key, json.dumps({**doc, "createdAt": doc["createdAt"] - 31 * 86400}), keepttl=True)
    r = c.post("/refreshtoken", json={"refreshToken": tokens["refreshToken"]})
    assert r.status_code == 401 and "expired" in r.json["message"]
    assert not rdb.exists(key)


@pytest.mark.parametrize("claims", [{"iss": ["x"], "sid": "s"}, {"iss": {"a": 1}, "sid": "s"}, {"iss": 5}])
def test_odd_issuer_claims_are_refused_not_crashing(dev, claims):
    import base64
    _, c = dev

    def part(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    token = f"{part({'alg': 'RS256', 'kid': 'test-rsa'})}.{part({'sub': 'u', **claims})}.c2ln"
    assert auth(c, Authorization=f"Bearer {token}").status_code == 401
    assert c.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert c.get("/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 302
    c.set_cookie("sid", token)
    assert auth(c).status_code == 401


def test_session_jwt_is_not_an_access_token(dev, api):
    _, c = dev
    tokens = c.post("/oauth/token", json=at_dev_provider(start(c), "alice")).json
    assert c.get("/tokeninfo", headers={"Authorization": f"Bearer {tokens['accessToken']}"}).status_code == 401


def test_stale_session_cookie_does_not_hide_a_bearer_token(dev):
    _, c = dev
    tokens = c.post("/oauth/token", json=at_dev_provider(start(c), "bob")).json
    c.set_cookie("sid", "stale.cookie.value")
    r = auth(c, Authorization=f"Bearer {tokens['accessToken']}")
    assert r.status_code == 204 and r.headers["mia-groups"] == "users"
    assert auth(c).status_code == 401


def test_form_completion_of_a_non_website_app_redirects_without_cookies(env, tmp_path, dev_provider):
    _, c = make(env, tmp_path, {"web": login_app(dev_provider.url, isWebsiteApp=False)})
    back = at_dev_provider(start(c), "alice")
    r = c.post("/oauth/token", data=back)
    assert r.status_code == 303 and r.headers["Location"] == "/orders"
    assert not any(h.startswith(("sid=", "refresh_token=")) for h in r.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize("path,status", [
    ("/web-login", 200),  # the login chooser
    ("/web-login?redirect=/orders", 200),
    ("/web-login/forbidden", 403),  # nginx's 403 page for a browser navigation
    ("/web-login?redirect=https://evil.example/", 400),  # an error page
    ("/no-such-page", 404),
])
def test_every_html_page_refuses_to_be_framed(dev, path, status):
    """Issue 12, item 10: CSP frame-ancestors for today's browsers, X-Frame-Options for older ones."""
    _, c = dev
    page = c.get(path, headers={"Accept": "text/html", "X-Original-URI": "/admin", "X-Original-Method": "GET"})
    assert (page.status_code, page.mimetype) == (status, "text/html"), page.data[:300]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
