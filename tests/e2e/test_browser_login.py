"""Browser login end to end (docs/login.md): Debian's chromium driven by Playwright, through
the shipped nginx config, against the development OIDC provider over HTTP."""
from __future__ import annotations

import json

import pymongo
import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import browser_login_env
from tests.support.servers import free_port

ROUTES = {"/": {"ALL": {"authorization": {"expression": "groups.users || groups.admin"}}},
          "/admin": {"ALL": {"authorization": {"expression": "groups.admin"}}}}


@pytest.fixture
def site(env, tmp_path, dev_provider, gunicorn_server, nginx_server, echo):
    """nginx on a known port -> Gatehouse (one website app, Secure cookies) -> echo upstream."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gatehouse = gunicorn_server(browser_login_env(env, tmp_path, dev_provider.url, base, ROUTES))
    nginx_server(gatehouse, echo, port=port)
    return base, pymongo.MongoClient(env["MONGODB_URL"]).get_default_database()


def seen_headers(page: Page) -> dict[str, str]:
    return json.loads(page.locator("body").inner_text())["headers"]


def login_as(page: Page, sub: str) -> None:
    """On the login page: choose the provider, then the user at the provider."""
    page.click("text=Continue with Dev IdP")
    page.click(f"button[value={sub}]")


def test_login_reaches_upstream_refresh_and_logout(browser, site, dev_provider):
    base, db = site
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/orders/7?tab=2&x=1")
    assert "/web-login" in page.url and page.locator("text=Continue with Dev IdP").is_visible()
    login_as(page, "alice")
    page.wait_for_url(f"{base}/orders/7?tab=2&x=1")  # the whole original URI, query included
    headers = seen_headers(page)
    user = db.users.find_one({"providerUserId": "alice"})
    assert headers["miauserid"] == user["userId"] and headers["miausergroups"] == "users"
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["sid"]["httpOnly"] and cookies["sid"]["secure"] and cookies["sid"]["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # nothing readable by script

    # a group added in MongoDB shows up after /refreshtoken
    db.users.update_one({"_id": user["_id"]}, {"$set": {"groups": ["users", "admin"]}})
    assert page.goto(f"{base}/admin").status == 403  # the session JWT still says "users"
    status = page.evaluate("() => fetch('/refreshtoken', {method: 'POST'}).then(r => r.status)")
    assert status == 200
    page.goto(f"{base}/admin")
    assert seen_headers(page)["miausergroups"] == "admin,users"

    # logout ends the session here and at the provider
    page.goto(f"{base}/logout?redirect=/orders/7")
    assert page.url.startswith(f"{dev_provider.url}/oauth2/end_session")
    page.click("button[type=submit]")
    page.wait_for_url("**/web-login**")
    assert "sid" not in {c["name"] for c in context.cookies()}
    assert db.sessions.count_documents({"userId": user["userId"], "endedAt": None}) == 0
    login_page = page.url
    page.click("text=Continue with Dev IdP")
    assert page.url.startswith(dev_provider.url) and page.locator("button[value=alice]").is_visible()
    assert "web-login" in login_page
    context.close()


def test_two_tabs_log_in_at_the_same_time(browser, site):
    base, db = site
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    first.goto(f"{base}/orders/1")
    second.goto(f"{base}/orders/2")
    # both logins are in flight before either completes
    first.click("text=Continue with Dev IdP")
    second.click("text=Continue with Dev IdP")
    first.click("button[value=bob]")
    second.click("button[value=bob]")
    first.wait_for_url(f"{base}/orders/1")
    second.wait_for_url(f"{base}/orders/2")
    assert seen_headers(first)["miausergroups"] == "users"
    assert seen_headers(second)["miausergroups"] == "users"
    assert db.sessions.count_documents({"endedAt": None}) == 2
    context.close()
