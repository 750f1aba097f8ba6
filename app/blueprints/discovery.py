"""GET /.well-known/openid-configuration: from OPENID_CONFIG_PATH, or generated from config."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.wrappers import Response

from ..core.issuer.assertions import ASSERTION_ALGORITHMS
from ..core.records import AUTH_METHODS
from ..services import services

bp = Blueprint("discovery", __name__)


def generated() -> dict[str, Any]:
    """The discovery document of the configured issuer and endpoints."""
    settings = services().settings
    return {
        "issuer": settings.jwt_issuer,
        "token_endpoint": settings.url("/oauth/token"),
        "jwks_uri": settings.url("/.well-known/jwks.json"),
        "introspection_endpoint": settings.url("/oauth/introspect"),
        "revocation_endpoint": settings.url("/oauth/revoke"),
        "registration_endpoint": settings.url("/register"),
        "userinfo_endpoint": settings.url("/tokeninfo"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "scopes_supported": list(settings.scopes_supported),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "id_token_signing_alg_values_supported": services().composition.keys.algorithms,
    }


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    response = jsonify(services().composition.discovery_document or generated())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
