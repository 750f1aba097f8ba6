"""POST /oauth/token, /oauth/introspect, /oauth/revoke (RFC 6749, 7662, 7009)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.wrappers import Response
from werkzeug.wrappers import Response as BaseResponse

from ..http import complete_login, is_login_completion, token_request
from ..http import no_store as _no_store
from ..services import services

bp = Blueprint("token", __name__)


def no_store(body: dict[str, Any]) -> Response:
    return _no_store(jsonify(body))


@bp.post("/oauth/token")
def token() -> BaseResponse:
    """One URL, several grants: client_credentials here, the login completion
    ({code, state}, Mia's Authentication Service) in app/http.py."""
    if is_login_completion():
        return complete_login()
    return no_store(services().tokens.token(token_request()).response())


@bp.post("/oauth/introspect")
def introspect() -> Response:
    return no_store(services().tokens.introspect(token_request()))


@bp.post("/oauth/revoke")
def revoke() -> Response:
    services().tokens.revoke(token_request())
    return no_store({})
