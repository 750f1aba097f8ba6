"""The shipped example configs: Traefik's (deploy/traefik, not run here), Envoy's and the Caddyfile
(both run end to end in tests/e2e/test_forward_auth_proxies.py, Envoy's also in
tests/e2e/test_envoy.py): parsed, and checked
to point at the check path of their dialect, to pass the headers Gatehouse needs, to copy the
identity headers it answers, and to remove every identity, policy and dialect header a client may
send (the list of deploy/nginx/gatehouse-upstream-headers.conf)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from app.core.check.policy.decision import HeaderNames
from app.core.check.policy.dialects import ENVOY_PREFIX

ROOT = Path(__file__).resolve().parents[2]
TRAEFIK = ROOT / "deploy" / "traefik" / "gatehouse.yaml"
ENVOY = ROOT / "deploy" / "envoy" / "envoy.yaml"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
# Set by the proxy itself from the connection (not the client's to choose), or the client's own
# credential (goes through unless the check answers the BFF's token).
PROXY_OWN = {"host", "x-forwarded-for", "x-real-ip", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
             "authorization"}
# What the check answers for the upstream (docs/auth.md).
ANSWERED = {"mia-userid", "mia-groups", "mia-userproperties", "mia-clienttype"}
# Gatehouse's own endpoints, which a proxy must route to Gatehouse without the check.
OWN_ENDPOINTS = ("/oauth/", "/.well-known/", "/web-login", "/bff/", "/jwks", "/authorize", "/register")


def must_clear() -> set[str]:
    text = (ROOT / "deploy" / "nginx" / "gatehouse-upstream-headers.conf").read_text()
    names = {n.lower() for n, _ in re.findall(r"^proxy_set_header (\S+) (.+);$", text, re.M)}
    return names - PROXY_OWN


def test_the_list_to_clear_holds_the_dialect_and_identity_headers() -> None:
    assert {"x-forwarded-uri", "x-forwarded-method", "x-original-url", "x-original-uri", "miauserid",
            "mia-userid", "isbackoffice", "x-forwarded-user"} <= must_clear()


# --- Traefik ---------------------------------------------------------------------------------

def traefik() -> dict[str, Any]:
    return yaml.safe_load(TRAEFIK.read_text())["http"]


def test_traefik_forward_auth_points_at_the_check() -> None:
    middlewares = traefik()["middlewares"]
    forward = middlewares["gatehouse-check"]["forwardAuth"]
    address = urlsplit(forward["address"])
    assert address.scheme == "http" and address.path == "/auth" and not address.query
    assert forward["trustForwardHeader"] is False, "the client's own X-Forwarded-* never reach the check"
    assert "authRequestHeaders" not in forward, "all request headers go: cookies, client-key, Accept"
    copied = {h.lower() for h in forward["authResponseHeaders"]}
    assert ANSWERED | {HeaderNames().allowed} <= copied
    assert "authorization" not in copied, "the client's own bearer token reaches the upstream (README)"


def test_traefik_clears_client_headers_before_the_check() -> None:
    http = traefik()
    middlewares = http["middlewares"]
    chain = middlewares["gatehouse"]["chain"]["middlewares"]
    assert chain == ["gatehouse-clear", "gatehouse-check"], "cleared first: neither the check nor the upstream sees them"
    cleared = {k.lower(): v for k, v in middlewares["gatehouse-clear"]["headers"]["customRequestHeaders"].items()}
    assert set(cleared.values()) == {""}, "an empty value removes the header"
    assert must_clear() <= set(cleared)
    routers = http["routers"]
    assert routers["app"]["middlewares"] == ["gatehouse"]
    assert "middlewares" not in routers["gatehouse"] and routers["gatehouse"]["priority"] > routers["app"]["priority"]
    for path in OWN_ENDPOINTS:
        assert f"`{path}`" in routers["gatehouse"]["rule"], path


# --- Envoy -----------------------------------------------------------------------------------

def envoy_manager() -> dict[str, Any]:
    (listener,) = yaml.safe_load(ENVOY.read_text())["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    return manager["typed_config"]


def patterns(block: dict[str, Any]) -> set[str]:
    return {p["exact"] for p in block["patterns"]}


def test_envoy_ext_authz_points_at_the_envoy_dialect() -> None:
    manager = envoy_manager()
    names = [f["name"] for f in manager["http_filters"]]
    assert names == ["envoy.filters.http.header_mutation", "envoy.filters.http.ext_authz", "envoy.filters.http.router"]
    authz = manager["http_filters"][1]["typed_config"]
    assert authz["failure_mode_allow"] is False, "fail closed"
    service = authz["http_service"]
    assert service["path_prefix"] == ENVOY_PREFIX
    assert urlsplit(service["server_uri"]["uri"]).path in ("", "/")
    clusters = {c["name"] for c in yaml.safe_load(ENVOY.read_text())["static_resources"]["clusters"]}
    assert service["server_uri"]["cluster"] in clusters
    # the filter's own allowed_headers (authorization_request's is deprecated)
    assert "authorization_request" not in service
    sent = patterns(authz["allowed_headers"])
    assert {"cookie", "accept", "sec-fetch-mode", "client-key", "x-forwarded-proto"} <= sent
    upstream = patterns(service["authorization_response"]["allowed_upstream_headers"])
    assert ANSWERED | {"authorization"} <= upstream
    client = patterns(service["authorization_response"]["allowed_client_headers"])
    assert {"location", "www-authenticate", "cache-control", "retry-after"} <= client
    assert not upstream & must_clear() - ANSWERED - {HeaderNames().allowed, "x-usage-plan"}


def test_envoy_removes_client_headers_before_the_check() -> None:
    manager = envoy_manager()
    mutation = manager["http_filters"][0]["typed_config"]["mutations"]["request_mutations"]
    removed = {m["remove"] for m in mutation}
    assert must_clear() <= removed
    assert "authorization" not in removed and "cookie" not in removed
    # `mia_userid` is `mia-userid` to a WSGI upstream: no header with an underscore passes
    assert manager["common_http_protocol_options"]["headers_with_underscores_action"] == "DROP_HEADER"


def test_envoy_routes_gatehouse_endpoints_without_the_check() -> None:
    (host,) = envoy_manager()["route_config"]["virtual_hosts"]
    routes = host["routes"]
    assert routes[-1] == {"match": {"prefix": "/"}, "route": {"cluster": "app"}}, "everything else is checked"
    open_ = {r["match"].get("prefix") or r["match"].get("path"): r for r in routes[:-1]}
    for path in OWN_ENDPOINTS:
        route = open_[path]
        assert route["route"]["cluster"] == "gatehouse"
        assert route["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["disabled"] is True


# --- Caddy -----------------------------------------------------------------------------------

def test_caddyfile_clears_first_then_checks_then_proxies() -> None:
    text = CADDYFILE.read_text()
    route = text[text.index("route {"):]
    removed = {m.lower() for m in re.findall(r"^\s*request_header -(\S+)$", route, re.M)}
    assert must_clear() <= removed
    assert route.index("request_header") < route.index("forward_auth") < route.index("reverse_proxy {$UPSTREAM}")
    forward = route[route.index("forward_auth"):route.index("reverse_proxy {$UPSTREAM}")]
    assert re.search(r"^\s*uri /auth$", forward, re.M)
    assert "header_up X-Gatehouse-Proxy {$GATEHOUSE_PROXY_SECRET}" in forward
    assert re.search(r"^\s*request_header -\*_\*$", route, re.M), "no header name with _ passes"


def test_caddyfile_copies_each_answer_header_only_when_the_answer_carries_it() -> None:
    """Each upstream identity header is set from a var holding the answer header, behind a
    matcher that skips an empty var (never copy_headers: before Caddy 2.9 it sends a missing
    answer header as placeholder text)."""
    text = CADDYFILE.read_text()
    assert not re.search(r"^\s*copy_headers", text, re.M)
    answer = {var: header.lower() for var, header in
              re.findall(r"^\s*(gatehouse_\w+) \{http\.reverse_proxy\.header\.([\w-]+)\}$", text, re.M)}
    guards = dict(re.findall(r'^\s*@(\w+) not vars (\w+) ""$', text, re.M))
    copies = set()
    for matcher, name, var in re.findall(r"^\s*request_header (\S+) ([\w-]+) \{vars\.(\w+)\}$", text, re.M):
        assert matcher.startswith("@") and guards[matcher[1:]] == var, (matcher, name, var)
        copies.add((answer[var], name))
    assert copies == {("mia-userid", "miauserid"), ("mia-groups", "miausergroups"),
                      ("mia-userproperties", "miauserproperties"), ("mia-clienttype", "miaclienttype"),
                      ("mia-clienttype", "client-type"), ("x-usage-plan", "x-usage-plan")}
    assert not re.findall(r"^\s*request_header (?!-)[^@].*\{", text, re.M), "no unguarded copy"
    opened = re.search(r"@gatehouse path (.+)", text)[1].split()
    for path in OWN_ENDPOINTS:
        assert path in opened or f"{path.rstrip('/')}/*" in opened or f"{path}*" in opened, path


def test_the_caddyfile_in_docs_is_an_excerpt_of_the_shipped_file() -> None:
    """docs/proxies.md shows parts of deploy/caddy/Caddyfile: each run of lines between `# ...`
    lines is in the file as written, in the same order (one source, never a second Caddyfile)."""
    docs = (ROOT / "docs" / "proxies.md").read_text()
    section = docs[docs.index("## Caddy\n"):docs.index("## Envoy\n")]
    block = re.search(r"```caddyfile\n(.*?)```", section, re.S)[1]
    lines = CADDYFILE.read_text().splitlines()
    runs: list[list[str]] = [[]]
    for line in block.splitlines():
        if line.strip() == "# ...":
            runs.append([])
        else:
            runs[-1].append(line)
    at = 0
    for run in runs:
        while run and not run[-1].strip():
            run.pop()
        if not run:
            continue
        found = next((i for i in range(at, len(lines) - len(run) + 1) if lines[i:i + len(run)] == run), None)
        assert found is not None, f"not in deploy/caddy/Caddyfile after line {at}: {run}"
        at = found + len(run)
