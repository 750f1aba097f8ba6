"""Forward-auth dialects: how a proxy tells the /auth check which request it is asking about.

Each dialect is a small parser from the check request to the original request's method and URI,
or a refusal; the decision does not depend on it. What each proxy sends, when its words are
believed (trusted proxies, the secret header), why Envoy's allow is 200 and when the check itself
answers a browser 302: docs/proxies.md "Forward-auth dialects".
"""
from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from ...redirects import BadRedirect, safe_redirect

URI_HEADERS = ("X-Original-URI", "Original-Request-Uri")
METHOD_HEADERS = ("X-Original-Method", "Original-Request-Method")
DIALECTS = ("nginx", "ingress-nginx", "traefik", "caddy", "envoy")
# Traefik and Caddy send the same headers: one parser, one kind (both enabled is not a conflict).
KINDS = {"nginx": "nginx", "ingress-nginx": "ingress-nginx", "traefik": "forwarded", "caddy": "forwarded",
         "envoy": "envoy"}
ENVOY_PREFIX = "/auth/envoy"
SCHEMES = frozenset({"http", "https"})
MAX_URI = 8192
# The dialects (Original.dialect) whose proxy hands the check's own answer to the client: a
# 302 from the check reaches the browser. nginx's auth_request would make it a 500.
REDIRECTING = frozenset({"traefik", "envoy"})
# The status that lets a request through at each dialect's proxy (the others: 204).
NO_CONTENT = 204
ALLOW_STATUS = {"envoy": 200}
LOGIN_URL = "/web-login"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Headers(Protocol):
    """Case-insensitive header lookup (werkzeug's Headers, WSGIHeaders, or a dict in unit tests)."""

    def get(self, key: str) -> Any: ...


@dataclass(frozen=True)
class DialectConfig:
    """AUTH_DIALECTS, TRUSTED_PROXY_CIDRS, FORWARD_AUTH_SECRET_HEADER/_SECRET, FORWARD_AUTH_HOSTS."""

    dialects: tuple[str, ...] = ("nginx",)
    trusted_proxies: tuple[Network, ...] = ()
    secret_header: str | None = None
    secret: str | None = field(default=None, repr=False)
    # The hosts the proxies protect (lower-case `host` or `host:port`): an absolute
    # X-Original-URL, X-Forwarded-Host or Envoy's Host must name one. Empty: X-Forwarded-Host.
    hosts: tuple[str, ...] = ()
    # FORWARD_AUTH_LOGIN_URL: where the check sends a browser (Traefik, Caddy, Envoy): a path on
    # the protected host (the return target is then the original path), or an absolute URL (the
    # return target is then the original absolute URL, which must be on one of `hosts`).
    login_url: str = LOGIN_URL
    # The parsers of the believed dialects, in order, each once (computed, not configured).
    kinds: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = [d for d in self.dialects if d not in KINDS]
        if unknown:
            raise ValueError(f"unknown dialect: {', '.join(unknown)}")
        object.__setattr__(self, "kinds", tuple(dict.fromkeys(KINDS[d] for d in self.dialects)))

    @property
    def guarded(self) -> bool:
        """A trust setting is configured: dialect headers are believed only from a trusted proxy."""
        return bool(self.trusted_proxies or self.secret_header)


@dataclass(frozen=True)
class CheckRequest:
    """The check request itself as the proxy sent it: peer address, method, request-target
    (path and query, percent-encoded as received, below the service prefix)."""

    remote_addr: str | None
    method: str
    target: str


@dataclass(frozen=True)
class Original:
    """The original request a believed dialect names (either part may be missing: the
    authorizer refuses that)."""

    method: str | None
    uri: str | None
    dialect: str

    @property
    def allow_status(self) -> int:
        """The status of an allow in this dialect: the one its proxy lets the request through on."""
        return ALLOW_STATUS.get(self.dialect, NO_CONTENT)


@dataclass(frozen=True)
class Refused:
    """No original request can be believed: why."""

    reason: str


def first_header(headers: Headers, names: tuple[str, ...]) -> Any:
    """The first of `names` present with a non-empty value (each looked up once), else None."""
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return None


def nginx(headers: Headers) -> Original:
    """Plain nginx auth_request (and Mia's header names)."""
    return Original(first_header(headers, METHOD_HEADERS), first_header(headers, URI_HEADERS), "nginx")


def trusted(headers: Headers, remote_addr: str | None, cfg: DialectConfig) -> bool:
    """The check request comes from a trusted proxy (always, when no trust setting is configured)."""
    if not cfg.guarded:
        return True
    if cfg.trusted_proxies and remote_addr:
        try:
            address = ipaddress.ip_address(remote_addr)
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # an IPv4 peer of a dual-stack socket ([::]:port)
        if address is not None and any(address in net for net in cfg.trusted_proxies):
            return True
    if cfg.secret_header and cfg.secret:
        sent = headers.get(cfg.secret_header)
        if isinstance(sent, str) and hmac.compare_digest(sent.encode("utf-8", "surrogatepass"),
                                                          cfg.secret.encode("utf-8", "surrogatepass")):
            return True
    return False


def _present(kind: str, headers: Headers, request: CheckRequest) -> bool:
    if kind == "nginx":
        return first_header(headers, URI_HEADERS) is not None
    if kind == "ingress-nginx":
        return bool(headers.get("X-Original-URL"))
    if kind == "forwarded":
        return bool(headers.get("X-Forwarded-Uri") or headers.get("X-Forwarded-Method"))
    return request.target.startswith(ENVOY_PREFIX + "/")


def _host_known(host: str | None, cfg: DialectConfig, forwarded_host: str | None) -> bool:
    """`host` (host or host:port) is one the configuration (or, without one, the proxy's
    X-Forwarded-Host) names."""
    if not host:
        return False
    host = host.lower()
    allowed = cfg.hosts or ((forwarded_host.split(",")[0].strip().lower(),) if forwarded_host else ())
    bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return any(host == entry or (":" not in entry.strip("[]") and bare == entry) for entry in allowed)


def _path_problem(uri: str) -> str | None:
    if not uri.startswith("/"):
        return "is not an origin-form path"
    if "#" in uri:
        return "has a fragment"
    if len(uri) > MAX_URI or any(ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        return "has control characters, spaces or is too long"
    return None


def ingress_nginx(headers: Headers, cfg: DialectConfig) -> Original | Refused:
    """ingress-nginx `auth-url`: `X-Original-URL: $scheme://$http_host$request_uri`."""
    url = str(headers.get("X-Original-URL"))
    if "#" in url:
        return Refused("X-Original-URL has a fragment")
    if len(url) > MAX_URI or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return Refused("X-Original-URL has control characters, spaces or is too long")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        return Refused("X-Original-URL is not a URL")
    if parts.scheme.lower() not in SCHEMES:
        return Refused("X-Original-URL is not an http(s) URL")
    if "@" in parts.netloc:
        return Refused("X-Original-URL has userinfo")
    if not _host_known(parts.netloc, cfg, headers.get("X-Forwarded-Host")):
        return Refused("X-Original-URL names another host")
    uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    problem = _path_problem(uri)
    if problem:
        return Refused(f"X-Original-URL {problem}")
    return Original(headers.get("X-Original-Method") or None, uri, "ingress-nginx")


def forwarded(headers: Headers, cfg: DialectConfig) -> Original | Refused:
    """Traefik ForwardAuth / Caddy forward_auth: X-Forwarded-Method/-Uri/-Host/-Proto."""
    uri = headers.get("X-Forwarded-Uri")
    if not uri:
        return Refused("X-Forwarded-Uri is required")
    problem = _path_problem(str(uri))
    if problem:
        return Refused(f"X-Forwarded-Uri {problem}")
    proto = headers.get("X-Forwarded-Proto")
    if proto and str(proto).split(",")[0].strip().lower() not in SCHEMES:
        return Refused("X-Forwarded-Proto is not http or https")
    host = headers.get("X-Forwarded-Host")
    if cfg.hosts and not _host_known(host and str(host).split(",")[0].strip(), cfg, None):
        return Refused("X-Forwarded-Host names another host")
    return Original(headers.get("X-Forwarded-Method") or None, str(uri), "traefik")


def envoy(headers: Headers, request: CheckRequest, cfg: DialectConfig) -> Original | Refused:
    """Envoy ext_authz HTTP service: path_prefix + the original path; the check's own method."""
    uri = request.target[len(ENVOY_PREFIX):]
    problem = _path_problem(uri)
    if problem:
        return Refused(f"the path after {ENVOY_PREFIX} {problem}")
    if cfg.hosts and not _host_known(headers.get("Host"), cfg, None):
        return Refused("Host names another host")
    return Original(request.method, uri, "envoy")


def resolve(headers: Headers, request: CheckRequest, cfg: DialectConfig) -> Original | Refused:
    """The original request of a check, read in the one believed dialect the request speaks."""
    if not trusted(headers, request.remote_addr, cfg):
        return Refused("not from a trusted proxy: no original request vouched for")
    kinds = cfg.kinds
    if kinds == ("nginx",):
        return nginx(headers)  # the default: one dialect, nothing to conflict with
    present = [k for k in kinds if _present(k, headers, request)]
    if len(present) > 1:
        return Refused(f"conflicting dialect headers ({', '.join(present)})")
    if not present:
        if "nginx" in kinds:
            return nginx(headers)  # the authorizer answers what is missing, as it always has
        return Refused(f"no original request in the configured dialects ({', '.join(cfg.dialects)})")
    kind = present[0]
    if kind == "nginx":
        return nginx(headers)
    if kind == "ingress-nginx":
        return ingress_nginx(headers, cfg)
    if kind == "forwarded":
        return forwarded(headers, cfg)
    return envoy(headers, request, cfg)


def navigation(headers: Headers) -> bool:
    """A browser navigation, as nginx's `$gatehouse_browser` map reads it: `text/html` in Accept,
    or `Sec-Fetch-Mode: navigate`. API calls (JSON, fetch, curl) are not."""
    accept = headers.get("Accept")
    if isinstance(accept, str) and "text/html" in accept.lower():
        return True
    mode = headers.get("Sec-Fetch-Mode")
    return isinstance(mode, str) and mode.strip().lower() == "navigate"


def _first(value: Any) -> str:
    return str(value).split(",")[0].strip() if value else ""


def login_location(original: Original | Refused, headers: Headers, cfg: DialectConfig) -> str | None:
    """Where the check sends a browser that must log in, in a dialect whose proxy passes the
    check's answer on (Traefik, Caddy, Envoy); None: answer the 401 (another dialect, an API
    call, or a return target the redirect validator refuses)."""
    if isinstance(original, Refused) or original.dialect not in REDIRECTING or not original.uri:
        return None
    if not navigation(headers):
        return None
    target = original.uri
    if not cfg.login_url.startswith("/"):
        # The login page is on another host: the way back is the original absolute URL.
        host = _first(headers.get("X-Forwarded-Host")) if original.dialect == "traefik" else ""
        host = host or _first(headers.get("Host"))
        proto = _first(headers.get("X-Forwarded-Proto")).lower() or "https"
        target = f"{proto}://{host}{original.uri}"
    try:
        target = safe_redirect(target, (), hosts=cfg.hosts)
    except BadRedirect:
        return None
    sep = "&" if "?" in cfg.login_url else "?"
    return f"{cfg.login_url}{sep}redirect={quote(target, safe='')}"
