"""Browser login end to end through ingress-nginx (the controller's template rendered into Debian's
nginx) and Caddy (the shipped Caddyfile): chromium goes to a protected URL, is sent to the login
page by the proxy's way (auth-signin's `rd`, the check's own 302), logs in at the development
OIDC provider, lands on the original URL, and its session cookie passes the next checks."""
from __future__ import annotations

import pymongo
import pytest

from tests.e2e.test_browser_login import ROUTES, login_as, seen_headers
from tests.e2e.test_forward_auth_proxies import dialect_env, start_proxy
from tests.e2e.conftest import browser_login_env, stop
from tests.servers import free_port


def login_site_behind(proxy: str, routes: dict, env, tmp_path, provider_url: str, gunicorn_server, echo):
    """Browser login behind `proxy` (its shipped config): yields (Site, the MongoDB database)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gatehouse = gunicorn_server({**browser_login_env(env, tmp_path, provider_url, base, routes),
                                 **dialect_env(proxy, port)})
    site = start_proxy(proxy, tmp_path, port, gatehouse.split("//")[1], echo)
    yield site, pymongo.MongoClient(env["MONGODB_URL"]).get_default_database()
    for proc in site.processes:
        stop(proc)


@pytest.fixture(params=["ingress-nginx", "caddy"])
def proxied(request, env, tmp_path, dev_provider, gunicorn_server, echo):
    yield from login_site_behind(request.param, ROUTES, env, tmp_path, dev_provider.url, gunicorn_server, echo)


def test_login_through_the_proxy_lands_on_the_original_url(browser, proxied):
    site, db = proxied
    context = browser.new_context()
    page = context.new_page()
    original = f"{site.base}/orders/7?tab=2&q=a%26b"
    page.goto(original)
    assert "/web-login" in page.url and page.locator("text=Continue with Dev IdP").is_visible()
    login_as(page, "alice")
    page.wait_for_url(original)  # the whole original URL, query included
    user = db.users.find_one({"providerUserId": "alice"})
    headers = seen_headers(page)
    assert headers[site.identity] == user["userId"]
    # the session cookie passes the next check too; a route of the admin group is refused: ingress-nginx
    # shows nginx's own 403 page, Caddy Gatehouse's (as the shipped nginx config does)
    assert page.goto(f"{site.base}/orders/8").status == 200
    assert page.goto(f"{site.base}/admin").status == 403
    if site.name == "caddy":
        assert page.locator("h1").inner_text() == "403 Forbidden"
        assert "groups: users" in page.locator("#who").inner_text(), "the page knows who is signed in"
        assert "GET /admin" in page.locator("#why").inner_text(), "and which request was refused"
    context.close()
