"""The /auth edge: the one place the answer of the nginx auth_request check is produced
(`/auth` and `/auth/...`, every method). A WSGI layer in front of Flask that answers the check
paths without Flask's per-request machinery; everything else goes to Flask untouched.

One short handler, as oauth2-proxy's AuthOnly: request id -> authorizer -> status and headers,
always an empty body (nginx keeps its upstream connection only without one). Failures are read by
app/error_answers.py `classify`, as in the Flask error handlers.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, ClassVar, Iterable, Mapping

from werkzeug.http import HTTP_STATUS_CODES

from . import observability
from .answer_memo import AnswerMemo, Kept
from .error_answers import classify
from .request_parsing import check_request, origin_path, parse_cookies
from .services import Services

# The check answers these methods; TRACE, CONNECT and unknown ones get an empty 405.
ANY = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
METHODS = frozenset(ANY)
NO_STORE = ("Cache-Control", "no-store")
CONTENT_TYPE = ("Content-Type", "text/html; charset=utf-8")
STATUS_LINES = {code: f"{code} {phrase.upper()}" for code, phrase in HTTP_STATUS_CODES.items()}
log = logging.getLogger("gatehouse.errors")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# PEP 3333: request headers are `HTTP_` + the name upper-cased with `-` as `_`, except these two.
UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
MAX_KNOWN_NAMES = 256
NO_COOKIES: Mapping[str, str] = {}


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


class AuthEdge:
    """The /auth edge in front of the Flask app `app`."""

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
        self.metrics = observability.RequestMetrics(observability.AUTH_ENDPOINT)
        size = services.settings.answer_memo_size
        self.memo = AnswerMemo(size, WSGIHeaders.keys, MAX_KNOWN_NAMES) if size > 0 else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = origin_path(environ.get("PATH_INFO") or "")
        method = environ.get("REQUEST_METHOD") or ""
        if (path == self.exact or path.startswith(self.below)) and path != self.explain:
            # Every answer on the check paths has an empty body (`/auth/`, `/auth//x` included).
            if method in METHODS:
                return self.check(environ, start_response, method)
            return self.refuse_method(start_response)
        return self.app(environ, start_response)

    @staticmethod
    def refuse_method(start_response: StartResponse) -> Iterable[bytes]:
        """TRACE, CONNECT or an unknown method at a check path: 405, empty."""
        start_response(STATUS_LINES[405], [("Allow", ", ".join(ANY)), NO_STORE, CONTENT_TYPE, ("Content-Length", "0")])
        return [b""]

    def check(self, environ: dict[str, Any], start_response: StartResponse, method: str) -> Iterable[bytes]:
        """The check: the decision's status (200 when not strict: Mia compatibility, the verdict
        is in mia-allowed) and headers; a failure's status with no-store and the failure's own
        headers (a 503's Retry-After). An allow whose basis still holds is answered from the memo."""
        started = time.perf_counter()
        request_id = observability.request_id(environ.get("HTTP_X_REQUEST_ID"))
        headers = WSGIHeaders(environ)
        authorizer = self.services.authorizer
        memo = self.memo
        key = known = None
        if memo is not None and (key := memo.key(environ)) is not None and (kept := memo.get(key)) is not None:
            known = authorizer.revisit(kept.basis)
            if known.holds:
                memo.hits += 1
                start_response(kept.status_line, [*kept.headers, ("X-Request-Id", request_id)])
                elapsed = time.perf_counter() - started
                self.metrics.observe(method, kept.status, elapsed)
                self.decisions.decided(kept.decision, headers, request_id, elapsed, kept.original)
                return [b""]
            memo.drop(key, kept)
        cookie = environ.get("HTTP_COOKIE")
        cookies = WSGICookies(cookie) if cookie else NO_COOKIES
        original = authorizer.original(headers, check_request(environ, self.prefix))
        decision = basis = None
        try:
            decision, basis = authorizer.check_with_basis(headers, cookies, original, known=known,
                                                          keep=memo is not None)
            status = decision.status if self.strict else 200
            out = list(decision.headers.items())
        except Exception as exc:  # noqa: BLE001 - classified, logged and counted; the answer is empty
            failure = classify(exc)
            if failure.unexpected:
                log.exception("unhandled error", extra={"request_id": request_id})
            status, out = failure.status, [NO_STORE, *failure.headers.items()]
            self.decisions.failed(failure.code, failure.status, failure.reason, headers, request_id,
                                  time.perf_counter() - started, failure.cause, original)
        out.append(CONTENT_TYPE)
        if status != 204:
            out.append(("Content-Length", "0"))
        if basis is not None and memo is not None:
            memo.put(environ, key, Kept(status, STATUS_LINES[status], tuple(out), decision, original, basis))
        out.append(("X-Request-Id", request_id))
        start_response(STATUS_LINES[status], out)
        elapsed = time.perf_counter() - started
        self.metrics.observe(method, status, elapsed)
        if decision is not None:
            self.decisions.decided(decision, headers, request_id, elapsed, original)
        return [b""]
