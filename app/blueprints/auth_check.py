"""Any /auth and /auth/...: the nginx auth_request check. Empty body, 204/401/403 only
(5xx when a dependency the decision needs is down)."""
from __future__ import annotations

from flask import Blueprint, request
from flask.wrappers import Response

from ..services import services

bp = Blueprint("auth_check", __name__)
ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@bp.route("/auth", methods=ANY)
@bp.route("/auth/<path:_rest>", methods=ANY)
def check(_rest: str | None = None) -> Response:
    svc = services()
    decision = svc.authorizer.check(request.headers, request.cookies)
    strict = svc.settings.authorizer.strict
    # Non-strict (Mia compatibility): always 200, the verdict is in mia-allowed.
    status = decision.status if strict else 200
    return Response(b"", status=status, headers=decision.headers)
