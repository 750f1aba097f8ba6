"""Gatehouse login sessions (docs/login.md "The flow"): /refreshtoken, /userinfo, /logout and the admin
DELETE /sessions/<userId>."""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect, request
from werkzeug.wrappers import Response

from ..core.errors import InvalidToken
from ..core.login.flow import LoginService
from ..core.issuer.machine_tokens import bearer_token
from ..core.login.sessions import SessionService
from ..http import SESSION_COOKIE, clear_session_cookies, no_store, refresh_token_of, set_session_cookies
from ..services import login_services, services

bp = Blueprint("sessions", __name__)


def session_service() -> SessionService:
    return login_services()[1]


def login_service() -> LoginService:
    return login_services()[0]


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

