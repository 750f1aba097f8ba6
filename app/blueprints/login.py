"""Browser login (docs/login.md "The flow"): the login page, the provider list, /authorize, the provider's
callback page. The callback page posts {code, state} to /oauth/token, whose login
completion opens the session: app/blueprints/sessions.py `complete_login`."""
from __future__ import annotations


from flask import Blueprint, g, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response

from ..core.errors import LoginFailed
from ..core.redirects import BadRedirect
from ..request_parsing import FORM, login_page_redirect
from ..responses import no_store, offer_start_over, script_page
from ..services import login_service, services

bp = Blueprint("login", __name__)


@bp.get("/web-login")
def web_login() -> str:
    login = login_service()
    app = login.app(request.args.get("appId"))
    target = login.redirect_target(app, login_page_redirect())
    return render_template("login.html", app=app, providers=app.sorted_providers(), redirect=target,
                           prefix=services().settings.service_prefix)


@bp.get("/web-login/forbidden")
def forbidden() -> Response:
    """nginx's 403 for a browser navigation (its error_page proxies here): who you are, why,
    and the ways out. The original method and URI come from nginx; the page is the same for
    anyone who calls it directly."""
    principal, _ = services().authorizer.principal(request.headers, request.cookies)
    claims = principal.claims
    name = claims.get("name") or claims.get("email") or principal.id
    page = render_template("forbidden.html", principal=principal, name=name, groups=sorted(principal.groups),
                           method=(request.headers.get("X-Original-Method") or "GET")[:16],
                           uri=(request.headers.get("X-Original-URI") or "/")[:2048],
                           prefix=services().settings.service_prefix, request_id=g.get("request_id"))
    return no_store(Response(page, status=403, mimetype="text/html"))


@bp.get("/apps/<app_id>/providers")
def providers(app_id: str) -> Response:
    return jsonify(login_service().provider_list(app_id))


@bp.get("/authorize")
def authorize() -> Response:
    login = login_service()
    offer_start_over(None, None)
    app = login.app(request.args.get("appId"))
    try:  # an error page (the provider down) offers the same login again, with a valid target only
        offer_start_over(app.id, login.redirect_target(app, request.args.get("redirect")))
    except BadRedirect:
        offer_start_over(app.id, None)
    start = login.start(request.args.get("appId"), request.args.get("providerId"), request.args.get("redirect"))
    response = no_store(redirect(start.url, 302))
    # Lax: the completion POST comes from our own callback page, after a top-level navigation.
    response.set_cookie(start.cookie_name, start.cookie_value, max_age=start.ttl, path="/", httponly=True,
                        secure=login.app(request.args.get("appId")).cookie.secure, samesite="Lax")
    return response


@bp.get("/web-login/oauth/callback")
def callback() -> Response:
    if request.args.get("error"):
        offer_start_over(None, None)  # which login this was is known only to its state
        raise LoginFailed("the identity provider did not complete the login")
    return script_page("callback.html", code=request.args.get("code", ""), state=request.args.get("state", ""),
                       action=f"{services().settings.service_prefix}/oauth/token")


@bp.post("/web-login/backchannel-logout")
def backchannel_logout() -> Response:
    """OpenID Connect Back-Channel Logout 1.0 for browser-login sessions: the provider posts a
    signed `logout_token` (form); its issuer and audience name the provider (of any app)."""
    token = request.form.get("logout_token") if request.mimetype == FORM else None
    login_service().backchannel_logout(token)
    return no_store(Response(b"", status=200))
