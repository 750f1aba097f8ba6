"""A login that fails in the browser (a bad state, a blocked account, the provider down) shows an
error page with a "Start over" link back to the sign-in page: the login's app and its return
target when the login knows it (validated when the login started), never a value the failing
request merely carries. Against a local provider over HTTP that can be taken down."""
from __future__ import annotations

import re
import urllib.parse

import pytest

from tests.conftest import ADMIN, login_app
from tests.integration.test_login import make, query, start

HTML = {"Accept": "text/html"}
TARGET = "/orders?page=2&q=caf\u00e9"
HOSTILE = "https://evil.example/steal"


@pytest.fixture
def local(env, tmp_path, local_provider):
    app, c = make(env, tmp_path, {"web": login_app(local_provider.url)})
    return app, c, local_provider


def start_over(page) -> dict[str, str] | None:
    """The page's Start over link, as (path and) query; None when there is none."""
    found = re.search(r'<a href="([^"]*)">Start over</a>', page.get_data(as_text=True))
    if found is None:
        return None
    link = found.group(1).replace("&amp;", "&")
    return {"path": urllib.parse.urlsplit(link).path, **query(link)}


def bad_state(c, provider):
    url = start(c, TARGET)
    return c.post("/oauth/token", data={"code": provider.code_for(url), "state": "not-" + query(url)["state"]},
                        headers=HTML)


def refused_by_provider(c, provider):
    """The provider sends the browser back with an error (the user cancelled at the provider)."""
    return c.get("/web-login/oauth/callback", query_string={"error": "access_denied", "state": "s",
                                                            "redirect": HOSTILE}, headers=HTML)


def blocked(c, provider):
    r = c.post("/users", json={"providerId": "dev", "providerUserId": "user-1", "blocked": True}, headers=ADMIN)
    assert r.status_code == 201, r.json
    url = start(c, TARGET)
    return c.post("/oauth/token", data={"code": provider.code_for(url), "state": query(url)["state"]},
                        headers=HTML)


def down_at_completion(c, provider):
    url = start(c, TARGET)
    provider.up = False
    return c.post("/oauth/token", data={"code": provider.code_for(url), "state": query(url)["state"]}, headers=HTML)


def down_at_start(c, provider, target=TARGET):
    provider.up = False
    return c.get("/authorize", query_string={"appId": "web", "providerId": "dev", "redirect": target}, headers=HTML)


WITH_TARGET = {"path": "/web-login", "appId": "web", "redirect": TARGET}
SIGN_IN = {"path": "/web-login"}
CASES = [
    ("bad state", bad_state, 400, "state", SIGN_IN),
    ("refused at the provider", refused_by_provider, 400, "did not complete", SIGN_IN),
    ("blocked account", blocked, 403, "blocked", WITH_TARGET),
    ("provider down at completion", down_at_completion, (502, 503), "identity provider", WITH_TARGET),
    ("provider down at start", down_at_start, (502, 503), "identity provider", WITH_TARGET),
    ("hostile target at start", lambda c, p: c.get("/authorize", query_string={
        "appId": "web", "providerId": "dev", "redirect": HOSTILE}, headers=HTML), 400, "redirect",
     {"path": "/web-login", "appId": "web"}),
]


@pytest.mark.parametrize("name,act,status,message,link", CASES, ids=[c[0] for c in CASES])
def test_login_error_pages_offer_to_start_over(local, name, act, status, message, link):
    _, c, provider = local
    page = act(c, provider)
    assert page.status_code in (status if isinstance(status, tuple) else (status,)), page.data
    assert page.mimetype == "text/html" and message in page.get_data(as_text=True)
    assert start_over(page) == link
    assert "evil.example" not in page.get_data(as_text=True), "a target the request carried was echoed"


def test_the_link_starts_the_same_login_again(local):
    _, c, provider = local
    link = start_over(down_at_start(c, provider))
    provider.up = True
    page = c.get(link["path"], query_string={k: v for k, v in link.items() if k != "path"})
    assert page.status_code == 200
    authorize = re.search(r'href="([^"]*/authorize\?[^"]*)"', page.get_data(as_text=True))
    assert authorize and query(authorize.group(1).replace("&amp;", "&"))["redirect"] == TARGET


def test_api_errors_carry_no_link(local):
    _, c, provider = local
    provider.up = False
    r = c.get("/authorize", query_string={"appId": "web", "providerId": "dev", "redirect": TARGET},
              headers={"Accept": "application/json"})
    assert r.status_code in (502, 503) and r.is_json and "Start over" not in r.get_data(as_text=True)
