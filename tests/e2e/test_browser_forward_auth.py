"""Browser login end to end through ingress-nginx (the controller's template rendered into Debian's
nginx) and Caddy (the shipped Caddyfile): chromium goes to a protected URL, is sent to the login
page by the proxy's way (auth-signin's `rd`, the check's own 302), logs in at the development
OIDC provider, lands on the original URL, and its session cookie passes the next checks."""
from __future__ import annotations

import json

import pymongo
import pytest

from tests.conftest import login_app, with_apps
from tests.e2e.test_browser_login import ROUTES, login_as, seen_headers
from tests.e2e.test_forward_auth_proxies import dialect_env, start_proxy
from tests.e2e.conftest import stop
from tests.support.servers import free_port


@pytest.fixture(params=["ingress-nginx", "caddy-wheel"])
def proxied(request, env, tmp_path, dev_provider, gunicorn_server, echo):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    app_cfg = login_app(dev_provider.url, callback=f"{base}/web-login/oauth/callback", cookie={"secure": True})
    gatehouse = gunicorn_server({**with_apps(env, tmp_path, {"web": app_cfg}), "ROUTES_FILE": str(routes),
                                 **dialect_env(request.param, port)})
    site = start_proxy(request.param, tmp_path, port, gatehouse.split("//")[1], echo)
    yield site, pymongo.MongoClient(env["MONGODB_URL"]).get_default_database()
    for proc in site.processes:
        stop(proc)


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
