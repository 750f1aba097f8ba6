"""The one validator for every redirect target Gatehouse sends a browser to.

Accepted: a relative path on our own origin (`/orders?x=1`), an absolute URL whose
scheme, host, port and path (query ignored) equal an entry of the allow-list, or an absolute
http(s) URL, any path, on one of the hosts the forward-auth proxies protect (FORWARD_AUTH_HOSTS:
ingress-nginx's `rd` and the check's own login redirect name the original URL). Refused:
protocol-relative (`//evil`), backslash tricks (`/\\evil`), `javascript:` and every other
scheme, control characters, and any host not listed.
"""
from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from .errors import BadRequest

MAX_REDIRECT_LENGTH = 2048


class BadRedirect(BadRequest):
    error = "invalid_redirect"


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:  # bad IPv6 brackets, NFKC tricks in the host
        raise BadRedirect("redirect is not a valid URL") from exc


def _without_query(url: str) -> tuple[str, str, int | None, str]:
    parts = _split(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise BadRedirect("redirect has an invalid port") from exc
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path or "/"


def _on_host(parts: SplitResult, hosts: tuple[str, ...]) -> bool:
    """`parts` names one of `hosts` (lower-case `host` or `host:port`; a bare host takes any port)."""
    netloc = parts.netloc.lower()
    bare = (parts.hostname or "").lower()
    if parts.hostname and ":" in parts.hostname:  # IPv6 literal: urlsplit drops the brackets
        bare = f"[{bare}]"
    # An entry names a port when it has a `:` outside IPv6 brackets.
    return any(netloc == h or (bare == h and (h.endswith("]") or ":" not in h)) for h in hosts)


def safe_redirect(target: str | None, allowed: tuple[str, ...], default: str = "/",
                  hosts: tuple[str, ...] = ()) -> str:
    """The target when it is safe, the default when none is given; BadRedirect otherwise.
    `hosts`: the hosts the forward-auth proxies protect, any path on them is accepted."""
    if target is None or target == "":
        return default
    if len(target) > MAX_REDIRECT_LENGTH:
        raise BadRedirect("redirect is too long")
    if any(ord(c) < 0x21 or ord(c) == 0x7f for c in target) or "\\" in target:
        raise BadRedirect("redirect contains forbidden characters")
    if target.startswith("/"):
        # "//host" and "/\host" are absolute URLs to a browser; only single-slash paths stay here.
        if target.startswith("//"):
            raise BadRedirect("redirect must not be protocol-relative")
        return target
    parts = _split(target)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or parts.username or parts.password:
        raise BadRedirect("redirect must be a relative path or an allowed URL")
    wanted = _without_query(target)
    if hosts and _on_host(parts, hosts):
        return target
    if any(_without_query(entry) == wanted for entry in allowed):
        return target
    raise BadRedirect("redirect is not in the allowed list")


def origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL, as written."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
