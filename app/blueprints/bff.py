"""Backend-for-Frontend endpoints (docs/bff.md "Endpoints"): login, callback, session, logout, the provider's
back-channel logout and the JavaScript client.

Two records, one owner each: flask-session owns the browser session of these views (its id is
the opaque `__Host-` cookie, regenerated at login, deleted at logout; it holds no token), and
core/login/bff.py, through the one `BffTokenStore`, owns the session's token record, stored under the
same id, which /auth reads too."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Request, current_app, jsonify, redirect, request, session
from flask_session.base import ServerSideSession, ServerSideSessionInterface
from werkzeug.wrappers import Response

from .. import error_answers
from ..core.login.bff import BffService
from ..core.errors import DependencyUnavailable, Forbidden, LoginFailed
from ..core.ports import BrowserSessionStore
from ..responses import no_store, script_page
from ..services import bff_service, services

bp = Blueprint("bff", __name__)
CLIENT_JS = Path(__file__).resolve().parent.parent / "templates" / "bff" / "client.js"
BROWSER_PREFIX = "gatehouse:v1:bff-browser:"
UNAVAILABLE = "gatehouse.bff_store_down"


class BrowserSessions(ServerSideSessionInterface):
    """flask-session, scoped to the BFF views and stored through a BrowserSessionStore: other
    requests get Flask's null session and never touch Redis for it. A store that is down is
    remembered on the request when the session is opened (the views answer 503), and turns the
    answer into the errors layer's 503 when it is saved."""

    session_class = ServerSideSession
    ttl = True

    def __init__(self, app: Flask, store: BrowserSessionStore, prefix: str) -> None:
        super().__init__(app, key_prefix=BROWSER_PREFIX, use_signer=False, permanent=True, sid_length=32,
                         serialization_format="json")
        self.store = store
        self.paths = (f"{prefix}/bff/session", f"{prefix}/bff/oauth/callback", f"{prefix}/bff/logout")

    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        raw = self.store.get(store_id)
        return self.serializer.decode(raw) if raw else None  # type: ignore[union-attr]

    def _delete_session(self, store_id: str) -> None:
        self.store.delete(store_id)

    def _upsert_session(self, session_lifetime: timedelta, session: ServerSideSession, store_id: str) -> None:
        self.store.put(store_id, self.serializer.encode(session),  # type: ignore[union-attr]
                       int(session_lifetime.total_seconds()))

    def open_session(self, app: Flask, request: Request) -> Any:
        if request.path not in self.paths:
            return None  # Flask substitutes its null session
        try:
            return super().open_session(app, request)
        except DependencyUnavailable:
            request.environ[UNAVAILABLE] = True
            return None

    def save_session(self, app: Flask, session: Any, response: Response) -> None:  # type: ignore[override]
        try:
            super().save_session(app, session, response)
        except DependencyUnavailable as exc:
            error_answers.replace(response, exc)

    def regenerate_id(self, session: ServerSideSession) -> None:
        """A new id at login (session fixation): the old document goes, the data moves over."""
        self.regenerate(session)


def install(app: Flask, store: BrowserSessionStore, prefix: str, cookie_name: str, lifetime: int) -> None:
    """Configure Flask's session cookie for the BFF: `__Host-` name, HttpOnly, Secure,
    SameSite=Strict, Path=/, no Domain."""
    app.config.update(SESSION_COOKIE_NAME=cookie_name, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SECURE=True, SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_PATH="/",
                      SESSION_COOKIE_DOMAIN=None, PERMANENT_SESSION_LIFETIME=timedelta(seconds=lifetime),
                      # Saved only when changed (login, logout).
                      SESSION_REFRESH_EACH_REQUEST=False)
    app.session_interface = BrowserSessions(app, store, prefix)


def _session_store_up() -> None:
    if request.environ.get(UNAVAILABLE):
        raise DependencyUnavailable("Redis is unavailable")


def require_same_origin(bff: BffService) -> None:
    """CSRF defence for POST /bff/* (core/login/bff.py: a custom header and the app's origin)."""
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
    # which the Strict session cookie does not.
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
    assert isinstance(interface, BrowserSessions) and isinstance(session, ServerSideSession)
    before = session.sid if session else None
    interface.regenerate_id(session)  # never keep an id from before the login
    session.clear()
    session["loginAt"] = result.document["createdAt"]  # the token record is the store's, not here
    bff.open(str(session.sid), result.document, replaced=before)
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
    active = bff.active(getattr(session, "sid", None)) if session else None
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
    # The browser session's id; without one, whatever session the cookie still names.
    sid = getattr(session, "sid", None) if session else request.cookies.get(bff.cookie_name)
    location = bff.logout(sid, wanted)
    session.clear()  # flask-session deletes its document and the cookie
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


@bp.delete("/bff/sessions/<path:sub>")
def end_sessions(sub: str) -> Response:
    """Admin: end every BFF session of a provider subject."""
    services().tokens.require_admin(request.headers.get("Authorization"))
    return no_store(jsonify({"count": bff_service().end_subject(sub)}))


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
