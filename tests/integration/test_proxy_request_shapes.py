"""Check requests recorded from the proxies' documentation, built with the values of the shipped
example configs (deploy/traefik, deploy/envoy), and sent to the real app's one /auth edge.
Traefik cannot be installed here: this is its only test. Envoy runs for real too
(tests/e2e/test_forward_auth_proxies.py, tests/e2e/test_envoy.py).

* Traefik ForwardAuth, https://doc.traefik.io/traefik/middlewares/http/forwardauth/ : a GET to
  `address` carrying the client's request headers (all of them when `authRequestHeaders` is not
  set) and "X-Forwarded-Method, X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Uri,
  X-Forwarded-For" of the original request; a 2xx copies `authResponseHeaders` onto the request,
  any other answer is returned to the client.
* Envoy ext_authz HTTP service,
  https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_authz/v3/ext_authz.proto
  (HttpService.path_prefix: "Sets a prefix to the value of authorization request header Path";
  ExtAuthz.allowed_headers, to which Host, Method, Path, Content-Length and Authorization are
  added; AuthorizationResponse.allowed_upstream_headers / allowed_client_headers) and
  https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/ext_authz_filter :
  the original method, path_prefix + the original path, the original :authority as Host, no body;
  only a 200 answer lets the request through.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from werkzeug.test import Client

from tests.integration.test_auth_dialects import CLIENT, PROXY, make, token

ROOT = Path(__file__).resolve().parents[2]
TRAEFIK = yaml.safe_load((ROOT / "deploy" / "traefik" / "gatehouse.yaml").read_text())["http"]
FORWARD = TRAEFIK["middlewares"]["gatehouse-check"]["forwardAuth"]
ENVOY_FILTER = yaml.safe_load((ROOT / "deploy" / "envoy" / "envoy.yaml").read_text())[
    "static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"][1][
    "typed_config"]
ENVOY_AUTHZ = ENVOY_FILTER["http_service"]
# What lets the request through: Traefik takes any 2xx (the check's 204), Envoy 200 only.
ALLOW = {"traefik": 204, "envoy": 200}
HOST = "app.example.com"
TRUSTED = {"TRUSTED_PROXY_CIDRS": "10.0.0.0/8", "FORWARD_AUTH_HOSTS": HOST}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def traefik_request(method: str, uri: str, client: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    """(check method, check path, headers) Traefik sends for `method uri` with the client's headers."""
    return "GET", urlsplit(FORWARD["address"]).path, {
        **client, "X-Forwarded-Method": method, "X-Forwarded-Proto": "https", "X-Forwarded-Host": HOST,
        "X-Forwarded-Uri": uri, "X-Forwarded-For": "198.51.100.4"}


def envoy_request(method: str, uri: str, client: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    """What Envoy sends: the client headers allowed_headers names (and Authorization), Host, no body."""
    allowed = {p["exact"] for p in ENVOY_FILTER["allowed_headers"]["patterns"]}
    sent = {k: v for k, v in client.items() if k.lower() in allowed | {"authorization"}}
    return method, ENVOY_AUTHZ["path_prefix"] + uri, {**sent, "Host": HOST, "Content-Length": "0",
                                                      "X-Forwarded-Proto": "https"}


SHAPES = {"traefik": traefik_request, "envoy": envoy_request}


def send(app, shape, addr: str = PROXY):
    method, path, headers = shape
    wsgi = app.wsgi_app
    r = Client(wsgi).open(path, method=method, headers=headers, environ_base={"REMOTE_ADDR": addr})
    return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.get_data()


def passed_upstream(proxy: str) -> set[str]:
    if proxy == "traefik":
        return {h.lower() for h in FORWARD["authResponseHeaders"]}
    return {p["exact"] for p in ENVOY_AUTHZ["authorization_response"]["allowed_upstream_headers"]["patterns"]}


def passed_to_client(proxy: str, answer: dict[str, str]) -> set[str]:
    if proxy == "traefik":
        return set(answer)  # Traefik returns the check's answer as it is
    return {p["exact"] for p in ENVOY_AUTHZ["authorization_response"]["allowed_client_headers"]["patterns"]}


@pytest.mark.parametrize("proxy", ["traefik", "envoy"])
def test_documented_request_shapes(env, tmp_path, proxy) -> None:
    app = make(env, tmp_path, AUTH_DIALECTS=proxy, **TRUSTED)
    admin, user = token(app, ["admin"]), token(app, [])
    shape = SHAPES[proxy]

    # allowed: the identity headers of the answer are among those the shipped config copies
    status, answer, body = send(app, shape("POST", "/admin/users?x=1", {"Authorization": f"Bearer {admin}",
                                                                         "Accept": "application/json"}))
    assert (status, body) == (ALLOW[proxy], b"")
    if status == 200:
        assert answer["content-length"] == "0", "an empty 200 says so"
    identity = {h for h in answer if h.startswith("mia-")}
    assert "mia-userid" in identity and identity <= passed_upstream(proxy)

    # an API call without a credential: the empty 401 with its challenge, which reaches the client
    status, answer, body = send(app, shape("GET", "/admin", {"Accept": "application/json"}))
    assert (status, body, "location" in answer) == (401, b"", False)
    assert answer["www-authenticate"].startswith("Bearer") and "www-authenticate" in passed_to_client(proxy, answer)

    # a browser navigation: the check's 302 to the login page, the original URI to come back to
    status, answer, body = send(app, shape("GET", "/admin?tab=2", {"Accept": BROWSER}))
    assert (status, answer["location"]) == (302, "/web-login?redirect=%2Fadmin%3Ftab%3D2")
    assert "location" in passed_to_client(proxy, answer)

    # a caller without the permission: 403, never a redirect
    status, answer, _ = send(app, shape("GET", "/admin", {"Authorization": f"Bearer {user}", "Accept": BROWSER}))
    assert (status, answer.get("location")) == (403, None)

    # the same request from an address that is not the proxy's: nothing is believed
    status, _, _ = send(app, shape("GET", "/public", {"Accept": "application/json"}), addr=CLIENT)
    assert status == 403
    assert send(app, shape("GET", "/public", {"Accept": "application/json"}))[0] == ALLOW[proxy]
