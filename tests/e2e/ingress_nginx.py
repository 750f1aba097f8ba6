"""The nginx configuration ingress-nginx generates for the example Ingress (deploy/kubernetes/
overlays/example/ingress.yaml), reproduced for Debian's nginx.

What is reproduced is the controller's template, rootfs/etc/nginx/template/nginx.tmpl of
ingress-nginx controller v1.12, and its helpers in internal/ingress/controller/template/template.go,
for the annotations the example uses: auth-url (the `/_external-auth-...` location),
auth-signin (the named `@<sha1>` location, `buildAuthSignURL`'s `rd` parameter),
auth-response-headers (`buildAuthResponseHeaders`: `auth_request_set $authHeaderN
$upstream_http_<name>` + `proxy_set_header '<Name>' $authHeaderN`), auth-proxy-set-headers
(`buildAuthProxySetHeaders`), and the protected location's own proxy headers. Left out: the Lua
balancer, metrics, ModSecurity, CORS and the other annotations' blocks, none of which touch the
check. `set_escape_uri` is ngx_set_misc's (OpenResty bundles it; Debian ships it as
libnginx-mod-http-set-misc, which scripts/test installs). Upstreams are addresses here where the
controller has its Lua balancer.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.support.servers import nginx_temp_paths

ROOT = Path(__file__).resolve().parents[2]
INGRESS = ROOT / "deploy" / "kubernetes" / "overlays" / "example" / "ingress.yaml"
MODULES = Path("/usr/lib/nginx/modules")
PREFIX = "nginx.ingress.kubernetes.io/"


CONTROLLER_CONFIG = INGRESS.parent / "ingress-nginx-configmap.yaml"


def controller_config() -> dict[str, str]:
    """The keys the example sets in the controller's own ConfigMap."""
    return dict(yaml.safe_load(CONTROLLER_CONFIG.read_text())["data"])


def example() -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The guarded Ingress's annotations, the auth-proxy-set-headers ConfigMap's data, and the
    paths of the unguarded (Gatehouse) Ingress."""
    docs = [d for d in yaml.safe_load_all(INGRESS.read_text()) if d]
    guarded = [d for d in docs if d["kind"] == "Ingress" and PREFIX + "auth-url" in d["metadata"].get("annotations", {})]
    (ingress,) = guarded
    annotations = {k[len(PREFIX):]: v for k, v in ingress["metadata"]["annotations"].items() if k.startswith(PREFIX)}
    _, _, name = annotations["auth-proxy-set-headers"].partition("/")
    (headers,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name]
    open_paths = [(p["path"], p["pathType"]) for d in docs if d["kind"] == "Ingress" and d is not ingress
                  for rule in d["spec"]["rules"] for p in rule["http"]["paths"]]
    return annotations, headers["data"], open_paths


def open_annotations() -> dict[str, str]:
    """The annotations of the unguarded Ingress (Gatehouse's own endpoints)."""
    docs = [d for d in yaml.safe_load_all(INGRESS.read_text()) if d]
    (ingress,) = [d for d in docs if d["kind"] == "Ingress"
                  and PREFIX + "auth-url" not in (d["metadata"].get("annotations") or {})]
    return {k[len(PREFIX):]: v for k, v in (ingress["metadata"].get("annotations") or {}).items()
            if k.startswith(PREFIX)}


def build_auth_sign_url(signin: str, param: str = "rd") -> str:
    """template.go buildAuthSignURL."""
    query = parse_qs(urlsplit(signin).query)
    if not query:
        return f"{signin}?{param}=$pass_access_scheme://$http_host$escaped_request_uri"
    if query.get(param):
        return signin
    return f"{signin}&{param}=$pass_access_scheme://$http_host$escaped_request_uri"


def build_auth_sign_url_location(location: str, signin: str) -> str:
    """template.go buildAuthSignURLLocation."""
    return "@" + hashlib.sha1((location + signin).encode()).hexdigest()


def build_auth_response_headers(headers: list[str]) -> list[str]:
    """template.go buildAuthResponseHeaders (proxy_set_header, not the Lua variant)."""
    lines = []
    for i, header in enumerate(headers):
        variable = header.lower().replace("-", "_")
        lines.append(f"auth_request_set $authHeader{i} $upstream_http_{variable};")
        lines.append(f"proxy_set_header '{header}' $authHeader{i};")
    return lines


def render(listen: str, gatehouse: str, check: str, upstream: str, runtime: Path,
           signin_origin: str) -> str:
    """nginx.conf for Debian's nginx: `check` answers auth-url (its host:port replaces the
    example's cluster DNS name), `signin_origin` replaces the example's https://app.example.com."""
    annotations, proxy_headers, open_paths = example()
    auth_url = urlsplit(annotations["auth-url"])
    target = f"http://{check}{auth_url.path}"
    signin = signin_origin + urlsplit(annotations["auth-signin"]).path
    response_headers = [h.strip() for h in annotations["auth-response-headers"].split(",") if h.strip()]
    # The controller's defaults where the example sets nothing (proxy-buffer-size 4k, 4 buffers;
    # large-client-header-buffers 4 8k); the ConfigMap's large-client-header-buffers is http-level.
    buffer_size = annotations.get("proxy-buffer-size", "4k")
    buffers_number = annotations.get("proxy-buffers-number", "4")
    header_buffers = controller_config().get("large-client-header-buffers", "4 8k")
    location = "/"
    auth_path = "/_external-auth-Lw-Prefix"  # buildAuthLocation: base64url("/") + pathType
    sign_location = build_auth_sign_url_location(location, signin)
    exact = [p for p, kind in open_paths if kind == "Exact"]
    prefixes = [p for p, kind in open_paths if kind == "Prefix"]
    open_locations = "".join(
        f"        location = {p} {{ include gatehouse-open.conf; }}\n" for p in exact) + "".join(
        f"        location {p} {{ include gatehouse-open.conf; }}\n" for p in prefixes)
    # nginx.tmpl's location block: proxy_buffer_size and proxy_buffers from the Ingress's
    # proxy-buffer-size / proxy-buffers-number (the controller's defaults: 4k, 4), buffering off.
    opened = open_annotations()
    buffer_size = opened.get("proxy-buffer-size", "4k")
    (runtime / "gatehouse-open.conf").write_text(
        f"proxy_buffering off;\n"
        f"proxy_buffer_size {buffer_size};\n"
        f"proxy_buffers {opened.get('proxy-buffers-number', '4')} {buffer_size};\n"
        f"proxy_set_header Host $http_host;\n"
        f"proxy_set_header X-Forwarded-For $remote_addr;\n"
        f"proxy_set_header X-Forwarded-Proto $scheme;\n"
        f"proxy_pass http://{gatehouse};\n")
    proxy_set = "".join(f"            proxy_set_header '{k}' '{v}';\n" for k, v in proxy_headers.items())
    response = "".join(f"            {line}\n" for line in build_auth_response_headers(response_headers))
    return f"""# ingress-nginx controller v1.12 template, as rendered for deploy/kubernetes/overlays/example/ingress.yaml
load_module {MODULES}/ndk_http_module.so;
load_module {MODULES}/ngx_http_set_misc_module.so;
worker_processes 1;
pid {runtime}/nginx.pid;
error_log {runtime}/error.log warn;
events {{ worker_connections 256; }}

http {{
    access_log off;
    large_client_header_buffers {header_buffers};
{nginx_temp_paths(runtime)}
    # The controller's http-level maps the locations below use.
    map $http_x_request_id $req_id {{
        default $http_x_request_id;
        "" $request_id;
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" close;
    }}

    server {{
        listen {listen};
        server_name _;

        # The Ingress without auth annotations: Gatehouse's own endpoints.
{open_locations}
        location = {auth_path} {{
            internal;

            proxy_pass_request_body     off;
            proxy_set_header            Content-Length          "";
            proxy_set_header            X-Forwarded-Proto       "";
            proxy_set_header            X-Request-ID            $req_id;

            proxy_set_header            Host                    {auth_url.hostname};
            proxy_set_header            X-Original-URL          $scheme://$http_host$request_uri;
            proxy_set_header            X-Original-Method       $request_method;
            proxy_set_header            X-Sent-From             "nginx-ingress-controller";
            proxy_set_header            X-Real-IP               $remote_addr;
            proxy_set_header            X-Forwarded-For        $remote_addr;

            proxy_set_header            X-Auth-Request-Redirect $request_uri;

            proxy_buffering                         off;
            proxy_buffer_size                       {buffer_size};
            proxy_buffers                           {buffers_number} {buffer_size};
            proxy_request_buffering                 on;

            proxy_ssl_server_name       on;
            proxy_pass_request_headers  on;
            client_max_body_size        1m;

{proxy_set}
            proxy_http_version 1.1;
            set $target {target};
            proxy_pass $target;
        }}

        location {sign_location} {{
            internal;

            add_header Set-Cookie $auth_cookie;

            return 302 {build_auth_sign_url(signin)};
        }}

        location {location} {{
            port_in_redirect off;

            set $pass_access_scheme  $scheme;
            set $pass_server_port    $server_port;
            set $best_http_host      $http_host;
            set $pass_port           $pass_server_port;

            # this location requires authentication
            auth_request        {auth_path};
            auth_request_set    $auth_cookie $upstream_http_set_cookie;
            add_header          Set-Cookie $auth_cookie;
{response}
            set_escape_uri $escaped_request_uri $request_uri;
            error_page 401 = {sign_location};

            client_max_body_size                    1m;

            proxy_set_header Host                   $best_http_host;

            # Allow websocket connections
            proxy_set_header                        Upgrade           $http_upgrade;
            proxy_set_header                        Connection        $connection_upgrade;

            proxy_set_header X-Request-ID           $req_id;
            proxy_set_header X-Real-IP              $remote_addr;
            proxy_set_header X-Forwarded-For        $remote_addr;
            proxy_set_header X-Forwarded-Host       $best_http_host;
            proxy_set_header X-Forwarded-Port       $pass_port;
            proxy_set_header X-Forwarded-Proto      $pass_access_scheme;
            proxy_set_header X-Forwarded-Scheme     $pass_access_scheme;
            proxy_set_header X-Scheme               $pass_access_scheme;

            # Pass the original X-Forwarded-For
            proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;

            # mitigate HTTPoxy Vulnerability
            proxy_set_header Proxy                  "";

            proxy_connect_timeout                   5s;
            proxy_send_timeout                      60s;
            proxy_read_timeout                      60s;

            proxy_buffering                         off;
            proxy_buffer_size                       {buffer_size};
            proxy_buffers                           {buffers_number} {buffer_size};
            proxy_request_buffering                 on;
            proxy_http_version                      1.1;

            proxy_pass http://{upstream};
        }}
    }}
}}
"""
