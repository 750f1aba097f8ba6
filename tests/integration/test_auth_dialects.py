"""Forward-auth dialects at /auth (docs/proxies.md "Forward-auth dialects"): the same decision whatever
proxy asks, refusals as an empty 403 with the reason in the decision log, and the spoofing guard —
at the /auth edge (app/auth_edge.py). Request shapes are those of the proxies'
documentation, not of a running proxy."""
from __future__ import annotations

import json

import pytest
from werkzeug.test import Client

from app import create_app
from app.auth_edge import AuthEdge
from app.observability import redact_uri
from app.settings import load_settings
from tests.conftest import ADMIN, LogLines, basic

ROUTES = {
    "/admin": {"ALL": {"authorization": {"expression": "permissions.admin"}}},
    "/public": {"GET": {"authorization": {"expression": "true", "public": True}}},
}
PROXY, CLIENT = "10.1.2.3", "203.0.113.7"
SECRET = "forward-auth-secret-0123456789"
TRUSTED = {"TRUSTED_PROXY_CIDRS": "10.0.0.0/8", "FORWARD_AUTH_HOSTS": "app.example.com", "DECISION_LOG": "all"}


@pytest.fixture
def lines(log_lines):
    return log_lines


def make(env, tmp_path, **extra):
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    return create_app(load_settings({**env, "ROUTES_FILE": str(routes), **extra}))


def token(app, permissions: list[str]) -> str:
    c = app.test_client()
    reg = c.post("/register", json={"client_name": "t", "permissions": permissions}, headers=ADMIN).json
    r = c.post("/oauth/token", data={"grant_type": "client_credentials"},
               headers=basic(reg["client_id"], reg["client_secret"]))
    return r.json["access_token"]


def ask(app, path: str, headers: dict[str, str], method: str = "GET", addr: str = PROXY) -> tuple[int, bytes]:
    wsgi = app.wsgi_app
    assert isinstance(wsgi, AuthEdge)
    client = Client(wsgi)
    r = client.open(path, method=method, headers=headers, environ_base={"REMOTE_ADDR": addr})
    return r.status_code, r.get_data()


def shapes(method: str, uri: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    """dialect -> (check method, check path, headers) naming the original `method uri`."""
    return {
        "nginx": ("GET", "/auth", {"X-Original-URI": uri, "X-Original-Method": method}),
        "ingress-nginx": ("GET", "/auth", {"X-Original-URL": f"https://app.example.com{uri}",
                                           "X-Original-Method": method, "X-Sent-From": "nginx-ingress-controller",
                                           "X-Auth-Request-Redirect": uri}),
        "traefik": ("GET", "/auth", {"X-Forwarded-Method": method, "X-Forwarded-Proto": "https",
                                     "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": uri}),
        "caddy": ("GET", "/auth", {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri,
                                   "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com"}),
        "envoy": (method, f"/auth/envoy{uri}", {"Host": "app.example.com"}),
    }


def test_the_decision_does_not_depend_on_the_dialect(env, tmp_path, lines) -> None:
    apps = {d: make(env, tmp_path, AUTH_DIALECTS=d, **TRUSTED)
            for d in ("nginx", "ingress-nginx", "traefik", "caddy", "envoy")}
    admin = token(apps["nginx"], ["admin"])  # one database: every app knows the client
    user = token(apps["nginx"], [])
    table = [  # credential, original method, original URI -> status (None: the dialect's allow)
        (admin, "POST", "/admin/users?x=1", None), (user, "POST", "/admin/users?x=1", 403),
        (None, "POST", "/admin/users?x=1", 401), (None, "GET", "/public", None), (None, "DELETE", "/public", 401),
    ]
    for dialect, app in apps.items():
        # Envoy's HTTP authorization service lets a request through on 200 only (204 would be the
        # client's answer); the others take any 2xx
        allow = 200 if dialect == "envoy" else 204
        for credential, method, uri, status in table:
            expected = status or allow
            check_method, path, headers = shapes(method, uri)[dialect]
            if credential:
                headers = {**headers, "Authorization": f"Bearer {credential}"}
            assert ask(app, path, headers, check_method) == (expected, b""), (dialect, method, uri)
            line = lines.docs("gatehouse.decision")[-1]
            assert (line["method"], line["uri"], line["status"]) == (method, redact_uri(uri), expected)
            assert (line["decision"] == "allow") == (status is None), line


def test_envoys_allow_is_200_with_identity_headers_and_an_empty_body(env, tmp_path) -> None:
    """Envoy's HTTP authorization service: 200 OK, the identity headers its allowed_upstream_headers
    take, Content-Length: 0 and no body; a refusal is the same as in the other dialects."""
    app = make(env, tmp_path, AUTH_DIALECTS="envoy", **TRUSTED)
    admin = token(app, ["admin"])
    client = Client(app.wsgi_app)
    r = client.get("/auth/envoy/admin/users", headers={"Host": "app.example.com", "Authorization": f"Bearer {admin}"},
                   environ_base={"REMOTE_ADDR": PROXY})
    assert (r.status_code, r.get_data(), r.headers["Content-Length"]) == (200, b"", "0")
    assert r.headers["mia-allowed"] == "1" and r.headers["mia-userid"]
    r = client.get("/auth/envoy/admin/users", headers={"Host": "app.example.com"}, environ_base={"REMOTE_ADDR": PROXY})
    assert (r.status_code, r.get_data(), r.headers["Content-Length"]) == (401, b"", "0")


def lone(lines: LogLines) -> dict:
    (line,) = lines.docs("gatehouse.decision")
    lines.lines.clear()
    return line


REFUSALS = [
    # dialect, headers, check path, reason
    ("ingress-nginx", {"X-Original-URL": "https://evil.example/admin", "X-Original-Method": "GET"}, "/auth",
     "X-Original-URL names another host"),
    ("ingress-nginx", {"X-Original-URL": "https://me@app.example.com/admin", "X-Original-Method": "GET"}, "/auth",
     "X-Original-URL has userinfo"),
    ("ingress-nginx", {"X-Original-URL": "https://app.example.com/public#/../admin", "X-Original-Method": "GET"},
     "/auth", "X-Original-URL has a fragment"),
    ("ingress-nginx", {"X-Original-URL": "ftp://app.example.com/public", "X-Original-Method": "GET"}, "/auth",
     "X-Original-URL is not an http(s) URL"),
    ("traefik", {"X-Forwarded-Uri": "/public#/admin", "X-Forwarded-Method": "GET"}, "/auth",
     "X-Forwarded-Uri has a fragment"),
    ("traefik", {"X-Forwarded-Uri": "/public", "X-Forwarded-Method": "GET", "X-Forwarded-Host": "evil.example"},
     "/auth", "X-Forwarded-Host names another host"),
    ("nginx,traefik", {"X-Original-URI": "/public", "X-Original-Method": "GET", "X-Forwarded-Uri": "/admin",
                       "X-Forwarded-Method": "GET"}, "/auth", "conflicting dialect headers (nginx, forwarded)"),
    ("nginx,envoy", {"X-Original-URI": "/public", "X-Original-Method": "GET", "Host": "app.example.com"},
     "/auth/envoy/admin", "conflicting dialect headers (nginx, envoy)"),
    ("envoy", {"Host": "app.example.com"}, "/auth", "no original request in the configured dialects (envoy)"),
    ("traefik", {"X-Forwarded-Uri": "/public", "X-Forwarded-Host": "app.example.com"}, "/auth",
     "traefik: the original method is required"),
    ("ingress-nginx", {"X-Original-URL": "https://app.example.com/public"}, "/auth",
     "ingress-nginx: the original method is required"),
]


@pytest.mark.parametrize("dialects, headers, path, reason", REFUSALS)
def test_bad_input_is_refused_403_empty(env, tmp_path, lines, dialects, headers, path, reason) -> None:
    app = make(env, tmp_path, AUTH_DIALECTS=dialects, **TRUSTED)
    assert ask(app, path, headers) == (403, b"")
    line = lone(lines)
    assert (line["status"], line["code"], line["reason"]) == (403, "bad_request", reason)
    # A refused dialect's URI is never logged as the request; a believed URI without a method is.
    believed = "/public" if reason.endswith("the original method is required") else None
    assert (line["method"], line["uri"]) == (None, believed)


def test_oauth2_proxy_advisory_spoofed_forwarded_uri(env, tmp_path, lines) -> None:
    """A client sends its own X-Forwarded-Uri: /public while nginx asks about /admin."""
    spoof = {"X-Forwarded-Uri": "/public", "X-Forwarded-Method": "GET"}
    # plain nginx (the default): the forwarded headers are no dialect Gatehouse believes
    app = make(env, tmp_path, DECISION_LOG="all")
    assert ask(app, "/auth", {"X-Original-URI": "/admin", "X-Original-Method": "GET", **spoof},
               addr=CLIENT) == (401, b"")
    line = lone(lines)
    assert (line["method"], line["uri"], line["status"]) == ("GET", "/admin", 401)
    assert ask(app, "/auth", {"X-Original-URI": "/public", "X-Original-Method": "GET"},
               addr=CLIENT) == (204, b""), "the same client on /public itself is allowed: the 401 above is /admin's"
    lines.lines.clear()
    # traefik believed only from the proxies: the client's own headers are ignored, nothing vouches
    app = make(env, tmp_path, AUTH_DIALECTS="traefik", **TRUSTED)
    assert ask(app, "/auth", spoof, addr=CLIENT) == (403, b"")
    line = lone(lines)
    assert line["reason"] == "not from a trusted proxy: no original request vouched for"
    assert (line["method"], line["uri"]) == (None, None)
    # the same headers from the proxy are believed
    assert ask(app, "/auth", {**spoof, "X-Forwarded-Host": "app.example.com"}, addr=PROXY) == (204, b"")


def test_shared_secret_header(env, tmp_path, lines) -> None:
    app = make(env, tmp_path, AUTH_DIALECTS="caddy", FORWARD_AUTH_SECRET_HEADER="X-Gatehouse-Proxy",
               FORWARD_AUTH_SECRET=SECRET, DECISION_LOG="all")
    shape = shapes("GET", "/public")["caddy"][2]
    assert ask(app, "/auth", {**shape, "X-Gatehouse-Proxy": SECRET}, addr=CLIENT) == (204, b"")
    assert lone(lines)["uri"] == "/public"
    assert ask(app, "/auth", {**shape, "X-Gatehouse-Proxy": "guess"}, addr=CLIENT) == (403, b"")
    assert lone(lines)["reason"] == "not from a trusted proxy: no original request vouched for"
    assert ask(app, "/auth", shape, addr=PROXY) == (403, b""), "no CIDR configured: the secret only"


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
API = {"Accept": "application/json"}


def answer(app, path: str, headers: dict[str, str], method: str = "GET"):
    r = Client(app.wsgi_app).open(path, method=method, headers=headers, environ_base={"REMOTE_ADDR": PROXY})
    return r.status_code, r.headers, r.get_data()


@pytest.mark.parametrize("dialect, accept, status, location", [
    ("traefik", BROWSER, 302, "/web-login?redirect=%2Fadmin%2Fusers%3Fx%3D1"),
    ("caddy", BROWSER, 302, "/web-login?redirect=%2Fadmin%2Fusers%3Fx%3D1"),
    ("envoy", BROWSER, 302, "/web-login?redirect=%2Fadmin%2Fusers%3Fx%3D1"),
    ("traefik", API, 401, None),
    ("caddy", API, 401, None),
    ("envoy", API, 401, None),
    # auth_request takes only 2xx/401/403: nginx and ingress-nginx redirect themselves
    ("nginx", BROWSER, 401, None),
    ("ingress-nginx", BROWSER, 401, None),
])
def test_login_redirect_per_dialect(env, tmp_path, lines, dialect, accept, status, location) -> None:
    app = make(env, tmp_path, AUTH_DIALECTS=dialect, **TRUSTED)
    check_method, path, headers = shapes("GET", "/admin/users?x=1")[dialect]
    got, headers_out, body = answer(app, path, {**headers, **accept}, check_method)
    assert (got, body) == (status, b"")
    assert headers_out.get("Location") == location
    if status == 302:
        assert "WWW-Authenticate" not in headers_out and headers_out["Cache-Control"] == "no-store"
    else:
        assert headers_out["WWW-Authenticate"].startswith("Bearer")
    line = lone(lines)
    assert (line["status"], line["decision"], line["uri"]) == (status, "unauthenticated", "/admin/users?x=1")


def test_login_redirect_to_a_login_host_of_its_own(env, tmp_path, lines) -> None:
    """FORWARD_AUTH_LOGIN_URL on another host (Traefik in front of several apps): the way back is
    the original absolute URL, on one of FORWARD_AUTH_HOSTS; a forbidden user is never redirected."""
    app = make(env, tmp_path, AUTH_DIALECTS="traefik", FORWARD_AUTH_LOGIN_URL="https://login.example.com/web-login",
               **TRUSTED)
    _, path, headers = shapes("GET", "/admin")["traefik"]
    got, out, _ = answer(app, path, {**headers, **BROWSER})
    assert (got, out["Location"]) == (302, "https://login.example.com/web-login?redirect="
                                           "https%3A%2F%2Fapp.example.com%2Fadmin")
    user = token(app, [])
    got, out, _ = answer(app, path, {**headers, **BROWSER, "Authorization": f"Bearer {user}"})
    assert (got, out.get("Location")) == (403, None)

