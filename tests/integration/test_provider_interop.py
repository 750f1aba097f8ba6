"""Issue 13 items 8-10 against the development provider over HTTP: a client secret with `+`, `/`
and `=` sent form-encoded in client_secret_basic (RFC 6749 §2.3.1), a provider refusing our
client authentication named as such, a userinfo endpoint that refuses the access token (the ID
token's claims suffice, logged), and website apps' refresh answering no token in JSON."""
from __future__ import annotations

import logging

import pytest

from tests.conftest import login_app
from tests.integration.test_login import at_dev_provider, make, set_cookies, start
from tests.support.providers import DevProvider

SECRET = "b64+Secret/with=padding"


@pytest.fixture(scope="module")
def strict_provider(tmp_path_factory):
    provider = DevProvider(tmp_path_factory.mktemp("strict-provider"),
                           extra_args=("--client", f"strict-web:{SECRET}", "--client", "strict-post:a+b c%2F=",
                                       "--refuse-userinfo-for", "api-bound", "--refuse-userinfo-for", "strict-web-api"))
    provider.start()
    yield provider
    provider.stop()


def app_with(env, tmp_path, provider_url: str, **provider):
    return make(env, tmp_path, {"web": login_app(provider_url, provider=provider)})


def complete(c):
    return c.post("/oauth/token", json=at_dev_provider(start(c), "alice"))


def test_basic_secret_with_plus_slash_equals_is_form_encoded(env, tmp_path, strict_provider):
    app, c = app_with(env, tmp_path, strict_provider.url, clientId="strict-web", clientSecret=SECRET)
    r = complete(c)
    assert r.status_code == 200, r.json
    assert app.extensions["gatehouse"].mongo.users.count_documents({}) == 1


def test_post_secret_is_sent_as_is_in_the_body(env, tmp_path, strict_provider):
    _, c = app_with(env, tmp_path, strict_provider.url, clientId="strict-post", clientSecret="a+b c%2F=",
                    tokenEndpointAuthMethod="client_secret_post")
    assert complete(c).status_code == 200


WRONG = [
    ("basic", "client_secret_basic"),
    ("post", "client_secret_post"),
]


@pytest.mark.parametrize("name,method", WRONG, ids=[row[0] for row in WRONG])
def test_a_refused_client_authentication_is_named_and_creates_nothing(env, tmp_path, strict_provider, name, method):
    app, c = app_with(env, tmp_path, strict_provider.url, clientId="strict-web", clientSecret="b64 Secret/with=padding",
                      tokenEndpointAuthMethod=method)
    r = complete(c)
    assert (r.status_code, r.json["error"]) == (502, "Bad Gateway"), r.json
    assert "refused Gatehouse's client authentication (invalid_client)" in r.json["message"]
    assert "authorization code" not in r.json["message"]
    db = app.extensions["gatehouse"].mongo
    assert db.users.count_documents({}) == 0 and db.sessions.count_documents({}) == 0


def test_userinfo_refusing_the_access_token_falls_back_to_the_id_token(env, tmp_path, strict_provider, caplog):
    app, c = app_with(env, tmp_path, strict_provider.url, clientId="api-bound", clientSecret="x")
    with caplog.at_level(logging.WARNING, logger="gatehouse.login"):
        r = complete(c)
    assert r.status_code == 200, r.json
    user = app.extensions["gatehouse"].mongo.users.find_one({})
    assert user["providerUserId"] == "alice"
    refusals = [rec for rec in caplog.records if "userinfo refused the access token" in rec.getMessage()]
    assert refusals and refusals[0].provider == "dev" and "401" in refusals[0].detail


def test_without_the_fallback_a_userinfo_refusal_fails_the_login(env, tmp_path, strict_provider):
    app, c = app_with(env, tmp_path, strict_provider.url, clientId="api-bound", clientSecret="x", idTokenFallback=False)
    r = complete(c)
    assert (r.status_code, r.json["error"]) == (502, "Bad Gateway")
    assert "answered 401" in r.json["message"]
    assert app.extensions["gatehouse"].mongo.users.count_documents({}) == 0


def test_userinfo_still_used_when_it_answers(env, tmp_path, strict_provider):
    app, c = app_with(env, tmp_path, strict_provider.url, clientId="reads-userinfo", clientSecret="x")
    assert complete(c).status_code == 200
    assert app.extensions["gatehouse"].mongo.users.find_one({})["email"]


@pytest.mark.parametrize("website", [True, False])
def test_refresh_answer_hides_tokens_from_website_apps_only(env, tmp_path, dev_provider, website):
    _, c = make(env, tmp_path, {"web": login_app(dev_provider.url, isWebsiteApp=website)})
    first = complete(c).json
    r = c.post("/refreshtoken", json={"refreshToken": first["refreshToken"]})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    jar = set_cookies(r)
    if website:
        assert set(r.json) == {"expireAt"}
        assert jar["sid"].count(".") == 2 and jar["refresh_token"]
        assert "HttpOnly" in " ".join(r.headers.getlist("Set-Cookie"))
        # the rotated refresh token is in the cookie, and works from there
        again = c.post("/refreshtoken")
        assert again.status_code == 200 and set(again.json) == {"expireAt"}
    else:
        assert set(r.json) == {"accessToken", "refreshToken", "expireAt"} and not jar
