"""Domain errors -> HTTP answers, in one place.

`classify` is the one reading of an exception (status, code, safe reason, cause, headers), for
the Flask error handlers below and for the /auth edge (app/auth_edge.py, whose answers are
empty). OAuth endpoints answer RFC 6749 §5.2 JSON with Cache-Control: no-store; the other JSON
endpoints answer {statusCode, error, message}; browser navigations the error page. Details are
logged; the wire gets safe text.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus

from flask import Flask, g, jsonify, render_template, request
from flask.wrappers import Response
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as AnyResponse

from .core.errors import DependencyUnavailable, GatehouseError, InvalidToken

log = logging.getLogger("gatehouse.errors")
OAUTH_BLUEPRINTS = frozenset({"token"})
OAUTH_ENDPOINTS = frozenset({"clients.register"})
INVALID_TOKEN_CHALLENGE = 'Bearer realm="gatehouse", error="invalid_token"'  # RFC 6750 §3


@dataclass(frozen=True)
class Failure:
    """An error as Gatehouse answers and logs it."""

    status: int
    code: str
    reason: str  # safe to show and to log; never the caller's credential
    cause: str | None = None  # the type name of the library error behind it
    headers: dict[str, str] = field(default_factory=dict)
    level: int = logging.INFO
    unexpected: bool = False  # a defect: logged with its traceback


def classify(exc: BaseException) -> Failure:
    """A domain error as it declares itself; anything else is an unexpected 500."""
    if isinstance(exc, GatehouseError):
        headers = dict(exc.headers)
        if isinstance(exc, InvalidToken):
            headers.setdefault("WWW-Authenticate", INVALID_TOKEN_CHALLENGE)
        return Failure(exc.status, exc.error, exc.description,
                       type(exc.__cause__).__name__ if exc.__cause__ else None, headers,
                       logging.WARNING if isinstance(exc, DependencyUnavailable) else logging.INFO)
    return Failure(500, "internal", "unhandled error (see the errors log)", level=logging.ERROR, unexpected=True)


def _is_oauth() -> bool:
    # The browser login completes at /oauth/token too, but answers like a page or Mia's JSON.
    if g.get("login_flow"):
        return False
    return request.blueprint in OAUTH_BLUEPRINTS or request.endpoint in OAUTH_ENDPOINTS


def wants_html() -> bool:
    """A browser navigation (HTML preferred over JSON) gets the error page, APIs get JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > request.accept_mimetypes["application/json"]


def render(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> Response:
    if not _is_oauth() and wants_html():
        page = render_template("error.html", status=status, phrase=HTTPStatus(status).phrase,
                               message=description, request_id=g.get("request_id"),
                               start_over=g.get("start_over"))
        response = Response(page, status=status, mimetype="text/html")
        response.headers.update(headers or {})
        response.headers["Cache-Control"] = "no-store"
        return response
    body: dict[str, object]
    if _is_oauth():
        body = {"error": code, "error_description": description}
    else:
        body = {"statusCode": status, "error": HTTPStatus(status).phrase, "message": description}
    # The id of this request's log lines (the decision log, "refused", "unhandled error"), so a
    # caller can quote it and an operator grep it.
    body["requestId"] = g.get("request_id")
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def answer(exc: GatehouseError) -> Response:
    """A domain error's wire form, logged."""
    failure = classify(exc)
    log.log(failure.level, "refused", extra={"request_id": g.get("request_id"), "error": failure.code,
                                             "status": failure.status, "detail": failure.reason,
                                             "cause": failure.cause})
    return render(failure.status, failure.code, failure.reason, failure.headers)


def replace(response: AnyResponse, exc: GatehouseError) -> None:
    """Turn an answer already made into the error's (a failure after the view, such as the
    session store failing to save): status, headers and body; no cookie it set survives."""
    failed = answer(exc)
    response.status_code = failed.status_code
    response.headers.clear()
    response.headers.update(failed.headers)
    response.set_data(failed.get_data())


def install(app: Flask) -> None:
    @app.errorhandler(GatehouseError)
    def _domain(exc: GatehouseError) -> Response:
        return answer(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = "invalid_request" if _is_oauth() and status < 500 else HTTPStatus(status).phrase.lower().replace(" ", "_")
        messages = {413: "request body is too large", 404: "no such resource",
                    405: "method not allowed", 400: "malformed request"}
        response = render(status, code, messages.get(status, HTTPStatus(status).phrase))
        valid = getattr(exc, "valid_methods", None)
        if status == 405 and valid:
            response.headers["Allow"] = ", ".join(valid)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # The one catch-all: log with the traceback, answer 500, never leak the detail.
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        return render(500, "server_error", "internal error")
