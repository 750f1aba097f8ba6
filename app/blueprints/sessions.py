"""Gatehouse login sessions: the login completion that opens one (POST /oauth/token {code, state},
which the token endpoint hands over here), /refreshtoken, /userinfo, /logout and the admin
DELETE /sessions/<userId>. The session cookies, `sid` and `refresh_token`, are set, read and
cleared here only."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, redirect, request
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from ..core.errors import BadRequest, InvalidToken
from ..core.issuer.machine_tokens import bearer_token
from ..core.login.sessions import AppConfig
from ..core.records import SESSION_COOKIE
from ..request_parsing import FORM, JSON, load_json
from ..responses import no_store, offer_start_over
from ..schemas import LoginCompletionSchema, RefreshSchema, problems
from ..services import login_service, services, session_service

bp = Blueprint("sessions", __name__)
REFRESH_COOKIE = "refresh_token"


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
    result = login_service().complete(body.get("code"), body.get("state"), request.cookies, known=offer_start_over)
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
    """`sid` and `refresh_token`: HttpOnly, Secure and SameSite as the app configures; they live
    as long as the session can be refreshed."""
    c, max_age = app.cookie, app.refresh_expires_in
    for name, value in ((SESSION_COOKIE, access), (REFRESH_COOKIE, refresh)):
        response.set_cookie(name, value, max_age=max_age, path="/", domain=c.domain, secure=c.secure,
                            httponly=True, samesite=c.same_site)


def clear_session_cookies(response: Response, app: AppConfig) -> None:
    for name in (SESSION_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path="/", domain=app.cookie.domain, secure=app.cookie.secure,
                               httponly=True, samesite=app.cookie.same_site)


def presented_session() -> str | None:
    return request.cookies.get(SESSION_COOKIE) or bearer_token(request.headers.get("Authorization"))


@bp.post("/refreshtoken")
def refresh() -> Response:
    session = session_service().refresh(refresh_token_of())
    response = jsonify(session.refresh_body())
    if session.app.is_website_app:
        set_session_cookies(response, session.app, session.access_token, session.refresh_token)
    return no_store(response)


@bp.get("/userinfo")
def userinfo() -> Response:
    sessions = session_service()
    token = presented_session()
    if not token:
        raise InvalidToken("no session")
    claims = sessions.verify(token)
    return no_store(jsonify(claims["user"]))


@bp.get("/logout")
def logout() -> Response:
    result = login_service().logout(presented_session(), request.args.get("redirect"))
    response = no_store(redirect(result.location, 302))
    clear_session_cookies(response, result.app)
    return response


@bp.delete("/sessions/<user_id>")
def revoke(user_id: str) -> Response:
    services().tokens.require_admin(request.headers.get("Authorization"))
    return jsonify({"count": session_service().revoke_user(user_id)})
