"""Large identities in a real browser (Debian's chromium via Playwright) through the shipped nginx
config: a user with 200 groups of 40 characters, a long non-ASCII name and a long email logs in,
reaches a route that needs one of those groups, refreshes and logs out; a BFF user whose provider
issues 200 groups logs in too; a provider that sends more groups than Gatehouse supports gets a
page naming the limit. Every cookie Gatehouse sets stays under the 4,096 bytes browsers keep."""
from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pymongo
import pytest
from playwright.sync_api import BrowserContext, Page

from app.adapters.mongo import MongoUsers
from app.core.limits import MAX_GROUPS
from app.core.login.sessions import SESSION_JWT_BUDGET
from tests.e2e.conftest import browser_login_env, http
from tests.e2e.test_browser_forward_auth import proxied  # noqa: F401 - a fixture: ingress-nginx, Caddy
from tests.support.servers import free_port

BROWSER_COOKIE_LIMIT = 4096  # name=value bytes a browser keeps at most
GROUPS = [f"grp_{i:03d}_" + "x" * 32 for i in range(200)]  # 200 groups of 40 characters
NEEDED = GROUPS[137]
NAME = "Zoë Ærøskøbing-Łukasiewicz 渡辺 Ōtsuka Ñúñez Дмитриевна " * 6  # ~330 characters, non-ASCII
EMAIL = "firstname.middlename.lastname." + "d" * 30 + "@" + "department." * 18 + "example.test"
ROUTES = {"/": {"ALL": {"authorization": {"expression": "groups.users"}}},
          "/reports": {"ALL": {"authorization": {"expression": f"groups.{NEEDED}"}}},
          "/spa": {"GET": {"authorization": {"expression": "true", "public": True}}}}


def put_provider_user(provider_url: str, sub: str, claims: dict[str, Any]) -> None:
    """The provider's record of a user (oidc-provider-mock's PUT /users/<sub>)."""
    request = urllib.request.Request(f"{provider_url}/users/{sub}", method="PUT", data=json.dumps(claims).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 204


class SetCookies:
    """Every Set-Cookie line the browser received from the site, as name=value."""

    def __init__(self, page: Page, base: str) -> None:
        self.seen: list[str] = []
        self.statuses: list[tuple[int, str]] = []

        def keep(response: Any) -> None:
            if not response.url.startswith(base):
                return
            self.statuses.append((response.status, response.url))
            for header in response.headers_array():
                if header["name"].lower() == "set-cookie":
                    self.seen.extend(line.split(";", 1)[0] for line in header["value"].split("\n"))
        page.on("response", keep)

    def assert_small(self) -> None:
        assert self.seen
        sizes = {line.split("=", 1)[0]: len(line.encode()) for line in self.seen}
        assert all(len(line.encode()) < BROWSER_COOKIE_LIMIT for line in self.seen), sizes


@pytest.fixture
def site(env, tmp_path, dev_provider, gunicorn_server, nginx_server, echo):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bff = {"mode": "bff", "provider": {"type": "oidc", "clientId": "gatehouse-bff", "clientSecret": "bff-secret",
                                       "discoveryUrl": f"{dev_provider.url}/.well-known/openid-configuration"},
           "redirectUrl": f"{base}/bff/oauth/callback", "defaultRedirectUrl": "/spa/"}
    gatehouse = gunicorn_server({**browser_login_env(env, tmp_path, dev_provider.url, base, ROUTES, bff=bff),
                                 "USER_PROPERTIES_TO_PROXY": "name,email"})
    nginx_server(gatehouse, echo, port=port)
    return base, pymongo.MongoClient(env["MONGODB_URL"]).get_default_database()


def at_provider(page: Page, sub: str) -> None:
    """On oidc-provider-mock's form: sign in as `sub`."""
    page.fill("input[name=sub]", sub)
    page.click("button[type=submit]:not([name])")


def echoed(page: Page) -> dict[str, str]:
    return json.loads(page.locator("body").inner_text())["headers"]


def fetch_status(page: Page, path: str, method: str = "GET") -> int:
    return int(page.evaluate(f"fetch('{path}', {{method: '{method}'}}).then(r => r.status)"))


def test_web_login_refresh_logout_with_200_groups_and_a_long_name(browser, site, dev_provider):
    base, db = site
    sub = f"big-{time.time_ns()}"
    put_provider_user(dev_provider.url, sub, {"name": NAME, "email": EMAIL, "email_verified": True,
                                              "preferred_username": sub})
    MongoUsers(db).seed("demo", "dev", sub, ["users", *GROUPS], int(time.time()))
    context: BrowserContext = browser.new_context()
    page = context.new_page()
    cookies = SetCookies(page, base)

    page.goto(f"{base}/reports/q3?x=1")
    page.click("text=Continue with Dev IdP")
    at_provider(page, sub)
    page.wait_for_url(f"{base}/reports/q3?x=1", timeout=10000)
    user = db.users.find_one({"providerUserId": sub})
    seen = echoed(page)
    assert seen["miauserid"] == user["userId"]
    assert json.loads(seen["miauserproperties"]) == {"name": NAME, "email": EMAIL}
    cookies.assert_small()
    assert {"sid", "refresh_token"} <= {c["name"] for c in context.cookies()}

    info = json.loads(page.evaluate("fetch('/userinfo').then(r => r.text())"))
    assert info["groups"] == ["users", *GROUPS] and info["name"] == NAME and info["email"] == EMAIL

    # refresh: new cookies, still small; the groups the record holds now decide
    db.users.update_one({"_id": user["_id"]}, {"$pull": {"groups": NEEDED}})
    assert fetch_status(page, "/refreshtoken", "POST") == 200
    cookies.assert_small()
    assert page.goto(f"{base}/reports/q3").status == 403
    db.users.update_one({"_id": user["_id"]}, {"$push": {"groups": NEEDED}})
    assert fetch_status(page, "/refreshtoken", "POST") == 200
    assert page.goto(f"{base}/reports/q3").status == 200
    assert echoed(page)["miauserid"] == user["userId"]
    cookies.assert_small()
    assert not [s for s in cookies.statuses if s[0] >= 500], cookies.statuses

    page.goto(f"{base}/logout?redirect=/reports/q3")
    page.click("button[type=submit]")
    page.wait_for_url("**/web-login**")
    assert "sid" not in {c["name"] for c in context.cookies()}
    assert db.sessions.count_documents({"userId": user["userId"], "endedAt": None}) == 0
    assert fetch_status(page, "/userinfo") == 401
    context.close()


def test_the_uwsgi_check_group_judges_a_200_group_session(browser, env, tmp_path, dev_provider, gunicorn_server,
                                                          uwsgi_check_server, nginx_server, echo):
    """/auth under uWSGI (`gatehouse serve-check`) reads the groups from the session record too."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = browser_login_env(env, tmp_path, dev_provider.url, base, ROUTES)
    _, socket = uwsgi_check_server(config)
    nginx_server(gunicorn_server(config), echo, port=port, check=socket)
    db = pymongo.MongoClient(env["MONGODB_URL"]).get_default_database()
    sub = f"uwsgi-{time.time_ns()}"
    MongoUsers(db).seed("demo", "dev", sub, GROUPS, int(time.time()))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/reports/1")
    page.click("text=Continue with Dev IdP")
    at_provider(page, sub)
    page.wait_for_url(f"{base}/reports/1")
    assert echoed(page)["miauserid"] == db.users.find_one({"providerUserId": sub})["userId"]
    assert page.goto(f"{base}/orders").status == 403  # "/" needs `users`, which this user lacks
    context.close()


def log_in_near_the_budget(browser, base: str, db, identity: str, dev_provider) -> None:
    """A login whose answer's headers (the `sid` cookie at nearly its largest, a 2 KB return URL
    as Location, the other cookies) are more than nginx's default 4 KB buffer: the shipped configs
    size the buffers of Gatehouse's own locations for them."""
    sub = f"mid-{time.time_ns()}"
    put_provider_user(dev_provider.url, sub, {"name": "Mid Size", "email": "mid@example.test"})
    MongoUsers(db).seed("demo", "dev", sub, ["users", *GROUPS[100:141]], int(time.time()))
    target = f"{base}/reports/q3?filter=" + "a%20b" * 360  # nearly the longest return target (2 KB)
    context = browser.new_context()
    page = context.new_page()
    page.goto(target)
    page.click("text=Continue with Dev IdP")
    with page.expect_response(lambda r: r.url == f"{base}/oauth/token") as answer:
        at_provider(page, sub)
    assert answer.value.status == 303  # not nginx's 502
    page.wait_for_url(target)
    assert echoed(page)[identity] == db.users.find_one({"providerUserId": sub})["userId"]
    sid = {c["name"]: c["value"] for c in context.cookies()}["sid"]
    assert 3000 < len(sid) <= SESSION_JWT_BUDGET  # the groups still travel in it
    context.close()


def test_a_session_jwt_near_its_budget_and_a_long_return_url_pass_nginx(browser, site, dev_provider):
    base, db = site
    log_in_near_the_budget(browser, base, db, "miauserid", dev_provider)


def test_a_session_jwt_near_its_budget_and_a_long_return_url_pass_the_other_proxies(browser, proxied, dev_provider):
    """ingress-nginx (the example Ingress's proxy-buffer-size) and Caddy."""
    proxy, db = proxied
    log_in_near_the_budget(browser, proxy.base, db, proxy.identity, dev_provider)


def test_bff_login_with_200_groups_keeps_an_opaque_cookie_and_past_the_limit_gets_a_page(browser, site, dev_provider):
    base, db = site
    sub = f"bff-{time.time_ns()}"
    put_provider_user(dev_provider.url, sub, {"name": NAME, "email": EMAIL, "groups": GROUPS})
    context = browser.new_context()
    page = context.new_page()
    cookies = SetCookies(page, base)
    page.goto(f"{base}/bff/login?redirect=/spa/")
    at_provider(page, sub)
    page.wait_for_url(f"{base}/spa/")
    session = json.loads(page.evaluate("fetch('/bff/session').then(r => r.text())"))
    assert session["user"]["groups"] == GROUPS and session["user"]["name"] == NAME
    cookies.assert_small()
    value = {c["name"]: c["value"] for c in context.cookies()}["__Host-gatehouse"]
    assert len(value) < 100  # an opaque id: the tokens and groups stay in the server's record
    context.close()

    # past the limit: at a BFF login (the provider's groups claim) and at a browser login (the
    # user record) a page naming the limit, and no session
    sub = f"many-{time.time_ns()}"
    put_provider_user(dev_provider.url, sub, {"groups": [f"g{i}" for i in range(MAX_GROUPS + 100)]})
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/bff/login?redirect=/spa/")
    at_provider(page, sub)
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("403")
    assert f"at most {MAX_GROUPS} groups" in page.locator("body").inner_text()
    assert "__Host-gatehouse" not in {c["name"] for c in context.cookies()}
    status, _, body = http(f"{base}/bff/session")
    assert status == 401

    # a browser login whose user record (MongoDB: groups are the project's) passes the limit
    MongoUsers(db).seed("demo", "dev", sub, [f"g{i}" for i in range(MAX_GROUPS + 1)], int(time.time()))
    page.goto(f"{base}/reports/q3")
    page.click("text=Continue with Dev IdP")
    with page.expect_response(lambda r: r.url == f"{base}/oauth/token") as answer:
        at_provider(page, sub)
    assert answer.value.status == 403
    assert f"at most {MAX_GROUPS} groups per user" in page.locator("body").inner_text()
    assert "sid" not in {c["name"] for c in context.cookies()}
    context.close()
