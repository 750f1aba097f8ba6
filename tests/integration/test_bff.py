"""Backend-for-Frontend (docs/bff.md) against real providers over HTTP and real Redis: the
development provider (oidc-provider-mock) for the flows, a local provider for rotation,
refused refreshes and private_key_jwt. The browser's part at the provider is a form POST here;
tests/e2e/test_browser_bff.py walks the same flows in chromium through nginx."""
from __future__ import annotations

import json
import time
from http.cookies import SimpleCookie

import jwt as pyjwt
import pytest
import redis
import requests

from app import create_app
from app.settings import ConfigError, load_settings
from tests.conftest import with_apps
from tests.integration.test_login import at_dev_provider, query, script_nonce

COOKIE = "__Host-gatehouse"
ORIGIN = "http://127.0.0.1"
ROUTES = {"/": {"ALL": {"authorization": {"expression": "groups.admin || groups.users"}}},
          "/admin": {"ALL": {"authorization": {"expression": "groups.admin"}}}}


def bff_config(provider_url: str, **extra) -> dict:
    provider = {"type": "oidc", "clientId": "gatehouse-bff", "clientSecret": "bff-secret",
                "discoveryUrl": f"{provider_url}/.well-known/openid-configuration"}
    provider.update(extra.pop("provider", {}))
    return {"provider": provider, "redirectUrl": f"{ORIGIN}/bff/oauth/callback", "defaultRedirectUrl": "/spa/",
            "allowedRedirectUrls": ["https://app.example.test/home"], **extra}


def make(env, tmp_path, bff: dict, **settings):
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    app = create_app(load_settings({**with_apps(env, tmp_path, {}, bff=bff, **settings), "ROUTES_FILE": str(routes)}))
    return app, app.test_client(use_cookies=False)  # every test says which cookies it sends


def set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie of a response, by name, as the raw header."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def session_id(response) -> str:
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookies(response)[COOKIE])
    return jar[COOKIE].value


def binding(response) -> str:
    """The login's binding cookie, as a Cookie header value."""
    name, header = next((k, v) for k, v in set_cookies(response).items() if k.startswith("gatehouse_bff_"))
    return header.split(";")[0]


def login(c, sub="alice", redirect=None, at=at_dev_provider, cookie=None):
    r = c.get("/bff/login", query_string={"redirect": redirect} if redirect else {})
    assert r.status_code == 302, r.data
    back = at(r.headers["Location"], sub)
    page = c.get("/bff/oauth/callback", query_string=back,
                 headers={"Cookie": "; ".join(x for x in (binding(r), cookie) if x)})
    assert page.status_code == 200, page.data
    return session_id(page), page


def auth(c, sid: str | None, uri="/orders", **headers):
    cookie = {"Cookie": f"{COOKIE}={sid}"} if sid else {}
    return c.get("/auth", headers={"X-Original-URI": uri, "X-Original-Method": "GET", **cookie, **headers})


def session(c, sid: str):
    return c.get("/bff/session", headers={"Cookie": f"{COOKIE}={sid}"})


def same_origin(**extra) -> dict[str, str]:
    return {"X-CSRF": "1", "Origin": ORIGIN, "Sec-Fetch-Site": "same-origin", **extra}


@pytest.fixture
def bff(env, tmp_path, dev_provider):
    return make(env, tmp_path, bff_config(dev_provider.url))


def store(app) -> redis.Redis:
    return app.extensions["gatehouse"].redis


def test_the_landing_page_runs_only_its_own_script_with_a_fresh_nonce(bff):
    _, c = bff
    assert script_nonce(login(c)[1]) != script_nonce(login(c)[1])


def test_login_sets_a_strict_host_cookie_and_stores_tokens_sealed(bff, dev_provider):
    app, c = bff
    r = c.get("/bff/login", query_string={"redirect": "/spa/orders?x=1"})
    params = query(r.headers["Location"])
    assert r.headers["Location"].startswith(f"{dev_provider.url}/oauth2/authorize?")
    assert params["code_challenge_method"] == "S256" and params["nonce"] and params["client_id"] == "gatehouse-bff"
    bound = [v for k, v in set_cookies(r).items() if k.startswith("gatehouse_bff_")][0]
    assert "SameSite=Lax" in bound and "HttpOnly" in bound and "Path=/bff/oauth/callback" in bound

    page = c.get("/bff/oauth/callback", query_string=at_dev_provider(r.headers["Location"], "alice"),
                 headers={"Cookie": binding(r)})
    assert page.status_code == 200
    assert b'http-equiv="refresh" content="0;url=/spa/orders?x=1"' in page.data  # a same-site navigation
    cookie = set_cookies(page)[COOKIE]
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attribute in cookie
    assert "Domain" not in cookie
    sid = session_id(page)
    raw = store(app).get(f"gatehouse:v1:bff:{sid}")
    doc = json.loads(raw)
    assert doc["sub"] == "alice" and doc["user"]["groups"] == ["admin"]
    assert "eyJ" not in raw.decode()  # access, refresh and ID tokens are sealed at rest
    assert 0 < store(app).ttl(f"gatehouse:v1:bff:{sid}") <= 8 * 3600

    body = session(c, sid)
    assert body.status_code == 200 and body.headers["Cache-Control"] == "no-store"
    assert body.json["authenticated"] is True and body.json["user"]["sub"] == "alice"
    assert body.json["expiresAt"] > time.time() and "accessToken" not in body.json  # bff mode: no token


def test_the_browser_session_and_the_token_record_have_one_owner_each(bff, dev_provider):
    """flask-session keeps the browser session (no token in it); the token record is the
    store's, under the same id; logout removes both, a back-channel logout the record."""
    app, c = bff
    sid, _ = login(c)
    browser = json.loads(store(app).get(f"gatehouse:v1:bff-browser:{sid}"))
    assert set(browser) <= {"loginAt", "_permanent"} and browser["loginAt"] > 0
    record = json.loads(store(app).get(f"gatehouse:v1:bff:{sid}"))
    assert record["sub"] == "alice" and record["tokens"]
    assert c.post("/bff/logout", headers={"Cookie": f"{COOKIE}={sid}", **same_origin()}).status_code == 200
    assert not store(app).exists(f"gatehouse:v1:bff-browser:{sid}", f"gatehouse:v1:bff:{sid}")

    other, _ = login(c)
    assert c.post("/bff/backchannel-logout", data={"logout_token": logout_token(dev_provider)}).status_code == 200
    assert not store(app).exists(f"gatehouse:v1:bff:{other}")
    assert store(app).exists(f"gatehouse:v1:bff-browser:{other}")  # names a session that has ended
    assert session(c, other).status_code == 401 and auth(c, other).status_code == 401


def test_logout_without_a_browser_session_ends_what_the_cookie_names(bff):
    """A record whose browser session is gone (or that predates it) still ends at logout."""
    app, c = bff
    sid, _ = login(c)
    store(app).delete(f"gatehouse:v1:bff-browser:{sid}")
    assert auth(c, sid).status_code == 204
    assert c.post("/bff/logout", headers={"Cookie": f"{COOKIE}={sid}", **same_origin()}).status_code == 200
    assert not store(app).exists(f"gatehouse:v1:bff:{sid}") and auth(c, sid).status_code == 401


def test_envoys_200_allow_carries_the_access_token_too(env, tmp_path, dev_provider):
    """In the envoy dialect an allow is 200 (Envoy's authorization service passes nothing else):
    the BFF's access token for the upstream is on it as on nginx's 204."""
    app, c = make(env, tmp_path, bff_config(dev_provider.url), auth_dialects="envoy",
                  trusted_proxy_cidrs="127.0.0.1/32", forward_auth_hosts="app.example.test")
    sid, _ = login(c, "alice")
    r = c.get("/auth/envoy/admin", headers={"Host": "app.example.test", "Cookie": f"{COOKIE}={sid}"})
    assert (r.status_code, r.data) == (200, b"")
    assert r.headers["mia-userid"] == "alice" and r.headers["Authorization"].startswith("Bearer ")


def test_no_session_is_401(bff):
    _, c = bff
    assert c.get("/bff/session").status_code == 401
    r = session(c, "x" * 43)
    assert (r.status_code, r.json) == (401, {"authenticated": False})


def test_session_id_is_regenerated_at_login(bff):
    app, c = bff
    first, _ = login(c)
    second, _ = login(c, "bob", cookie=f"{COOKIE}={first}")
    assert second != first
    assert session(c, second).json["user"]["sub"] == "bob"
    assert not store(app).exists(f"gatehouse:v1:bff:{first}")  # the old session is gone


def test_auth_swaps_the_cookie_for_a_provider_verifiable_access_token(bff, dev_provider):
    _, c = bff
    sid, _ = login(c, "alice")
    r = auth(c, sid, "/admin")
    assert r.status_code == 204 and r.data == b""
    assert r.headers["mia-userid"] == "alice" and r.headers["mia-groups"] == "admin"
    scheme, token = r.headers["Authorization"].split(" ")
    jwks = requests.get(f"{dev_provider.url}/jwks", timeout=5).json()
    key = pyjwt.PyJWK(jwks["keys"][0]).key
    claims = pyjwt.decode(token, key, algorithms=["RS256"], audience="gatehouse-bff")
    assert scheme == "Bearer" and claims["sub"] == "alice" and claims["iss"] == dev_provider.url

    bob, _ = login(c, "bob")
    denied = auth(c, bob, "/admin")
    assert denied.status_code == 403 and "Authorization" not in denied.headers  # no token on a deny
    unknown = auth(c, "y" * 43)
    assert unknown.status_code == 401 and "Authorization" not in unknown.headers


def test_token_exchange_gives_a_short_lived_token_and_never_the_refresh_token(env, tmp_path, dev_provider):
    app, c = make(env, tmp_path, bff_config(dev_provider.url, mode="tokenExchange"))
    sid, _ = login(c)
    body = session(c, sid).json
    assert body["accessToken"].startswith("eyJ") and 0 < body["expiresIn"] <= 3600
    assert set(body) == {"authenticated", "user", "expiresAt", "accessToken", "expiresIn"}
    sealed = app.extensions["gatehouse"].bff._tokens(json.loads(store(app).get(f"gatehouse:v1:bff:{sid}")))
    assert sealed["refresh_token"] and sealed["refresh_token"] not in json.dumps(body)


def test_client_js_is_served_for_the_configured_mode(env, tmp_path, dev_provider):
    _, c = make(env, tmp_path, bff_config(dev_provider.url, mode="tokenExchange", csrfHeader="X-Requested-By"))
    r = c.get("/bff/client.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    text = r.data.decode()
    assert 'var MODE = "tokenExchange"' in text and 'var CSRF_HEADER = "X-Requested-By"' in text
    assert "@MODE@" not in text


# -- refresh ----------------------------------------------------------------------------------

@pytest.fixture
def local(env, tmp_path, local_provider):
    local_provider.id_claims = {"aud": "gatehouse-bff", "groups": ["users"]}
    return make(env, tmp_path, bff_config(local_provider.url, refreshMarginSeconds=30))


def at_local(provider):
    def press(authorize_url: str, sub: str) -> dict[str, str]:
        params = query(authorize_url)
        return {"code": provider.code_for(authorize_url, f"code-{sub}-{time.monotonic_ns()}"), "state": params["state"]}
    return press


def test_rotated_refresh_tokens_are_used_and_kept(local, local_provider):
    _, c = local
    local_provider.expires_in = 20  # inside the 30 s margin: every use refreshes
    sid, _ = login(c, "user-1", at=at_local(local_provider))
    first = auth(c, sid)
    assert first.status_code == 204 and first.headers["Authorization"] == "Bearer at-r1"
    second = auth(c, sid)  # uses the rotated refresh token; the first one is no longer valid
    assert second.status_code == 204 and second.headers["Authorization"] == "Bearer at-r2"
    assert local_provider.refreshes == 2
    assert [f["refresh_token"] for f in local_provider.token_forms if f.get("grant_type") == "refresh_token"] == [
        local_provider.token_forms[0]["code"].replace("code-", "rt-code-", 1), "rt-r1"]


def test_a_kept_allow_ends_at_the_copys_refresh_point(local, local_provider):
    """The worker keeps the allow (with its Authorization) only until the copy's refresh point:
    the access token 32 s long against the 30 s margin, so the copy holds about 2 s; past it the
    next check refreshes and hands on the new token, memo or not."""
    app, c = local
    local_provider.expires_in = 32
    sid, _ = login(c, "user-1", at=at_local(local_provider))
    memo = app.wsgi_app.memo
    first = auth(c, sid)
    hits = memo.hits
    assert auth(c, sid).headers["Authorization"] == first.headers["Authorization"] and memo.hits == hits + 1
    time.sleep(2.5)  # the sleep is the test: the copy's refresh point passes
    later = auth(c, sid)
    assert later.status_code == 204 and later.headers["Authorization"] != first.headers["Authorization"]
    assert local_provider.refreshes == 1


def test_token_outside_the_margin_is_not_refreshed(local, local_provider):
    _, c = local
    local_provider.expires_in = 300
    sid, _ = login(c, "user-1", at=at_local(local_provider))
    for _ in range(3):
        assert auth(c, sid).status_code == 204
    assert local_provider.refreshes == 0


def test_a_refused_refresh_ends_the_session(local, local_provider):
    app, c = local
    local_provider.expires_in = 20
    sid, _ = login(c, "user-1", at=at_local(local_provider))
    local_provider.refresh_status = 400
    r = auth(c, sid)
    assert r.status_code == 401 and "Authorization" not in r.headers
    assert not store(app).exists(f"gatehouse:v1:bff:{sid}")
    assert session(c, sid).status_code == 401


def test_provider_down_during_refresh_fails_closed_and_keeps_the_session(local, local_provider):
    app, c = local
    local_provider.expires_in = 1
    sid, _ = login(c, "user-1", at=at_local(local_provider))
    time.sleep(1.2)  # the access token has expired
    local_provider.refresh_status = 503
    assert auth(c, sid).status_code == 502
    assert session(c, sid).status_code == 502
    assert store(app).exists(f"gatehouse:v1:bff:{sid}")


def test_private_key_jwt_toward_the_provider(env, tmp_path, local_provider):
    local_provider.id_claims = {"aud": "gatehouse-bff"}
    _, c = make(env, tmp_path, bff_config(local_provider.url, provider={
        "tokenEndpointAuthMethod": "private_key_jwt", "clientSecret": None}))
    sid, _ = login(c, "user-1", at=at_local(local_provider))
    assert session(c, sid).status_code == 200
    form = local_provider.token_forms[0]
    assert "client_secret" not in form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header = pyjwt.get_unverified_header(form["client_assertion"])
    claims = pyjwt.decode(form["client_assertion"], options={"verify_signature": False})
    jwks = c.get("/.well-known/jwks.json").json
    key = pyjwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    pyjwt.decode(form["client_assertion"], key, algorithms=[header["alg"]], audience=f"{local_provider.url}/token")
    assert claims["iss"] == claims["sub"] == "gatehouse-bff" and claims["exp"] - claims["iat"] <= 60


# -- logout -----------------------------------------------------------------------------------

def test_rp_initiated_logout(bff, dev_provider):
    app, c = bff
    sid, _ = login(c)
    r = c.post("/bff/logout", json={"redirect": "/spa/bye"}, headers={"Cookie": f"{COOKIE}={sid}", **same_origin()})
    assert r.status_code == 200
    location = r.json["location"]
    assert location.startswith(f"{dev_provider.url}/oauth2/end_session?")
    params = query(location)
    assert params["post_logout_redirect_uri"] == f"{ORIGIN}/bff/logout/callback" and params["id_token_hint"]
    assert "Max-Age=0" in set_cookies(r)[COOKIE] or "expires=Thu, 01 Jan 1970" in set_cookies(r)[COOKIE]
    assert not store(app).exists(f"gatehouse:v1:bff:{sid}")
    assert session(c, sid).status_code == 401 and auth(c, sid).status_code == 401
    back = c.get("/bff/logout/callback", query_string={"state": params["state"]})
    assert (back.status_code, back.headers["Location"]) == (302, "/spa/bye")
    again = c.get("/bff/logout/callback", query_string={"state": params["state"]})
    assert again.headers["Location"] == "/spa/"  # the state was single-use: default target


@pytest.mark.parametrize("headers", [
    {},  # no custom header, no origin
    {"X-CSRF": "1"},  # neither Origin nor Sec-Fetch-Site
    {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},  # no custom header
    {"X-CSRF": "1", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"X-CSRF": "1", "Origin": "https://evil.example"},
    {"X-CSRF": "1", "Sec-Fetch-Site": "same-site"},
    {"X-CSRF": "1", "Origin": "null"},
], ids=["nothing", "header-only", "no-custom-header", "cross-site", "foreign-origin", "same-site", "null-origin"])
def test_cross_origin_logout_is_refused_and_the_session_survives(bff, headers):
    _, c = bff
    sid, _ = login(c)
    r = c.post("/bff/logout", headers={"Cookie": f"{COOKIE}={sid}", **headers})
    assert r.status_code == 403, r.json
    assert session(c, sid).status_code == 200


def logout_token(provider, **claims) -> str:
    now = int(time.time())
    base = {"iss": provider.url, "aud": "gatehouse-bff", "iat": now, "exp": now + 120, "jti": f"j-{time.monotonic_ns()}",
            "sub": "alice", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
    base.update(claims)
    return provider.sign({k: v for k, v in base.items() if v is not None}, typ="logout+jwt")


def test_backchannel_logout_ends_the_matching_sessions(bff, dev_provider):
    app, c = bff
    alice1, _ = login(c, "alice")
    alice2, _ = login(c, "alice")
    bob, _ = login(c, "bob")
    r = c.post("/bff/backchannel-logout", data={"logout_token": logout_token(dev_provider)})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert session(c, alice1).status_code == 401 and session(c, alice2).status_code == 401
    assert auth(c, alice1).status_code == 401
    assert session(c, bob).status_code == 200


def _foreign_token(dev_provider) -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = pyjwt.get_unverified_header(logout_token(dev_provider))
    now = int(time.time())
    return pyjwt.encode({"iss": dev_provider.url, "aud": "gatehouse-bff", "iat": now, "exp": now + 60, "jti": "f",
                         "sub": "alice", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}},
                        key, algorithm="RS256", headers={"kid": header.get("kid")})


@pytest.mark.parametrize("make_token, message", [
    (lambda p: _foreign_token(p), "invalid or expired"),
    (lambda p: logout_token(p, events=None), "events"),
    (lambda p: logout_token(p, events={"other": {}}), "events"),
    (lambda p: logout_token(p, nonce="n-1"), "nonce"),
    (lambda p: logout_token(p, aud="someone-else"), "audience"),
    (lambda p: logout_token(p, iss="http://127.0.0.1:1"), "issuer"),
    (lambda p: logout_token(p, sub=None), "neither sub nor sid"),
    (lambda p: logout_token(p, exp=int(time.time()) - 3600), "expired"),
    (lambda p: logout_token(p, jti=None), "jti"),
    (lambda p: "not-a-jwt", "malformed"),
    (lambda p: "", "missing"),
], ids=["bad-signature", "no-events", "wrong-event", "has-nonce", "other-audience", "other-issuer", "no-subject",
        "expired", "no-jti", "not-a-jwt", "empty"])
def test_invalid_logout_tokens_are_refused_and_end_nothing(bff, dev_provider, make_token, message):
    _, c = bff
    sid, _ = login(c, "alice")
    r = c.post("/bff/backchannel-logout", data={"logout_token": make_token(dev_provider)})
    assert r.status_code == 400, r.json
    assert message in r.json["message"].lower()
    assert session(c, sid).status_code == 200


def test_a_logout_token_is_single_use(bff, dev_provider):
    _, c = bff
    token = logout_token(dev_provider)
    assert c.post("/bff/backchannel-logout", data={"logout_token": token}).status_code == 200
    sid, _ = login(c, "alice")
    r = c.post("/bff/backchannel-logout", data={"logout_token": token})
    assert r.status_code == 400 and "already used" in r.json["message"]
    assert session(c, sid).status_code == 200


@pytest.mark.parametrize("path, headers, status", [
    ("/bff/sessions/alice", {}, 401),  # no admin token
    ("/bff/sessions/alice", {"Authorization": "Bearer not-the-admin-token"}, 401),
    ("/bff/sessions/" + "a" * 2049, "admin", 400),  # longer than any subject we take
], ids=["no-token", "wrong-token", "subject-too-long"])
def test_ending_a_subjects_sessions_is_refused_without_admin_or_sense(bff, path, headers, status):
    from tests.conftest import ADMIN
    _, c = bff
    sid, _ = login(c, "alice")
    r = c.delete(path, headers=ADMIN if headers == "admin" else headers)
    assert r.status_code == status, r.json
    assert session(c, sid).status_code == 200  # nothing ended


def test_an_admin_ends_every_session_of_a_subject(bff):
    from tests.conftest import ADMIN
    app, c = bff
    alice, _ = login(c, "alice")
    bob, _ = login(c, "bob")
    r = c.delete("/bff/sessions/alice", headers=ADMIN)
    assert (r.status_code, r.json, r.headers["Cache-Control"]) == (200, {"count": 1}, "no-store")
    assert session(c, alice).status_code == 401 and auth(c, alice).status_code == 401
    assert session(c, bob).status_code == 200
    assert c.delete("/bff/sessions/nobody", headers=ADMIN).json == {"count": 0}


# -- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("redirect", ["//evil.example/x", "/\\evil.example", "https://evil.example/",
                                      "javascript:alert(1)", "/ok\r\nSet-Cookie: x=1", "https://app.example.test.evil/home"])
def test_bad_redirects_are_refused_and_store_nothing(bff, redirect):
    _bad_redirect_at_login(bff, redirect)


@pytest.mark.parametrize("redirect", ["//evil.example/x", "https://evil.example/", "javascript:alert(1)"])
def test_a_logout_with_a_bad_redirect_is_refused_and_ends_nothing(bff, redirect):
    _, c = bff
    sid, _ = login(c)
    r = c.post("/bff/logout", json={"redirect": redirect}, headers={"Cookie": f"{COOKIE}={sid}", **same_origin()})
    assert r.status_code == 400, r.json
    assert session(c, sid).status_code == 200 and auth(c, sid).status_code == 204


def _bad_redirect_at_login(bff, redirect):
    app, c = bff
    before = len(store(app).keys("gatehouse:v1:bff-login:*"))
    r = c.get("/bff/login", query_string={"redirect": redirect}, headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert len(store(app).keys("gatehouse:v1:bff-login:*")) == before


def test_callback_refusals_create_no_session(bff):
    app, c = bff
    r = c.get("/bff/login")
    back = at_dev_provider(r.headers["Location"], "alice")
    # another browser: no binding cookie
    refused = c.get("/bff/oauth/callback", query_string=back, headers={"Accept": "application/json"})
    assert refused.status_code == 400 and "another browser" in refused.json["message"]
    replay = c.get("/bff/oauth/callback", query_string=back,
                   headers={"Accept": "application/json", "Cookie": binding(r)})
    assert replay.status_code == 400 and "already used" in replay.json["message"]  # the state was spent
    for query_string in ({}, {"state": "x"}, {"code": "x"}, {"error": "access_denied", "state": "x"}):
        assert c.get("/bff/oauth/callback", query_string=query_string,
                     headers={"Accept": "application/json"}).status_code == 400
    assert store(app).keys("gatehouse:v1:bff:*") == []


def test_bff_endpoints_are_404_when_not_configured(client):
    assert client.get("/bff/session").status_code == 404
    assert client.get("/bff/login").status_code == 404


@pytest.mark.parametrize("change, problem", [
    ({"mode": "cookie"}, "bff.mode"),
    ({"provider": {"type": "github"}}, "bff.provider"),
    ({"provider": {"clientSecret": None}}, "bff.provider"),
    ({"cookieName": "gatehouse"}, "bff.cookieName"),
    ({"redirectUrl": "ftp://x"}, "bff.redirectUrl"),
    ({"allowedOrigins": ["https://a.example/path"]}, "bff.allowedOrigins"),
    ({"csrfHeader": "X CSRF"}, "bff.csrfHeader"),
    ({"defaultRedirectUrl": "//evil.example"}, "bff.defaultRedirectUrl"),
    ({"refreshMarginSeconds": -1}, "bff.refreshMarginSeconds"),
])
def test_bad_bff_config_names_the_key(env, tmp_path, change, problem):
    cfg = bff_config("http://127.0.0.1:9")
    provider = change.pop("provider", None)
    if provider:
        cfg["provider"].update(provider)
    cfg.update(change)
    with pytest.raises(ConfigError) as exc:
        load_settings(with_apps(env, tmp_path, {}, bff=cfg))
    assert any(problem in p for p in exc.value.problems), exc.value.problems
    assert "bff-secret" not in str(exc.value.problems)


# -- review fixes ---------------------------------------------------------------------------------

def test_logout_ends_the_session_even_when_the_provider_is_down(local, local_provider):
    app, c = local
    sid, _ = login(c, "user-1", at=at_local(local_provider))
    app.extensions["gatehouse"].bff.directory._cache.clear()  # discovery must be asked again
    local_provider.up = False
    r = c.post("/bff/logout", headers={"Cookie": f"{COOKIE}={sid}", **same_origin()})
    assert r.status_code == 200 and r.json["location"] == "/spa/"  # straight to the app
    assert not store(app).exists(f"gatehouse:v1:bff:{sid}")
    assert auth(c, sid).status_code == 401


def test_a_provider_rate_limit_during_refresh_keeps_the_session(local, local_provider):
    app, c = local
    local_provider.expires_in = 20  # inside the margin: every use tries to refresh
    sid, _ = login(c, "user-1", at=at_local(local_provider))
    local_provider.refresh_status, local_provider.refresh_error = 429, "slow_down"
    r = auth(c, sid)
    assert r.status_code == 204 and r.headers["Authorization"] == f"Bearer {local_provider.token_forms[0]['code'].replace('code-', 'at-code-', 1)}"
    assert store(app).exists(f"gatehouse:v1:bff:{sid}")  # only invalid_grant ends a session
    local_provider.refresh_status, local_provider.refresh_error = 401, "invalid_client"
    assert auth(c, sid).status_code == 204 and store(app).exists(f"gatehouse:v1:bff:{sid}")


@pytest.mark.parametrize("method, headers, status", [
    ("GET", {}, 204),  # safe methods need nothing more
    ("POST", {}, 403),  # a form another origin of the same site posted: no custom header
    ("POST", {"X-CSRF": "1", "Origin": "https://blog.example"}, 403),
    ("DELETE", {"X-CSRF": "1", "Sec-Fetch-Site": "same-site"}, 403),
    ("POST", {"X-CSRF": "1", "Origin": ORIGIN}, 204),
    ("PUT", {"X-CSRF": "1", "Sec-Fetch-Site": "same-origin"}, 204),
])
def test_state_changing_calls_with_the_bff_cookie_need_the_csrf_proof(bff, method, headers, status):
    _, c = bff
    sid, _ = login(c, "alice")
    r = c.get("/auth", headers={"X-Original-URI": "/orders", "X-Original-Method": method,
                                "Cookie": f"{COOKIE}={sid}", **headers})
    assert r.status_code == status
    assert ("Authorization" in r.headers) == (status == 204)


def test_login_works_under_a_service_prefix(env, tmp_path, dev_provider):
    cfg = bff_config(dev_provider.url, redirectUrl=f"{ORIGIN}/gh/bff/oauth/callback")
    _, c = make(env, tmp_path, cfg, service_prefix="/gh")
    r = c.get("/gh/bff/login")
    assert "Path=/gh/bff/oauth/callback" in binding_header(r)
    back = at_dev_provider(r.headers["Location"], "alice")
    page = c.get("/gh/bff/oauth/callback", query_string=back, headers={"Cookie": binding(r)})
    assert page.status_code == 200
    sid = session_id(page)
    assert c.get("/gh/bff/session", headers={"Cookie": f"{COOKIE}={sid}"}).json["user"]["sub"] == "alice"


def binding_header(response) -> str:
    return next(v for k, v in set_cookies(response).items() if k.startswith("gatehouse_bff_"))


def test_explain_never_shows_the_access_token(bff):
    from tests.conftest import ADMIN
    _, c = bff
    sid, _ = login(c, "alice")
    r = c.post("/auth/explain", json={"method": "GET", "uri": "/orders", "headers": {"Cookie": f"{COOKIE}={sid}"}},
               headers=ADMIN)
    assert r.json["outcome"] == "allow" and "Authorization" not in r.json["headers"] and "eyJ" not in r.get_data(True)


def test_an_ended_session_restored_in_redis_stays_ended(bff):
    """Redis restored from an older copy holds the document of a session that has since ended:
    the durable record of ended BFF sessions keeps it ended."""
    app, c = bff
    sid, _ = login(c)
    r = store(app)
    saved = r.dump(f"gatehouse:v1:bff:{sid}")
    assert c.post("/bff/logout", headers={"Cookie": f"{COOKIE}={sid}", **same_origin()}).status_code == 200
    r.restore(f"gatehouse:v1:bff:{sid}", 0, saved)
    assert session(c, sid).status_code == 401 and auth(c, sid).status_code == 401
