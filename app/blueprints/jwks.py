"""GET /.well-known/jwks.json (alias /jwks): the active key and keys kept for verification."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask.wrappers import Response

from ..services import services

bp = Blueprint("jwks", __name__)


@bp.get("/.well-known/jwks.json")
@bp.get("/jwks")
def jwks() -> Response:
    response = jsonify(services().composition.keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
