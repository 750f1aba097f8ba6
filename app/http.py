"""Request parsing shared by the views: one place that turns bad input into a 4xx."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Mapping, TypeVar
from urllib.parse import quote, urlencode

from flask import g, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response
from marshmallow import Schema, ValidationError

from .core.errors import BadRequest, GatehouseError, InvalidRequest
from .core.issuer.machine_tokens import TokenRequest
from .core.check.policy.dialects import CheckRequest
from .core.records import SESSION_COOKIE
from .core.login.sessions import AppConfig
from .schemas import LoginCompletionSchema, RefreshSchema, problems
from .services import login_services, services

FORM = "application/x-www-form-urlencoded"


def token_request() -> TokenRequest:
    """The OAuth endpoints take form bodies only (RFC 6749 §3.2)."""
    if request.mimetype != FORM:
        raise InvalidRequest(f"the body must be {FORM}")
    form = {key: request.form.getlist(key) for key in request.form.keys()}
    return TokenRequest(authorization=request.headers.get("Authorization"), form=form,
                        source=request.remote_addr or "unknown")


def load_json(schema: Schema, error: type[GatehouseError] = BadRequest) -> dict[str, Any]:
    """Validate a JSON object body with one schema."""
    body = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if not isinstance(body, dict):
        raise error("the body must be a JSON object (Content-Type: application/json)")
    try:
        return schema.load(body)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise error(problems(exc)) from exc


def load_args(schema: Schema) -> dict[str, Any]:
    """Validate the query string with one schema (a repeated parameter counts once)."""
    try:
        return schema.load(request.args.to_dict())  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise BadRequest(problems(exc)) from exc


REFRESH_COOKIE = "refresh_token"
JSON = "application/json"


R = TypeVar("R", bound=Response)


def no_store(response: R) -> R:
    """Answers that carry tokens or one-time values are never cached (RFC 6749 §5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def script_page(template: str, **context: Any) -> Response:
    """A page whose one inline script (carrying `nonce`) moves the browser on after a provider's
    redirect: the login callback and the BFF landing page. Only that script may run (CSP), it is
    never cached, and its URL (which holds the code) is never sent as a Referer."""
    nonce = secrets.token_urlsafe(16)
    response = no_store(Response(render_template(template, nonce=nonce, **context), mimetype="text/html"))
    # No form-action: browsers apply it to the redirect after the POST, which may go to an
    # allow-listed URL on another origin.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; base-uri 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def is_login_completion() -> bool:
    """POST /oauth/token serves the login completion too: a JSON body, or a form with code and
    state and no grant_type."""
    if request.mimetype == JSON:
        body = request.get_json(silent=True)
        return not (isinstance(body, dict) and "grant_type" in body)
    return request.mimetype == FORM and "grant_type" not in request.form and "state" in request.form


def login_completion() -> tuple[dict[str, Any], bool]:
    """{code, state} from JSON or a form; and whether it came as a form."""
    if request.mimetype == FORM:
        body: Any = {k: request.form.get(k) for k in request.form.keys()}
    else:
        body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with code and state")
    try:
        return LoginCompletionSchema().load(body), request.mimetype == FORM
    except ValidationError as exc:
        raise BadRequest(problems(exc)) from exc


def complete_login() -> Response:
    """POST /oauth/token with {code, state}: JSON in, JSON out; a form gets a 303."""
    g.login_flow = True
    offer_start_over(None, None)  # the login's app and target are known once its state is
    body, is_form = login_completion()
    result = login_services()[0].complete(body.get("code"), body.get("state"), request.cookies,
                                          known=offer_start_over)
    session = result.session
    if is_form:  # the callback page's POST: back to the app (cookies only for website apps)
        response = redirect(result.redirect, 303)
    else:
        response = jsonify(session.body())
        response.headers["Location"] = result.redirect
    if session.app.is_website_app:
        set_session_cookies(response, session.app, session.access_token, session.refresh_token)
    response.delete_cookie(result.binding_cookie, path="/")
    return no_store(response)


def refresh_token_of() -> str:
    """POST /refreshtoken: {refreshToken} as JSON, else the refresh_token cookie."""
    if request.mimetype == JSON or request.content_length:
        return str(load_json(RefreshSchema())["refreshToken"])
    cookie = request.cookies.get(REFRESH_COOKIE)
    if not cookie:
        raise BadRequest("send {refreshToken} as JSON or the refresh_token cookie")
    return cookie


def set_session_cookies(response: Response, app: AppConfig, access: str, refresh: str) -> None:
    """`sid` and `refresh_token`: HttpOnly, Secure and SameSite as the app configures;
    they live as long as the session can be refreshed."""
    c, max_age = app.cookie, app.refresh_expires_in
    for name, value in ((SESSION_COOKIE, access), (REFRESH_COOKIE, refresh)):
        response.set_cookie(name, value, max_age=max_age, path="/", domain=c.domain, secure=c.secure,
                            httponly=True, samesite=c.same_site)


def clear_session_cookies(response: Response, app: AppConfig) -> None:
    for name in (SESSION_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path="/", domain=app.cookie.domain, secure=app.cookie.secure,
                               httponly=True, samesite=app.cookie.same_site)


def offer_start_over(app_id: str | None, target: str | None) -> None:
    """A login error page of this request links back to the sign-in page: the login's app and
    return target when known (the target already validated: never a value the request merely
    carries), else the default app's page."""
    query = urlencode({k: v for k, v in (("appId", app_id), ("redirect", target)) if v})
    g.start_over = f"{services().settings.service_prefix}/web-login" + (f"?{query}" if query else "")


def login_page_redirect() -> str | None:
    """`redirect` (or ingress-nginx's `rd`) of /web-login. nginx's login redirect appends the
    original URI unencoded (`/web-login?redirect=/a?b=1&c=2`: nginx cannot URL-encode), so a
    value that starts with a raw `/` is everything after `redirect=`, kept byte for byte: never
    decoded, since it is already a URI (`/search?q=a%26b` must come back as it was). An encoded value
    (`redirect=%2Fa%3Fb%3D1`, `redirect=https%3A...`) or one beside `appId` without a query of
    its own is a parameter like any other, decoded once; either way it is validated."""
    raw = request.query_string.decode("latin-1")
    if raw.startswith("redirect=/"):
        target = raw[len("redirect="):]
        if "?" in target or "appId" not in request.args:
            return target
    # ingress-nginx's auth-signin appends `rd=<scheme>://<host><escaped request URI>`: the same
    # return target under its name, validated by the same validator.
    redirect, rd = request.args.get("redirect"), request.args.get("rd")
    if redirect and rd and redirect != rd:
        raise BadRequest("give the return target as redirect or as rd, not both")
    return redirect or rd


def deny_framing(response: R) -> R:
    """Every HTML page Gatehouse serves: never inside a frame of another page (clickjacking);
    CSP `frame-ancestors` for today's browsers, `X-Frame-Options` for older ones."""
    if response.mimetype == "text/html" and response.content_length != 0:  # not the check's empty answers
        response.headers["X-Frame-Options"] = "DENY"
        policy = response.headers.get("Content-Security-Policy")
        if not policy:
            response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        elif "frame-ancestors" not in policy:
            response.headers["Content-Security-Policy"] = f"{policy}; frame-ancestors 'none'"
    return response


def origin_path(path: str) -> str:
    """The path of an absolute-form request target (`http://host/auth`, RFC 9112 §3.2.2), which
    uWSGI's HTTP socket leaves whole in PATH_INFO where gunicorn parses it; any other path as it is.
    So a check path called in absolute form is a check path under either server (an empty answer)."""
    if path.startswith("/"):
        return path
    scheme, sep, rest = path.partition("://")
    if not sep or not scheme.isalpha():
        return path
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


@dataclass(frozen=True)
class SocketPeer:
    """What app/serving/uwsgi_app.py finds on each request under uWSGI, from the connection itself: the peer's
    address on the HTTP socket; None on the uwsgi socket, whose REMOTE_ADDR is whatever the sender
    wrote in its packet (nginx's `uwsgi_param REMOTE_ADDR $remote_addr`: the end client). An object,
    not a string: no request variable a sender writes can pass for it."""

    address: str | None


SOCKET_PEER = "gatehouse.socket_peer"


def socket_peer(environ: Mapping[str, Any]) -> str | None:
    """The address of the check request's real socket peer, the only one TRUSTED_PROXY_CIDRS judges:
    gunicorn's REMOTE_ADDR (its own accept's); under uWSGI (its Python plugin sets `uwsgi.version`
    itself) the SocketPeer of app/serving/uwsgi_app.py, and None without one."""
    if "uwsgi.version" not in environ:
        return environ.get("REMOTE_ADDR")
    peer = environ.get(SOCKET_PEER)
    return peer.address if isinstance(peer, SocketPeer) else None


def check_request(environ: Mapping[str, Any], prefix: str = "") -> CheckRequest:
    """The check request as the forward-auth dialects read it: the socket peer's address, method, and
    the request-target as received (gunicorn's RAW_URI; else the path re-quoted) below the prefix."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not isinstance(raw, str) or not raw.startswith("/"):
        path = (environ.get("SCRIPT_NAME") or "") + origin_path(environ.get("PATH_INFO") or "")
        query = environ.get("QUERY_STRING") or ""
        raw = quote(path.encode("latin-1", "replace"), safe="/;=,:@!$&'()*+~-._") + (f"?{query}" if query else "")
    root = (environ.get("SCRIPT_NAME") or "") + prefix
    if root and raw.startswith(root):
        raw = raw[len(root):]
    return CheckRequest(socket_peer(environ), environ.get("REQUEST_METHOD") or "", raw)
