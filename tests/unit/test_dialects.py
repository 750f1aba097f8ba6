"""Forward-auth dialects (app/core/check/policy/dialects.py): the original request each proxy's check
request names, the spoofing guard and the refusals. Request shapes are recorded from each proxy's
documentation (not captured from a running proxy)."""
from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from app.core.check.policy.dialects import CheckRequest, DialectConfig, Original, Refused, resolve, trusted

SECRET = "s3cret-s3cret-s3cret"
PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
ALL = DialectConfig(dialects=("nginx", "ingress-nginx", "traefik", "caddy", "envoy"), trusted_proxies=PROXIES,
                    hosts=("app.example.com",))
ONLY = {d: DialectConfig(dialects=(d,), trusted_proxies=PROXIES, hosts=("app.example.com",))
        for d in ("nginx", "ingress-nginx", "traefik", "caddy", "envoy")}
SECRET_ONLY = DialectConfig(dialects=("traefik",), secret_header="X-Gatehouse-Secret", secret=SECRET)
PROXY = "10.1.2.3"
CLIENT = "203.0.113.7"


class H(dict):  # case-insensitive, as werkzeug's Headers
    def __init__(self, **kw: str) -> None:
        super().__init__({k.replace("_", "-").lower(): v for k, v in kw.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


def check(method: str = "GET", target: str = "/auth", addr: str = PROXY) -> CheckRequest:
    return CheckRequest(addr, method, target)


# nginx `auth_request` with proxy_set_header X-Original-URI $request_uri / X-Original-Method $request_method.
NGINX = H(X_Original_URI="/admin/users?page=2", X_Original_Method="POST", Host="gatehouse")
# ingress-nginx auth-url location (controller template rootfs/etc/nginx/template/nginx.tmpl, v1.12;
# https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#external-authentication):
# X-Original-URL $scheme://$http_host$request_uri,
# X-Original-Method, X-Sent-From, X-Real-IP, X-Forwarded-For, X-Auth-Request-Redirect $request_uri.
INGRESS = H(X_Original_URL="https://app.example.com/admin/users?page=2", X_Original_Method="POST",
            X_Sent_From="nginx-ingress-controller", X_Real_IP="198.51.100.4", X_Forwarded_For="198.51.100.4",
            X_Auth_Request_Redirect="/admin/users?page=2", Host="gatehouse.auth.svc.cluster.local")
# Traefik ForwardAuth (https://doc.traefik.io/traefik/middlewares/http/forwardauth/):
# X-Forwarded-Method/-Proto/-Host/-Uri/-For on a GET to the address.
TRAEFIK = H(X_Forwarded_Method="POST", X_Forwarded_Proto="https", X_Forwarded_Host="app.example.com",
            X_Forwarded_Uri="/admin/users?page=2", X_Forwarded_For="198.51.100.4")
# Caddy forward_auth (https://caddyserver.com/docs/caddyfile/directives/forward_auth): GET with
# X-Forwarded-Method {method}, X-Forwarded-Uri {uri}, and reverse_proxy's
# X-Forwarded-For/-Proto/-Host.
CADDY = H(X_Forwarded_Method="POST", X_Forwarded_Uri="/admin/users?page=2", X_Forwarded_Proto="https",
          X_Forwarded_Host="app.example.com", X_Forwarded_For="198.51.100.4")
# Envoy ext_authz http_service, path_prefix /auth/envoy
# (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_authz/v3/ext_authz.proto):
# the original method and path, Host the
# original :authority, Content-Length 0.
ENVOY = H(Host="app.example.com", Content_Length="0")


@pytest.mark.parametrize("dialect, headers, request_", [
    ("nginx", NGINX, check()),
    ("ingress-nginx", INGRESS, check()),
    ("traefik", TRAEFIK, check()),
    ("caddy", CADDY, check()),
    ("envoy", ENVOY, check("POST", "/auth/envoy/admin/users?page=2")),
])
@pytest.mark.parametrize("cfg", ["only", "all"])
def test_each_dialect_names_the_same_original_request(dialect, headers, request_, cfg) -> None:
    got = resolve(headers, request_, ONLY[dialect] if cfg == "only" else ALL)
    assert isinstance(got, Original), got
    assert (got.method, got.uri) == ("POST", "/admin/users?page=2")
    # what lets the request through at this proxy: Envoy's HTTP authorization service takes 200
    # only (any other status is its client's answer); nginx, Traefik and Caddy any 2xx
    assert got.allow_status == (200 if dialect == "envoy" else 204)


@pytest.mark.parametrize("name, headers, request_, cfg, reason", [
    # ingress-nginx: X-Original-URL must be an http(s) URL of a protected host, nothing hidden in it.
    ("other host", H(X_Original_URL="https://evil.example/admin", X_Original_Method="GET"), check(),
     ONLY["ingress-nginx"], "X-Original-URL names another host"),
    ("userinfo", H(X_Original_URL="https://app.example.com@evil.example/admin", X_Original_Method="GET"), check(),
     ONLY["ingress-nginx"], "X-Original-URL has userinfo"),
    ("userinfo, right host", H(X_Original_URL="https://u:p@app.example.com/admin", X_Original_Method="GET"),
     check(), ONLY["ingress-nginx"], "X-Original-URL has userinfo"),
    ("fragment", H(X_Original_URL="https://app.example.com/public#/../admin", X_Original_Method="GET"), check(),
     ONLY["ingress-nginx"], "X-Original-URL has a fragment"),
    ("scheme", H(X_Original_URL="javascript://app.example.com/admin", X_Original_Method="GET"), check(),
     ONLY["ingress-nginx"], "X-Original-URL is not an http(s) URL"),
    ("relative", H(X_Original_URL="/admin", X_Original_Method="GET"), check(),
     ONLY["ingress-nginx"], "X-Original-URL is not an http(s) URL"),
    ("bad port", H(X_Original_URL="https://app.example.com:99999/admin", X_Original_Method="GET"), check(),
     ONLY["ingress-nginx"], "X-Original-URL is not a URL"),
    ("space", H(X_Original_URL="https://app.example.com/a dmin", X_Original_Method="GET"), check(),
     ONLY["ingress-nginx"], "X-Original-URL has control characters, spaces or is too long"),
    ("no host to check", H(X_Original_URL="https://app.example.com/admin", X_Original_Method="GET"), check(),
     DialectConfig(dialects=("ingress-nginx",), trusted_proxies=PROXIES), "X-Original-URL names another host"),
    # Traefik / Caddy
    ("fragment trick", H(X_Forwarded_Method="GET", X_Forwarded_Uri="/public#/admin"), check(), ONLY["traefik"],
     "X-Forwarded-Uri has a fragment"),
    ("absolute uri", H(X_Forwarded_Method="GET", X_Forwarded_Uri="https://evil/admin"), check(), ONLY["caddy"],
     "X-Forwarded-Uri is not an origin-form path"),
    ("method only", H(X_Forwarded_Method="GET"), check(), ONLY["traefik"], "X-Forwarded-Uri is required"),
    ("proto", H(X_Forwarded_Method="GET", X_Forwarded_Uri="/a", X_Forwarded_Proto="gopher"), check(),
     ONLY["traefik"], "X-Forwarded-Proto is not http or https"),
    ("forwarded host", H(X_Forwarded_Method="GET", X_Forwarded_Uri="/a", X_Forwarded_Host="evil.example"), check(),
     ONLY["traefik"], "X-Forwarded-Host names another host"),
    # Envoy
    ("envoy host", H(Host="evil.example"), check("GET", "/auth/envoy/admin"), ONLY["envoy"],
     "Host names another host"),
    ("envoy fragment", H(Host="app.example.com"), check("GET", "/auth/envoy/a#b"), ONLY["envoy"],
     "the path after /auth/envoy has a fragment"),
    # Conflicting dialect headers in one request
    ("nginx + traefik", H(X_Original_URI="/public", X_Original_Method="GET", X_Forwarded_Uri="/admin",
                          X_Forwarded_Method="GET"), check(), ALL, "conflicting dialect headers (nginx, forwarded)"),
    ("ingress + nginx", H(X_Original_URL="https://app.example.com/admin", X_Original_URI="/public",
                          X_Original_Method="GET"), check(), ALL,
     "conflicting dialect headers (nginx, ingress-nginx)"),
    ("envoy + traefik", H(Host="app.example.com", X_Forwarded_Uri="/public", X_Forwarded_Method="GET"),
     check("GET", "/auth/envoy/admin"), ALL, "conflicting dialect headers (forwarded, envoy)"),
    # None of the configured dialects spoken
    ("nothing", H(X_Original_URI="/admin", X_Original_Method="GET"), check(), ONLY["traefik"],
     "no original request in the configured dialects (traefik)"),
    # The guard
    ("untrusted address", TRAEFIK, check(addr=CLIENT), ONLY["traefik"],
     "not from a trusted proxy: no original request vouched for"),
    ("untrusted nginx", NGINX, check(addr=CLIENT), ONLY["nginx"],
     "not from a trusted proxy: no original request vouched for"),
    ("wrong secret", H(X_Gatehouse_Secret="guess", **{k.replace("-", "_"): v for k, v in TRAEFIK.items()}),
     check(addr=PROXY), SECRET_ONLY, "not from a trusted proxy: no original request vouched for"),
])
def test_refusals(name, headers, request_, cfg, reason) -> None:
    assert resolve(headers, request_, cfg) == Refused(reason)


def test_oauth2_proxy_advisory_a_clients_forwarded_uri_is_not_believed() -> None:
    """A client's own X-Forwarded-Uri: /public on a request for /admin."""
    spoof = H(X_Original_URI="/admin", X_Original_Method="GET", X_Forwarded_Uri="/public", X_Forwarded_Method="GET")
    # plain nginx: the forwarded headers are not a dialect Gatehouse believes; /admin is decided
    assert resolve(spoof, check(addr=CLIENT), DialectConfig()) == Original("GET", "/admin", "nginx")
    # traefik from an untrusted address: ignored, and nothing else vouches for the request
    assert isinstance(resolve(spoof, check(addr=CLIENT), ONLY["traefik"]), Refused)


def test_trust_by_address_and_by_secret() -> None:
    assert trusted(H(), CLIENT, DialectConfig())  # no trust setting: today's nginx behaviour
    assert trusted(H(), "10.9.9.9", ONLY["traefik"]) and trusted(H(), "fd00::1", ONLY["traefik"])
    assert not trusted(H(), CLIENT, ONLY["traefik"]) and not trusted(H(), None, ONLY["traefik"])
    assert not trusted(H(), "not-an-ip", ONLY["traefik"])
    assert trusted(H(), "::ffff:10.9.9.9", ONLY["traefik"])  # an IPv4 peer of a dual-stack socket
    assert not trusted(H(), "::ffff:192.0.2.1", ONLY["traefik"])
    assert trusted(H(X_Gatehouse_Secret=SECRET), CLIENT, SECRET_ONLY)
    assert not trusted(H(X_Gatehouse_Secret=SECRET[:-1]), CLIENT, SECRET_ONLY)
    assert not trusted(H(), PROXY, SECRET_ONLY)
    got = resolve(H(X_Gatehouse_Secret=SECRET, X_Forwarded_Method="GET", X_Forwarded_Uri="/a"), check(addr=CLIENT),
                  SECRET_ONLY)
    assert got == Original("GET", "/a", "traefik")


def test_details() -> None:
    # ingress-nginx without configured hosts: the proxy's X-Forwarded-Host; a port may be named
    cfg = DialectConfig(dialects=("ingress-nginx",), trusted_proxies=PROXIES)
    assert resolve(H(X_Original_URL="http://App.Example.com:8080", X_Original_Method="get",
                     X_Forwarded_Host="app.example.com:8080"), check(), cfg) == Original("get", "/", "ingress-nginx")
    assert resolve(H(X_Original_URL="https://app.example.com:443/x", X_Original_Method="GET"), check(),
                   ONLY["ingress-nginx"]) == Original("GET", "/x", "ingress-nginx")
    # plain nginx only, nothing sent: the authorizer says what is missing, as before
    assert resolve(H(), check(), DialectConfig()) == Original(None, None, "nginx")
    # envoy disabled: /auth/envoy/... is an ordinary check path for nginx
    assert resolve(NGINX, check("GET", "/auth/envoy/x"), ONLY["nginx"]) == Original(
        "POST", "/admin/users?page=2", "nginx")
    # the percent-encoding of Envoy's path is kept as received
    assert resolve(ENVOY, check("DELETE", "/auth/envoy/a%2Fb?q=%20"), ONLY["envoy"]) == Original(
        "DELETE", "/a%2Fb?q=%20", "envoy")


def test_config_knows_its_dialects() -> None:
    assert ALL.kinds == ("nginx", "ingress-nginx", "forwarded", "envoy")
    with pytest.raises(ValueError, match="unknown dialect: haproxy"):
        DialectConfig(dialects=("nginx", "haproxy"))


# The check's own login redirect (Traefik, Caddy, Envoy pass the check's answer to the client).
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
ABSOLUTE = DialectConfig(dialects=("traefik", "envoy"), trusted_proxies=PROXIES, hosts=("app.example.com",),
                         login_url="https://login.example.com/web-login?appId=web")


def _login(headers: dict[str, str], request_: CheckRequest, cfg: DialectConfig) -> str | None:
    from app.core.check.policy.dialects import login_location
    both = H(**{k.replace("-", "_"): v for k, v in headers.items()})
    return login_location(resolve(both, request_, cfg), both, cfg)


@pytest.mark.parametrize("name, headers, request_, cfg, location", [
    ("traefik browser", {**TRAEFIK, **BROWSER}, check(), ONLY["traefik"], "/web-login?redirect=%2Fadmin%2Fusers%3Fpage%3D2"),
    ("caddy browser", {**CADDY, **BROWSER}, check(), ONLY["caddy"], "/web-login?redirect=%2Fadmin%2Fusers%3Fpage%3D2"),
    ("envoy browser", {**ENVOY, **BROWSER}, check("GET", "/auth/envoy/admin"), ONLY["envoy"],
     "/web-login?redirect=%2Fadmin"),
    ("navigate without html", {**TRAEFIK, "sec-fetch-mode": "navigate"}, check(), ONLY["traefik"],
     "/web-login?redirect=%2Fadmin%2Fusers%3Fpage%3D2"),
    ("login on another host: the absolute URL back", {**TRAEFIK, **BROWSER}, check(), ABSOLUTE,
     "https://login.example.com/web-login?appId=web&redirect=https%3A%2F%2Fapp.example.com%2Fadmin%2Fusers%3Fpage%3D2"),
    ("envoy, login on another host: Host names the way back", {**ENVOY, "x-forwarded-proto": "http", **BROWSER},
     check("GET", "/auth/envoy/a"), ABSOLUTE,
     "https://login.example.com/web-login?appId=web&redirect=http%3A%2F%2Fapp.example.com%2Fa"),
    ("api call", {**TRAEFIK, "accept": "application/json"}, check(), ONLY["traefik"], None),
    ("no accept", TRAEFIK, check(), ONLY["traefik"], None),
    ("nginx answers its own redirect", {**NGINX, **BROWSER}, check(), ONLY["nginx"], None),
    ("ingress-nginx uses auth-signin", {**INGRESS, **BROWSER}, check(), ONLY["ingress-nginx"], None),
    ("refused dialect", {**TRAEFIK, "x-forwarded-uri": "/a#b", **BROWSER}, check(), ONLY["traefik"], None),
    ("protocol-relative original: the validator refuses the way back", {**TRAEFIK, "x-forwarded-uri": "//evil.example/x",
     **BROWSER}, check(), ONLY["traefik"], None),
    ("absolute way back to a host not protected", {**TRAEFIK, "x-forwarded-host": "evil.example", **BROWSER}, check(),
     DialectConfig(dialects=("traefik",), trusted_proxies=PROXIES, login_url="https://login.example.com/l"), None),
])
def test_login_redirect_for_browsers_in_the_passing_dialects(name, headers, request_, cfg, location) -> None:
    assert _login(headers, request_, cfg) == location
