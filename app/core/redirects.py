"""The one validator for every redirect target Gatehouse sends a browser to (SPEC §4, §10).

Accepted: a relative path on our own origin (`/orders?x=1`), or an absolute URL whose
scheme, host, port and path (query ignored) equal an entry of the allow-list. Refused:
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


def safe_redirect(target: str | None, allowed: tuple[str, ...], default: str = "/") -> str:
    """The target when it is safe, the default when none is given; BadRedirect otherwise."""
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
    if any(_without_query(entry) == wanted for entry in allowed):
        return target
    raise BadRedirect("redirect is not in the allowed list")


def origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL, as written."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
