"""The BFF end to end (docs/bff.md): Debian's chromium driven by Playwright loads the demo SPA
through the shipped nginx config; Gatehouse under gunicorn; the development OIDC provider over
HTTP; the demo upstream's API verifies the forwarded access token against the provider's JWKS."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from typing import Any

import pytest
import requests
from playwright.sync_api import Page

from gatehouse_dev.runner import DEMO_ROUTES
from tests.conftest import with_apps
from tests.e2e.conftest import ROOT
from tests.support.providers import DevProvider
from tests.support.servers import RedisServer, free_port, wait_until

TOKEN_LIFETIME = 4  # seconds: short, so a test can wait for the access token to expire
COOKIE = "__Host-gatehouse"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    # 300 ms per token call, like a remote provider: concurrent refreshes would overlap.
    dev = DevProvider(tmp_path_factory.mktemp("bff-provider"), token_max_age=TOKEN_LIFETIME, latency_ms=300)
    # Another site than the app's 127.0.0.1 (ports do not make sites): the redirect back from
    # the provider is cross-site, as in production, so SameSite=Strict behaves as it would there.
    dev.url = f"http://localhost:{dev.port}"
    dev.start()
    yield dev
    dev.stop()


@pytest.fixture
def upstream(provider):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gatehouse_dev.demo_upstream", "--port", str(port),
                             "--provider-url", provider.url], cwd=ROOT)
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/spa/", timeout=2).status_code == 200, "demo upstream")
    yield port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def site(env, tmp_path, provider, upstream, gunicorn_server, nginx_server):
    """Start nginx -> Gatehouse (BFF in the given mode) -> demo upstream; answer nginx's URL."""
    def start(mode: str = "bff", redis_url: str | None = None, cache: bool = False) -> str:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        routes = tmp_path / f"routes-{port}.json"
        routes.write_text(json.dumps(DEMO_ROUTES))
        bff = {"mode": mode, "provider": {"type": "oidc", "clientId": "gatehouse-bff", "clientSecret": "bff-secret",
                                          "discoveryUrl": f"{provider.url}/.well-known/openid-configuration"},
               "redirectUrl": f"{base}/bff/oauth/callback", "defaultRedirectUrl": "/spa/", "refreshMarginSeconds": 0}
        extra = {**with_apps(env, tmp_path, {}, bff=bff), "ROUTES_FILE": str(routes)}
        if redis_url:
            extra["REDIS_URL"] = redis_url
        # As in production: one gunicorn group answers /auth (GATEHOUSE_ROLE=check: gevent, so the
        # refresh lock and provider calls are exercised under it), another everything else.
        gatehouse = gunicorn_server(extra, workers=2)
        check = gunicorn_server({**extra, "GATEHOUSE_ROLE": "check"}, workers=2)
        nginx_server(gatehouse, upstream, port=port, cache=cache, cache_ttl="30s", check=check)
        return base
    return start


def signed_in_spa(browser, base: str) -> tuple[Any, Page]:
    """A fresh browser context on the SPA, signed in as alice."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/spa/")
    sign_in(page)
    return context, page


def status_line(page: Page) -> str:
    return page.locator("#status").inner_text()


def sign_in(page: Page, sub: str = "alice") -> None:
    page.click("#login")
    page.click(f"button[value={sub}]")  # at the provider
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Signed in')")


def test_spa_login_api_call_and_no_token_in_the_page(browser, site, provider):
    base = site()
    context = browser.new_context()
    page = context.new_page()
    bodies: list[str] = []

    def keep(response) -> None:
        if 200 <= response.status < 300:
            try:
                bodies.append(response.text())
            except Exception:  # noqa: BLE001 - bodies of navigations that were replaced
                pass
    page.on("response", keep)

    page.goto(f"{base}/spa/")
    page.wait_for_function("document.getElementById('status').textContent === 'Not signed in.'")
    assert page.evaluate("fetch('/bff/session').then(r => r.status)") == 401
    sign_in(page)
    assert page.url == f"{base}/spa/"
    assert "Alice Admin" in status_line(page)
    assert page.evaluate("fetch('/bff/session').then(r => r.status)") == 200

    page.click("#call")
    page.wait_for_function("document.getElementById('api').textContent.startsWith('200')")
    answer = json.loads(page.locator("#api").inner_text().split(" ", 1)[1])
    assert answer["sub"] == "alice" and answer["groups"] == ["admin"] and "JWKS" in answer["verified"]

    # bff mode: no token anywhere the page can reach
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies[COOKIE]["httpOnly"] and cookies[COOKIE]["secure"] and cookies[COOKIE]["sameSite"] == "Strict"
    assert cookies[COOKIE]["path"] == "/" and not cookies[COOKIE]["domain"].startswith(".")
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert bodies and not any("eyJ" in body for body in bodies)  # no JWT in any body the page received

    # the session also opens protected pages by navigation (the Strict cookie travels same-site)
    page.goto(f"{base}/orders/1")
    assert "alice" in page.locator("body").inner_text()
    context.close()


def test_login_lands_on_a_protected_page_with_the_strict_cookie(browser, site):
    """The BFF's cookie trap (docs/bff.md): the redirect chain from the provider is cross-site, so a 302 straight to
    a protected page would arrive without the Strict cookie."""
    base = site()
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/bff/login?redirect=/orders/7%3Ftab%3D2")
    page.click("button[value=bob]")
    page.wait_for_url(f"{base}/orders/7?tab=2")
    text = page.locator("body").inner_text()
    assert "bob" in text and "users" in text  # the upstream saw bob's identity headers
    context.close()


def test_token_exchange_gives_the_page_a_short_lived_token_only(browser, site):
    base = site("tokenExchange")
    context = browser.new_context()
    page = context.new_page()
    sent: list[str | None] = []
    page.on("request", lambda r: sent.append(r.headers.get("authorization")) if "/api/" in r.url else None)
    page.goto(f"{base}/spa/")
    sign_in(page)
    body = page.evaluate("fetch('/bff/session').then(r => r.json())")
    assert body["accessToken"].startswith("eyJ") and 0 < body["expiresIn"] <= TOKEN_LIFETIME
    assert not any("refresh" in key.lower() for key in body)
    status = page.evaluate("gatehouse.fetch('/api/whoami').then(r => r.status)")
    assert status == 200 and sent and all(h and h.startswith("Bearer eyJ") for h in sent)  # attached by client.js
    assert page.evaluate("document.cookie") == "" and page.evaluate("localStorage.length") == 0
    context.close()


def test_parallel_calls_at_expiry_refresh_once(browser, site, provider):
    base = site()
    context, page = signed_in_spa(browser, base)
    before = provider.stats().get("refresh_token", 0)
    time.sleep(TOKEN_LIFETIME + 0.5)  # the access token has expired
    # Distinct URLs: the browser would otherwise queue identical GETs behind its cache lock.
    statuses = page.evaluate(
        "Promise.all(Array.from({length: 20}, (_, i) => gatehouse.fetch('/api/whoami?n=' + i).then(r => r.status)))")
    assert statuses == [200] * 20
    assert provider.stats().get("refresh_token", 0) - before == 1  # counted at the provider
    context.close()


def test_logout_ends_the_session_here_and_at_the_provider(browser, site, provider):
    base = site()
    context, page = signed_in_spa(browser, base)
    page.click("#logout")
    page.wait_for_url(f"{provider.url}/oauth2/end_session**")
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert params["post_logout_redirect_uri"] == [f"{base}/bff/logout/callback"] and params["id_token_hint"]
    page.click("button[type=submit]")  # the provider's confirmation
    page.wait_for_url(f"{base}/spa/")
    page.wait_for_function("document.getElementById('status').textContent === 'Not signed in.'")
    assert COOKIE not in {c["name"] for c in context.cookies()}
    page.click("#login")
    assert page.url.startswith(provider.url) and page.locator("button[value=alice]").is_visible()
    context.close()


def test_cross_origin_logout_is_refused_and_the_session_survives(browser, site, provider):
    base = site()
    context, page = signed_in_spa(browser, base)
    # Another site (the provider's): its form POST carries no Strict cookie, no custom header,
    # and Sec-Fetch-Site: cross-site.
    attacker = context.new_page()
    attacker.goto(f"{provider.url}/")
    with attacker.expect_navigation():
        attacker.evaluate("""url => { const f = document.createElement('form'); f.method = 'POST'; f.action = url;
                                      document.body.appendChild(f); f.submit(); }""", f"{base}/bff/logout")
    assert "403" in attacker.locator("body").inner_text() or "Forbidden" in attacker.locator("body").inner_text()
    # fetch with the custom header needs a CORS preflight, which Gatehouse never grants
    attacker.goto(f"{provider.url}/")
    outcome = attacker.evaluate("""url => fetch(url, {method: 'POST', credentials: 'include', headers: {'X-CSRF': '1'}})
                                     .then(r => 'sent ' + r.status, e => 'blocked')""", f"{base}/bff/logout")
    assert outcome == "blocked"
    assert page.evaluate("fetch('/bff/session').then(r => r.status)") == 200
    context.close()


def bff_login(base: str, sub: str = "alice") -> str:
    """The browser's part with requests (its cookie jar never sends Secure cookies over http)."""
    r = requests.get(f"{base}/bff/login", allow_redirects=False, timeout=10)
    binding = r.headers["Set-Cookie"].split(";")[0]
    at_provider = requests.post(r.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=10)
    back = requests.get(at_provider.headers["Location"], headers={"Cookie": binding}, allow_redirects=False, timeout=10)
    assert back.status_code == 200, back.text
    return re.search(rf"{COOKIE}=[^;]+", back.headers["Set-Cookie"]).group(0)


def test_redis_down_fails_closed_and_recovers(site, tmp_path):
    redis_server = RedisServer(tmp_path / "own-redis")
    redis_server.start()
    try:
        base = site(redis_url=redis_server.url)
        cookie = {"Cookie": bff_login(base), "Accept": "application/json"}
        assert requests.get(f"{base}/api/whoami", headers=cookie, timeout=10).status_code == 200
        os.kill(redis_server.proc.pid, signal.SIGSTOP)  # Redis stops answering
        try:
            api = requests.get(f"{base}/api/whoami", headers=cookie, timeout=30)
            # the check failed closed (503): nginx answers it as 503 + Retry-After, never open
            assert (api.status_code, api.headers.get("Retry-After")) == (503, "5")
            current = requests.get(f"{base}/bff/session", headers=cookie, timeout=30)
            assert current.status_code == 503 and current.json()["statusCode"] == 503
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        wait_until(lambda: requests.get(f"{base}/api/whoami", headers=cookie, timeout=10).status_code == 200,
                   "recovery", 15)
        assert requests.get(f"{base}/bff/session", headers=cookie, timeout=10).json()["authenticated"] is True
    finally:
        redis_server.stop()


def test_the_decision_cache_keys_on_the_bff_cookie(site):
    """With nginx's decision cache on, bob's BFF cookie never gets alice's cached allow (nor
    her access token): the cache key holds the whole Cookie header."""
    base = site(cache=True)
    alice, bob = bff_login(base, "alice"), bff_login(base, "bob")
    for _ in range(2):
        assert requests.get(f"{base}/admin", headers={"Cookie": alice}, timeout=10).status_code == 200
    assert requests.get(f"{base}/admin", headers={"Cookie": bob, "Accept": "application/json"},
                        timeout=10).status_code == 403
