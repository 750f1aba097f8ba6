"""GET /tokeninfo: claims of a live bearer token we issued (usable as a userinfo URL)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.wrappers import Response

from ..services import services

bp = Blueprint("tokeninfo", __name__)


@bp.get("/tokeninfo")
def tokeninfo() -> Response:
    response = jsonify(services().tokens.tokeninfo(request.headers.get("Authorization")))
    response.headers["Cache-Control"] = "no-store"
    return response
