"""Back-channel logout for browser-login sessions (OIDC Back-Channel Logout 1.0): the
development provider signs the logout token over HTTP; /web-login/backchannel-logout ends the
sessions of that provider session (`sid`), else of that subject (`sub`), for our client named in
`aud`; /auth refuses them within the revocation bound. The checks are the BFF's
(app/core/login/backchannel.py)."""
from __future__ import annotations

import json
import time

import jwt as pyjwt
import pytest

from app import create_app
from app.settings import load_settings
from tests.conftest import login_app, with_apps
from tests.integration.test_login import ROUTES, at_dev_provider, auth, start
from tests.support.servers import within

EVENT = {"http://schemas.openid.net/event/backchannel-logout": {}}


def make(env, tmp_path, dev_provider, **extra):
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    partners = login_app(dev_provider.url, provider={"clientId": "gatehouse-partners"})
    partners["realm"] = "partners"
    config = {**with_apps(env, tmp_path, {"web": login_app(dev_provider.url), "partners": partners},
                          default_app_id="web"), "ROUTES_FILE": str(routes), **extra}
    app = create_app(load_settings(config))
    return app, app.test_client()


@pytest.fixture
def gh(env, tmp_path, dev_provider):
    return make(env, tmp_path, dev_provider)


def login(c, dev_provider, sub: str, app_id: str = "web") -> tuple[str, str]:
    """A login; the session JWT and the provider session id it was made in."""
    before = set(dev_provider.sessions().get(sub, []))
    r = c.post("/oauth/token", json=at_dev_provider(start(c, app_id=app_id), sub))
    assert r.status_code == 200, r.json
    (provider_sid,) = set(dev_provider.sessions()[sub]) - before
    return r.json["accessToken"], provider_sid


def allowed(c, token: str) -> bool:
    c.delete_cookie("sid")
    status = auth(c, Authorization=f"Bearer {token}").status_code
    assert status in (204, 401)
    return status == 204


def logout_token(provider, **claims) -> str:
    now = int(time.time())
    base = {"iss": provider.url, "aud": "gatehouse-web", "iat": now, "exp": now + 120,
            "jti": f"j-{time.monotonic_ns()}", "sub": "alice", "events": EVENT}
    base.update(claims)
    return provider.sign({k: v for k, v in base.items() if v is not None}, typ="logout+jwt")


def post(c, token: str | None):
    return c.post("/web-login/backchannel-logout", data={"logout_token": token} if token is not None else {})


def test_the_session_records_the_provider_session(gh, dev_provider):
    app, c = gh
    _, provider_sid = login(c, dev_provider, "alice")
    record = app.extensions["gatehouse"].mongo["sessions"].find_one({}, {"_id": 0})
    assert (record["providerIss"], record["providerSub"], record["providerSid"], record["providerClient"]) == (
        dev_provider.url, "alice", provider_sid, "gatehouse-web")


def test_a_sid_ends_only_that_provider_session(gh, dev_provider):
    _, c = gh
    first, first_sid = login(c, dev_provider, "alice")
    second, _ = login(c, dev_provider, "alice")
    bob, _ = login(c, dev_provider, "bob")
    r = post(c, logout_token(dev_provider, sid=first_sid, sub=None))
    assert r.status_code == 200 and r.data == b"" and r.headers["Cache-Control"] == "no-store"
    assert not allowed(c, first)
    assert allowed(c, second) and allowed(c, bob)


def test_a_sub_ends_every_session_of_that_subject_for_that_client(gh, dev_provider):
    _, c = gh
    web = [login(c, dev_provider, "alice")[0] for _ in range(2)]
    partners, _ = login(c, dev_provider, "alice", app_id="partners")  # another client of ours
    bob, _ = login(c, dev_provider, "bob")
    assert post(c, logout_token(dev_provider)).status_code == 200
    assert not any(allowed(c, t) for t in web)
    assert allowed(c, partners) and allowed(c, bob)
    assert post(c, logout_token(dev_provider, aud="gatehouse-partners")).status_code == 200
    assert not allowed(c, partners) and allowed(c, bob)


def test_an_ended_session_cannot_refresh_either(gh, dev_provider):
    _, c = gh
    r = c.post("/oauth/token", json=at_dev_provider(start(c), "bob"))
    assert post(c, logout_token(dev_provider, sub="bob")).status_code == 200
    assert c.post("/refreshtoken", json={"refreshToken": r.json["refreshToken"]}).status_code == 401


def test_auth_honours_it_within_the_revocation_bound(env, tmp_path, dev_provider):
    """With the default mirrored revocations (each worker pulls ended sessions every second)."""
    _, c = make(env, tmp_path, dev_provider, REVOCATION_SYNC_SECONDS="1")
    token, provider_sid = login(c, dev_provider, "alice")
    assert allowed(c, token)
    sent = time.monotonic()
    assert post(c, logout_token(dev_provider, sid=provider_sid)).status_code == 200
    assert within(lambda: not allowed(c, token), 1.5, since=sent), "still allowed after the revocation bound"


def _foreign_token(dev_provider) -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = pyjwt.get_unverified_header(logout_token(dev_provider))
    now = int(time.time())
    return pyjwt.encode({"iss": dev_provider.url, "aud": "gatehouse-web", "iat": now, "exp": now + 60, "jti": "f",
                         "sub": "alice", "events": EVENT}, key, algorithm="RS256", headers={"kid": header.get("kid")})


def _hs256(dev_provider) -> str:
    now = int(time.time())
    return pyjwt.encode({"iss": dev_provider.url, "aud": "gatehouse-web", "iat": now, "exp": now + 60, "jti": "h",
                         "sub": "alice", "events": EVENT}, "secret-" + "s" * 32, algorithm="HS256")


BAD_TOKENS = [
    ("bad signature", _foreign_token, "invalid or expired"),
    ("hs256", _hs256, "invalid logout_token"),
    ("no events", lambda p: logout_token(p, events=None), "events"),
    ("wrong event", lambda p: logout_token(p, events={"other": {}}), "events"),
    ("has a nonce", lambda p: logout_token(p, nonce="n-1"), "nonce"),
    ("another client", lambda p: logout_token(p, aud="someone-else"), "audience"),
    ("another issuer", lambda p: logout_token(p, iss="http://127.0.0.1:1"), "issuer"),
    ("no subject nor sid", lambda p: logout_token(p, sub=None), "neither sub nor sid"),
    ("expired", lambda p: logout_token(p, exp=int(time.time()) - 3600), "expired"),
    ("no jti", lambda p: logout_token(p, jti=None), "jti"),
    ("no iat", lambda p: logout_token(p, iat=None), "iat"),
    ("not a jwt", lambda p: "not-a-jwt", "malformed"),
    ("too long", lambda p: "a.b." + "c" * 9000, "malformed"),
    ("empty", lambda p: "", "missing"),
    ("absent", lambda p: None, "missing"),
]


@pytest.mark.parametrize("name,make_token,message", BAD_TOKENS, ids=[b[0] for b in BAD_TOKENS])
def test_invalid_logout_tokens_are_400_and_end_nothing(gh, dev_provider, name, make_token, message):
    _, c = gh
    token, _ = login(c, dev_provider, "alice")
    r = post(c, make_token(dev_provider))
    assert r.status_code == 400 and message in r.json["message"].lower(), r.json
    assert allowed(c, token)


def test_a_logout_token_is_single_use(gh, dev_provider):
    _, c = gh
    logout = logout_token(dev_provider)
    assert post(c, logout).status_code == 200
    token, _ = login(c, dev_provider, "alice")
    r = post(c, logout)
    assert r.status_code == 400 and "already used" in r.json["message"]
    assert allowed(c, token)


def test_a_json_body_is_refused(gh, dev_provider):
    _, c = gh
    r = c.post("/web-login/backchannel-logout", json={"logout_token": logout_token(dev_provider)})
    assert r.status_code == 400 and "missing" in r.json["message"]


def test_without_apps_it_does_not_exist(client):
    assert client.post("/web-login/backchannel-logout", data={"logout_token": "a.b.c"}).status_code == 404
