"""POST /oauth/token, /oauth/introspect, /oauth/revoke (RFC 6749, 7662, 7009)."""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Flask, current_app, jsonify
from flask.wrappers import Response
from werkzeug.wrappers import Response as BaseResponse

from ..request_parsing import token_request
from ..responses import no_store as _no_store
from ..services import services

bp = Blueprint("token", __name__)
OTHER_FLOWS = "gatehouse.token_flows"


def no_store(body: dict[str, Any]) -> Response:
    return _no_store(jsonify(body))


def serve_also(app: Flask, claims: Callable[[], bool], view: Callable[[], BaseResponse]) -> None:
    """Serve another flow at POST /oauth/token, as Authlib's AuthorizationServer registers a grant:
    a request that `claims` recognizes is answered by `view`."""
    app.extensions.setdefault(OTHER_FLOWS, []).append((claims, view))


@bp.post("/oauth/token")
def token() -> BaseResponse:
    """One URL, several flows: a request a registered flow claims is that flow's (the browser
    login's completion, app/blueprints/sessions.py); any other is a grant (client_credentials)."""
    for claims, view in current_app.extensions.get(OTHER_FLOWS, ()):
        if claims():
            return view()  # type: ignore[no-any-return]
    return no_store(services().tokens.token(token_request()).response())


@bp.post("/oauth/introspect")
def introspect() -> Response:
    return no_store(services().tokens.introspect(token_request()))


@bp.post("/oauth/revoke")
def revoke() -> Response:
    services().tokens.revoke(token_request())
    return no_store({})
