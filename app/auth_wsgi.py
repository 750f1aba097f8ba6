"""The lean dispatch of the /auth check: a WSGI layer in front of Flask that answers `/auth`
and `/auth/...` without Flask's per-request machinery (request and app contexts, URL
matching, session opening, before/after hooks, a Response object). Everything else goes to
Flask untouched.

It gives byte-for-byte the answers and headers of the Flask view in
app/blueprints/auth_check.py (tests/integration/test_lean_auth.py compares the two), keeps the
request id and the Prometheus samples, writes the decision log line (the access log has no
line for /auth), and answers the same empty 5xx when a dependency is down.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Callable, ClassVar, Iterable, Mapping

from werkzeug.http import HTTP_STATUS_CODES, parse_cookie

from . import observability
from .blueprints.auth_check import ANY
from .core.errors import GatehouseError
from .http import check_request
from .services import Services

ENDPOINT = observability.AUTH_ENDPOINT
METHODS = frozenset(ANY)
CONTENT_TYPE = ("Content-Type", "text/html; charset=utf-8")
STATUS_LINES = {code: f"{code} {phrase.upper()}" for code, phrase in HTTP_STATUS_CODES.items()}
log = logging.getLogger("gatehouse.errors")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# PEP 3333: request headers are `HTTP_` + the name upper-cased with `-` as `_`, except these two.
UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
MAX_KNOWN_NAMES = 256
NO_COOKIES: Mapping[str, str] = {}
# A Cookie header of plain `name=value` pairs (`; ` or `;` between them, ASCII, nothing quoted or
# padded): werkzeug's parse_cookie reads it as a split on `;` and `=` would, so it is read so.
PLAIN_COOKIES = re.compile(r'[^ \t=";]+=[^ \t";]*(?:; ?[^ \t=";]+=[^ \t";]*)*')


def environ_key(name: str) -> str:
    """The WSGI environ key of a request header."""
    key = name.upper().replace("-", "_")
    return key if key in UNPREFIXED else f"HTTP_{key}"


class WSGIHeaders:
    """The request's headers read straight from the WSGI environ: the case-insensitive `get` of
    the authorizer's Headers protocol, as werkzeug's EnvironHeaders answers it, without building
    one. The names asked are the code's and the configuration's: their keys are remembered."""

    __slots__ = ("environ",)
    keys: ClassVar[dict[str, str]] = {}

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self.environ = environ

    def get(self, name: str, default: Any = None) -> Any:
        key = self.keys.get(name)
        if key is None:
            key = environ_key(name)
            if len(self.keys) < MAX_KNOWN_NAMES:
                self.keys[name] = key
        return self.environ.get(key, default)


class WSGICookies:
    """The request's cookies, parsed when a credential source first asks for one (`get`: the
    first value of a name, as werkzeug's parse_cookie and Flask's request.cookies give it)."""

    __slots__ = ("header", "parsed")

    def __init__(self, header: str) -> None:
        self.header = header
        self.parsed: Mapping[str, str] | None = None

    def get(self, name: str, default: Any = None) -> Any:
        if self.parsed is None:
            self.parsed = parse_cookies(self.header)
        return self.parsed.get(name, default)


def parse_cookies(header: str) -> Mapping[str, str]:
    """werkzeug's reading of a Cookie header; plain pairs without its general parser."""
    if header.isascii() and PLAIN_COOKIES.fullmatch(header):
        cookies: dict[str, str] = {}
        for pair in header.split(";"):
            name, _, value = pair.lstrip(" ").partition("=")
            cookies.setdefault(name, value)
        return cookies
    return parse_cookie(header)


class LeanAuth:
    def __init__(self, app: WSGIApp, services: Services, prefix: str = "",
                 decisions: observability.DecisionLog | None = None) -> None:
        self.app = app
        self.services = services
        self.decisions = decisions or observability.DecisionLog(services.settings.decision_log)
        self.prefix = prefix
        self.exact = f"{prefix}/auth"
        self.below = f"{prefix}/auth/"
        # Left to Flask: the explain view (an admin JSON API, not a check path).
        self.explain = f"{prefix}/auth/explain"
        self.strict = services.settings.strict_mode
        # (method, status) -> adds to its Prometheus child; the latency histogram's child. Bound on
        # the first check, in the process that serves (after any fork).
        self.counters: dict[tuple[str, int], Callable[..., None]] = {}
        self.latency: Callable[[float], None] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        method = environ.get("REQUEST_METHOD") or ""
        if (path == self.exact or path.startswith(self.below)) and path != self.explain:
            # Every answer on the check paths has an empty body (`/auth/`, `/auth//x` included):
            # nginx keeps its upstream connection only without one.
            if method in METHODS:
                return self.check(environ, start_response, path, method)
            return self.refuse_method(start_response)
        return self.app(environ, start_response)

    @staticmethod
    def refuse_method(start_response: StartResponse) -> Iterable[bytes]:
        """TRACE, CONNECT or an unknown method at a check path: 405, empty."""
        start_response(STATUS_LINES[405], [("Allow", ", ".join(ANY)), ("Cache-Control", "no-store"), CONTENT_TYPE,
                                           ("Content-Length", "0")])
        return [b""]

    def check(self, environ: dict[str, Any], start_response: StartResponse, path: str,
              method: str) -> Iterable[bytes]:
        started = time.perf_counter()
        # nginx sends its $request_id (gatehouse-check-headers.conf); one is made only without it.
        supplied = environ.get("HTTP_X_REQUEST_ID")
        request_id = supplied if supplied and observability.REQUEST_ID.match(supplied) else uuid.uuid4().hex
        headers = WSGIHeaders(environ)
        cookie = environ.get("HTTP_COOKIE")
        cookies = WSGICookies(cookie) if cookie else NO_COOKIES
        authorizer = self.services.authorizer
        original = authorizer.original(headers, check_request(environ, self.prefix))
        try:
            decision = authorizer.check(headers, cookies, original)
            status = decision.status if self.strict else 200
            out = list(decision.headers.items())
        except GatehouseError as exc:
            status, out, decision = exc.status, [("Cache-Control", "no-store")], None
            self.decisions.failed(exc.error, exc.status, exc.description, headers, request_id,
                                  time.perf_counter() - started,
                                  type(exc.__cause__).__name__ if exc.__cause__ else None, original)
        except Exception:  # noqa: BLE001 - the one catch-all of this path, as Flask's
            log.exception("unhandled error", extra={"request_id": request_id})
            status, out, decision = 500, [("Cache-Control", "no-store")], None
            self.decisions.failed("internal", 500, "unhandled error (see the errors log)", headers, request_id,
                                  time.perf_counter() - started, original=original)
        out.append(CONTENT_TYPE)
        if status != 204:
            out.append(("Content-Length", "0"))
        out.append(("X-Request-Id", request_id))
        start_response(STATUS_LINES[status], out)
        elapsed = time.perf_counter() - started
        self._count(method, status, elapsed)
        if decision is not None:
            self.decisions.decided(decision, headers, request_id, elapsed, original)
        return [b""]

    def _count(self, method: str, status: int, elapsed: float) -> None:
        key = (method, status)
        add = self.counters.get(key)
        if add is None:
            add = self.counters[key] = observability.counter_tally(
                observability.REQUESTS.labels(ENDPOINT, method, str(status)))
        add()
        latency = self.latency
        if latency is None:
            latency = self.latency = observability.histogram_tally(observability.LATENCY.labels(ENDPOINT))
        latency(elapsed)
