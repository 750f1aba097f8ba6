"""Offboarding through the shipped nginx: bob has a Gatehouse login session and a BFF (single-page
app) session; blocking or deleting him (admin API, `gatehouse users`) makes nginx refuse both
within the revocation bound, at every gunicorn worker, while alice keeps working. The rows of
tests/integration/test_offboarding.py that need the real edge."""
from __future__ import annotations

import json
import time
from http.cookies import SimpleCookie

import pytest
import requests

from tests.conftest import ADMIN, login_app, with_apps
from tests.integration.test_bff import COOKIE, bff_config
from tests.integration.test_login import at_dev_provider, query
from tests.integration.test_users import cli
from tests.support.servers import free_port, within

BOUND = 0.5
ROUTES = {"/": {"ALL": {"authorization": {"expression": "true"}}}}
API = {"Accept": "application/json"}


def login_session(base: str, sub: str) -> dict[str, str]:
    """A Gatehouse login through nginx: /authorize, the provider, POST /oauth/token (JSON)."""
    browser = requests.Session()
    r = browser.get(f"{base}/authorize", params={"appId": "web", "providerId": "dev", "redirect": "/"},
                    allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    done = browser.post(f"{base}/oauth/token", json=at_dev_provider(r.headers["Location"], sub), timeout=10)
    assert done.status_code == 200, done.text
    return {"Authorization": f"Bearer {done.json()['accessToken']}"}


def bff_session(base: str, sub: str) -> dict[str, str]:
    """A BFF login through nginx; the session cookie as the SPA's requests carry it."""
    browser = requests.Session()
    r = browser.get(f"{base}/bff/login", allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    back = at_dev_provider(r.headers["Location"], sub)
    binding = {k: v for k, v in r.cookies.items() if k.startswith("gatehouse_bff_")}
    page = requests.get(f"{base}/bff/oauth/callback", params=back, cookies=binding, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    jar: SimpleCookie = SimpleCookie()
    jar.load(next(h for h in page.raw.headers.getlist("Set-Cookie") if h.startswith(COOKIE)))
    return {"Cookie": f"{COOKIE}={jar[COOKIE].value}"}


def status(base: str, credential: dict[str, str]) -> int:
    return requests.get(f"{base}/api/whoami", headers={**API, **credential}, timeout=10).status_code


@pytest.fixture
def edge(env, tmp_path, dev_provider, gunicorn_server, nginx_server, echo):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    bff = {**bff_config(dev_provider.url), "redirectUrl": f"{base}/bff/oauth/callback"}
    config = {**with_apps(env, tmp_path, {"web": login_app(dev_provider.url, f"{base}/web-login/oauth/callback",
                                                            isWebsiteApp=False)}, bff=bff),
              "ROUTES_FILE": str(routes), "REVOCATION_SYNC_SECONDS": str(BOUND)}
    gatehouse = gunicorn_server(config, workers=2)
    nginx_server(gatehouse, echo, port=port)
    return base, gatehouse, config


@pytest.mark.parametrize("act", ["block (API)", "delete (CLI)"])
def test_offboarding_ends_the_login_and_the_bff_session_at_nginx(edge, act):
    base, gatehouse, config = edge
    bob = {"login session": login_session(base, "bob"), "BFF session": bff_session(base, "bob")}
    alice = {"login session": login_session(base, "alice"), "BFF session": bff_session(base, "alice")}
    for credential in (*bob.values(), *alice.values()):
        assert all(status(base, credential) == 200 for _ in range(4))  # both workers hold each
    found = requests.get(f"{gatehouse}/users", params={"providerUserId": "bob"}, headers=ADMIN, timeout=10).json()
    user_id = found[0]["userId"]
    since = time.monotonic()
    if act == "block (API)":
        answer = requests.patch(f"{gatehouse}/users/{user_id}", json={"blocked": True}, headers=ADMIN,
                                timeout=10).json()
    else:
        answer = json.loads(cli(config, "users", "delete", user_id).stdout)
    for what, credential in bob.items():
        assert within(lambda: all(status(base, credential) == 401 for _ in range(4)), BOUND + 2, since=since), \
            f"bob's {what} still passes nginx"
    assert (answer["sessionsEnded"], answer["bffSessionsEnded"]) == (1, 1), answer
    for what, credential in alice.items():
        assert status(base, credential) == 200, f"alice's {what} was ended"
