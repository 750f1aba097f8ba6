"""Any /auth and /auth/...: the forward-auth check (nginx auth_request and the other proxies'
dialects). Empty body, 204/401/403 (302 to the login page for a browser in the Traefik, Caddy
and Envoy dialects; 5xx when a dependency the decision needs is down)."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, g, request
from flask.wrappers import Response

from ..core.errors import GatehouseError
from ..http import check_request
from ..services import services

bp = Blueprint("auth_check", __name__)
ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@bp.route("/auth", methods=ANY)
@bp.route("/auth/<path:_rest>", methods=ANY)
def check(_rest: str | None = None) -> Response:
    svc = services()
    decisions = current_app.extensions["gatehouse_decisions"]
    started = time.perf_counter()
    original = svc.authorizer.original(request.headers, check_request(request.environ, svc.settings.service_prefix))
    try:
        decision = svc.authorizer.check(request.headers, request.cookies, original)
    except GatehouseError as exc:
        decisions.failed(exc.error, exc.status, exc.description, request.headers, g.request_id,
                         time.perf_counter() - started, type(exc.__cause__).__name__ if exc.__cause__ else None,
                         original)
        raise
    except Exception:  # as the lean path: counted and logged, then Flask's 500
        decisions.failed("internal", 500, "unhandled error (see the errors log)", request.headers, g.request_id,
                         time.perf_counter() - started, original=original)
        raise
    decisions.decided(decision, request.headers, g.request_id, time.perf_counter() - started, original)
    strict = svc.settings.authorizer.strict
    # Non-strict (Mia compatibility): always 200, the verdict is in mia-allowed.
    status = decision.status if strict else 200
    return Response(b"", status=status, headers=decision.headers)
