"""Backend-for-Frontend endpoints (SPEC §2.3): login, callback, session, logout, the provider's
back-channel logout and the JavaScript client. The session lives in Redis through flask-session;
the browser holds only the opaque `__Host-` cookie."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, jsonify, redirect, request, session
from werkzeug.wrappers import Response

from ..adapters.bff_sessions import UNAVAILABLE, BffSessionInterface
from ..core.bff import BffService
from ..core.errors import DependencyUnavailable, Forbidden, LoginFailed, NotFound
from ..http import no_store, script_page
from ..services import services

bp = Blueprint("bff", __name__)
CLIENT_JS = Path(__file__).resolve().parent.parent.parent / "templates" / "bff" / "client.js"


def bff_service() -> BffService:
    svc = services().bff
    if svc is None:
        raise NotFound("the BFF is not configured")
    return svc


def _session_store_up() -> None:
    if request.environ.get(UNAVAILABLE):
        raise DependencyUnavailable("Redis is unavailable")


def require_same_origin(bff: BffService) -> None:
    """CSRF defence for POST /bff/* (core/bff.py: a custom header and the app's origin)."""
    problem = bff.csrf_problem(request.headers)
    if problem:
        raise Forbidden(problem)


def callback_path() -> str:
    return f"{services().settings.service_prefix}/bff/oauth/callback"


@bp.get("/bff/login")
def login() -> Response:
    bff = bff_service()
    start = bff.start(request.args.get("redirect"))
    response = no_store(redirect(start.url, 302))
    # Lax, short-lived: it must come back on the provider's cross-site redirect to the callback,
    # which the Strict session cookie does not (SPEC §5).
    response.set_cookie(start.cookie_name, start.cookie_value, max_age=start.ttl, path=callback_path(),
                        httponly=True, secure=True, samesite="Lax")
    return response


@bp.get("/bff/oauth/callback")
def callback() -> Response:
    bff = bff_service()
    _session_store_up()
    if request.args.get("error"):
        raise LoginFailed("the identity provider did not complete the login")
    result = bff.complete(request.args.get("code"), request.args.get("state"), request.cookies)
    interface = current_app.session_interface
    assert isinstance(interface, BffSessionInterface)
    interface.regenerate_id(session)  # never keep an id from before the login
    session.clear()
    session.update(result.document)
    bff.opened(session.sid, result.document)  # type: ignore[attr-defined]
    # A page, not a 302: the navigation it starts is same-site, so the new Strict cookie is sent
    # with it (a redirect chain that began at the provider would count as cross-site).
    response = script_page("bff/landing.html", target=result.redirect)
    response.delete_cookie(result.binding_cookie, path=callback_path(), secure=True, httponly=True,
                           samesite="Lax")
    return response


@bp.get("/bff/session")
def current_session() -> Response:
    bff = bff_service()
    _session_store_up()
    sid = getattr(session, "sid", None)
    active = bff.active(sid, dict(session)) if session else None
    body = bff.session_view(active)
    if body is None:
        response = jsonify({"authenticated": False})
        response.status_code = 401
        return no_store(response)
    return no_store(jsonify(body))


@bp.post("/bff/logout")
def logout() -> Response:
    bff = bff_service()
    require_same_origin(bff)
    _session_store_up()
    body = request.get_json(silent=True) if request.mimetype == "application/json" else None
    wanted = body.get("redirect") if isinstance(body, dict) and isinstance(body.get("redirect"), str) else None
    sid = getattr(session, "sid", None)
    document = dict(session) if session else None
    if session and sid:
        bff.end([sid])  # first: whatever happens at the provider, the session is over here
    session.clear()  # flask-session deletes the document (already gone) and its cookie
    location = bff.logout(sid, document, wanted)
    response = no_store(jsonify({"location": location}))
    # A __Host- cookie is only replaced by one that is Secure too (flask-session's is not).
    response.delete_cookie(bff.cfg.cookie_name, path="/", secure=True, httponly=True, samesite="Strict")
    return response


@bp.get("/bff/logout/callback")
def logout_callback() -> Response:
    return no_store(redirect(bff_service().logout_landing(request.args.get("state")), 302))


@bp.post("/bff/backchannel-logout")
def backchannel_logout() -> Response:
    bff = bff_service()
    token = request.form.get("logout_token") if request.mimetype == "application/x-www-form-urlencoded" else None
    bff.backchannel_logout(token)
    return no_store(Response(b"", status=200))


@bp.get("/bff/client.js")
def client_js() -> Response:
    cfg = bff_service().cfg
    # The values are validated at start-up (a fixed mode, a header token, a path prefix).
    script = (CLIENT_JS.read_text().replace("@PREFIX@", services().settings.service_prefix)
              .replace("@MODE@", cfg.mode).replace("@CSRF_HEADER@", cfg.csrf_header))
    response = Response(script, mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
