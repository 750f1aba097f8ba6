"""POST /auth/explain (admin): why /auth would answer what it answers for a request."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.wrappers import Response
from werkzeug.datastructures import Headers

from ..auth_wsgi import parse_cookies
from ..core.policy.decision import explain as explain_decision
from ..http import load_json
from ..schemas import ExplainSchema
from ..services import services

bp = Blueprint("explain", __name__)


@bp.post("/auth/explain")
def explain() -> Response:
    svc = services()
    svc.tokens.require_admin(request.headers.get("Authorization"))
    body = load_json(ExplainSchema())
    headers = Headers(body["headers"])
    headers["X-Original-URI"], headers["X-Original-Method"] = body["uri"], body["method"]
    cookie = headers.get("Cookie")
    # the Cookie header read as /auth reads it
    return jsonify(explain_decision(svc.authorizer.check(headers, parse_cookies(cookie) if cookie else {})))
