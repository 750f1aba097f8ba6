"""POST /oauth/token, /oauth/introspect, /oauth/revoke (RFC 6749, 7662, 7009)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.wrappers import Response

from ..http import token_request
from ..services import services

bp = Blueprint("token", __name__)


def no_store(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/oauth/token")
def token() -> Response:
    return no_store(services().tokens.token(token_request()).response())


@bp.post("/oauth/introspect")
def introspect() -> Response:
    return no_store(services().tokens.introspect(token_request()))


@bp.post("/oauth/revoke")
def revoke() -> Response:
    services().tokens.revoke(token_request())
    return no_store({})
