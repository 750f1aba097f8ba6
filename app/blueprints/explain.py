"""POST /auth/explain (admin): why /auth would answer what it answers for a request — for the
credential in its headers or `token`, or for a `user` or `client` named before they call."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.wrappers import Response
from werkzeug.datastructures import Headers

from ..core.explain import named_identity
from ..core.check.policy.decision import explain as explain_decision
from ..request_parsing import load_json, parse_cookies
from ..schemas import ExplainSchema
from ..services import services

bp = Blueprint("explain", __name__)


@bp.post("/auth/explain")
def explain() -> Response:
    svc = services()
    svc.tokens.require_admin(request.headers.get("Authorization"))
    body = load_json(ExplainSchema())
    headers = Headers(body["headers"])
    if body["token"] is not None:
        headers["Authorization"] = f"Bearer {body['token']}"
    headers["X-Original-URI"], headers["X-Original-Method"] = body["uri"], body["method"]
    identity = named_identity(svc.users, svc.registry, body["user"], body["client"])
    cookie = headers.get("Cookie")
    # the Cookie header read as /auth reads it
    decision = svc.authorizer.check(headers, parse_cookies(cookie) if cookie else {}, identity=identity)
    return jsonify(explain_decision(decision, svc.authorizer.is_backoffice(headers)))
