"""Production-sized identities through the shipped nginx, under both /auth servers (uWSGI
`serve-check` over uwsgi_pass, and the gunicorn check group over proxy_pass): a BFF user with 200
groups of 40 characters whose provider access token is 16 KB, a client presenting a 16 KB bearer
token of an external issuer with 200 groups, and Gatehouse's own client-credentials token with
200 permissions. Each reaches the upstream with its identity headers; past each limit the caller
gets a 4xx that names the cause, never nginx's 500/502 or a "malformed token"."""
from __future__ import annotations

import base64
import json
import urllib.parse
import uuid

import pytest
import requests

from tests.conftest import fresh_env, with_apps
from tests.e2e.conftest import echoed, http, start_gunicorn, start_nginx, start_uwsgi_check, stop
from tests.support.echo_upstream import start_echo
from tests.e2e.test_nginx import client_token
from tests.integration.test_login import at_dev_provider
from tests.support.issuer import LocalIssuer, padding_for
from tests.support.servers import free_port

COOKIE = "__Host-gatehouse"
ROUTES = {
    "/": {"ALL": {"authorization": {"expression": "groups.users"}}},
    "/orders": {"GET": {"authorization": {"expression": "permissions.orders"}}},
}
# 200 groups of 40 characters, one of them the group the routes ask for.
GROUPS = ["users"] + [f"g{i:03d}-" + "x" * 35 for i in range(199)]
TOKEN_SIZE = 16 * 1024 + 200  # a 16 KB token: over the 16,384 characters Gatehouse once refused


@pytest.fixture(scope="module")
def issuer():
    server = LocalIssuer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def sites(redis_server, mongo_server, key_files, tmp_path_factory, dev_provider, issuer):
    """{layout: nginx base URL}: one main gunicorn group, and nginx in front of each /auth server
    (uWSGI over uwsgi_pass, gunicorn over proxy_pass); one stack for the module."""
    folder = tmp_path_factory.mktemp("large")
    port = free_port()
    (folder / "auth.json").write_text(json.dumps(ROUTES))
    bff = {"provider": {"type": "oidc", "clientId": "gatehouse-bff", "clientSecret": "bff-secret",
                        "discoveryUrl": f"{dev_provider.url}/.well-known/openid-configuration"},
           "redirectUrl": f"http://127.0.0.1:{port}/bff/oauth/callback", "defaultRedirectUrl": "/"}
    external = {"issuer": issuer.url, "audience": ["gloo-api"],
                "discovery_url": f"{issuer.url}/.well-known/openid-configuration", "claims": {"groups": ["roles"]}}
    env = fresh_env(redis_server, mongo_server, key_files)
    extra = {**with_apps(env, folder, {}, bff=bff, issuers=[external]), "ROUTES_FILE": str(folder / "auth.json")}
    echo, echo_port = start_echo()
    procs = []
    try:
        proc, main = start_gunicorn(extra, folder, workers=1)
        procs.append(proc)
        proc, gunicorn_check = start_gunicorn(extra, folder, {"GATEHOUSE_ROLE": "check"}, workers=1)
        procs.append(proc)
        proc, _, uwsgi_socket = start_uwsgi_check(extra, folder, processes=1)
        procs.append(proc)
        proc, behind_gunicorn = start_nginx(folder, main, echo_port, port=port, check=gunicorn_check)
        procs.append(proc)
        proc, behind_uwsgi = start_nginx(folder, main, echo_port, check=uwsgi_socket)
        procs.append(proc)
        yield {"gunicorn": behind_gunicorn, "uwsgi": behind_uwsgi}
    finally:
        for proc in reversed(procs):
            stop(proc)
        echo.shutdown()


def bff_login(site: str, provider_url: str, claims: dict) -> requests.Response:
    """A BFF login through nginx of a new provider user with these claims: the callback's answer."""
    sub = f"big-{uuid.uuid4().hex[:8]}"
    assert requests.put(f"{provider_url}/users/{sub}", json=claims, timeout=10).status_code == 204
    start = requests.get(f"{site}/bff/login", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    binding = next(c for c in start.raw.headers.getlist("Set-Cookie") if c.startswith("gatehouse_bff_"))
    back = at_dev_provider(start.headers["Location"], sub)
    return requests.get(f"{site}/bff/oauth/callback?{urllib.parse.urlencode(back)}", allow_redirects=False,
                        headers={"Cookie": binding.split(";")[0]}, timeout=10)


def session_cookie(page: requests.Response) -> str:
    assert page.status_code == 200, page.text[:500]
    cookie = next(c for c in page.raw.headers.getlist("Set-Cookie") if c.startswith(COOKIE + "="))
    return cookie.split(";")[0]


def seen_at_upstream(site: str, path: str, headers: dict[str, str]) -> dict[str, str]:
    status, _, body = http(f"{site}{path}", headers={"Accept": "application/json", **headers})
    assert status == 200, (site, path, status, body[:300])
    return echoed(body)["headers"]


def test_a_bff_user_with_200_groups_and_a_16_kb_provider_token_calls_the_api(sites, dev_provider):
    def provider_token(claims: dict) -> str:
        # What the dev provider signs for these user claims: the same claims in an RS256 JWT.
        return dev_provider.sign({"iss": dev_provider.url, "sub": "x" * 14, "aud": "gatehouse-bff",
                                  "client_id": "gatehouse-bff", "iat": 1, "exp": 1, "jti": "j" * 16,
                                  "scope": "openid profile email", "groups": GROUPS, **claims}, "at+jwt")

    claims = {"groups": GROUPS, "email": "a" * 40 + "@example.test", **padding_for(provider_token, TOKEN_SIZE)}
    cookie = session_cookie(bff_login(sites["gunicorn"], dev_provider.url, claims))
    for layout, site in sites.items():
        seen = seen_at_upstream(site, "/api/orders", {"Cookie": cookie})
        assert seen["miausergroups"].split(",") == sorted(GROUPS), layout
        scheme, _, token = seen["authorization"].partition(" ")
        assert scheme == "Bearer" and len(token) > 16 * 1024, (layout, len(token))
        assert json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["groups"] == GROUPS


def test_a_16_kb_bearer_token_of_an_external_issuer_with_200_groups(sites, issuer):
    def token(claims: dict) -> str:
        return issuer.token(roles=GROUPS, **claims)

    big = token(padding_for(token, TOKEN_SIZE))
    assert 16 * 1024 < len(big) < 17 * 1024
    for layout, site in sites.items():
        seen = seen_at_upstream(site, "/api/x", {"Authorization": f"Bearer {big}"})
        assert seen["miausergroups"].split(",") == sorted(GROUPS) and seen["miauserid"] == "user-1", layout
        assert seen["authorization"] == f"Bearer {big}", "the client's own token goes through"


def test_an_own_client_token_with_200_permissions(sites):
    permissions = ["orders"] + [f"p{i:03d}-" + "y" * 63 for i in range(199)]
    token, reg = client_token(sites["gunicorn"], "tracks", permissions=permissions)
    assert len(token) > 16 * 1024
    for layout, site in sites.items():
        seen = seen_at_upstream(site, "/orders", {"Authorization": f"Bearer {token}"})
        assert seen["miauserid"] == reg["client_id"], layout
