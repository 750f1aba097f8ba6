"""The token length limit (32,768 characters, Gatehouse's own tokens and others'): a token over it
is refused naming the limit — a BFF login whose provider sends one, a bearer token at /auth, a
token Gatehouse would issue — never as a "malformed token". tests/e2e/test_large_identities.py
runs 16 KB tokens through the shipped nginx; tests/e2e/test_edge.py the sizes around the limit."""
from __future__ import annotations

import uuid

import pytest
import requests

from app import create_app
from app.core import tokens
from app.settings import load_settings
from tests.conftest import ADMIN, basic
from tests.integration.test_bff import bff_config, binding, make
from tests.integration.test_login import at_dev_provider

LIMIT = tokens.MAX_TOKEN_LENGTH


def provider_user(dev_provider, pad: int) -> str:
    """A dev-provider user whose ID and access tokens carry `pad` characters of claims."""
    sub = f"big-{uuid.uuid4().hex[:8]}"
    claims = {"groups": ["users"], "entitlements": "e" * pad}
    assert requests.put(f"{dev_provider.url}/users/{sub}", json=claims, timeout=10).status_code == 204
    return sub


@pytest.mark.parametrize("pad,outcome", [
    (18_000, 200),  # tokens of some 24 KB: over the 16,384 characters once refused as "malformed"
    (23_500, 200),  # just under 32,768
    (24_700, "over Gatehouse's limit of 32,768"),  # just over: the login names the limit
])
def test_a_bff_login_takes_provider_tokens_up_to_the_limit_and_names_it_past(env, tmp_path, dev_provider, pad,
                                                                                outcome):
    app, c = make(env, tmp_path, bff_config(dev_provider.url))
    sub = provider_user(dev_provider, pad)
    r = c.get("/bff/login")
    back = at_dev_provider(r.headers["Location"], sub)
    page = c.get("/bff/oauth/callback", query_string=back,
                 headers={"Cookie": binding(r), "Accept": "application/json"})
    if outcome == 200:
        assert page.status_code == 200, page.data[:300]
        return
    assert page.status_code == 400
    message = page.json["message"]
    assert message.startswith("the identity provider's access token is ") and outcome in message, message
    assert "malformed" not in message


def test_a_browser_gets_the_html_page_naming_the_limit(env, tmp_path, dev_provider):
    app, c = make(env, tmp_path, bff_config(dev_provider.url))
    sub = provider_user(dev_provider, 26_000)
    r = c.get("/bff/login")
    back = at_dev_provider(r.headers["Location"], sub)
    page = c.get("/bff/oauth/callback", query_string=back,
                 headers={"Cookie": binding(r), "Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert "over Gatehouse&#39;s limit of 32,768" in page.get_data(as_text=True) or \
        "over Gatehouse's limit of 32,768" in page.get_data(as_text=True)


def test_gatehouse_never_issues_a_token_it_would_refuse(env):
    """With a body limit raised by the operator, a client can hold more permissions than fit in a
    32,768-character token: the token endpoint says so instead of issuing a token every check refuses."""
    c = create_app(load_settings({**env, "MAX_BODY_BYTES": str(256 * 1024)})).test_client()
    for count, width, issued in ((150, 100, True), (200, 200, False)):
        permissions = [f"p{i:03d}-" + "y" * (width - 5) for i in range(count)]
        reg = c.post("/register", json={"client_name": "wide", "permissions": permissions}, headers=ADMIN).json
        r = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   headers=basic(reg["client_id"], reg["client_secret"]))
        if issued:
            assert r.status_code == 200 and 16_384 < len(r.json["access_token"]) <= LIMIT, r.json
            token = r.json["access_token"]
            check = c.get("/auth", headers={"X-Original-URI": "/x", "X-Original-Method": "GET",
                                             "Authorization": f"Bearer {token}"})
            assert "invalid_token" not in check.headers.get("WWW-Authenticate", ""), check.headers
            continue
        assert r.status_code == 400 and r.json["error"] == "invalid_request", r.json
        assert "over Gatehouse's limit of 32,768" in r.json["error_description"]
        assert "permissions" in r.json["error_description"]


@pytest.mark.parametrize("length,refused", [(LIMIT - 1, False), (LIMIT, False), (LIMIT + 1, True), (10 * LIMIT, True)])
def test_the_length_limit_is_named_at_its_edge(length, refused):
    token = "a" * length
    problem = tokens.length_problem(token)
    assert (problem is not None) == refused
    if refused:
        assert problem == f"token is {length:,} characters, over Gatehouse's limit of 32,768"
        with pytest.raises(tokens.TokenTooLong, match="over Gatehouse's limit"):
            tokens.check_length(token)
    else:
        tokens.check_length(token)
