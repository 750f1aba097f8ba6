"""Client registry: POST /register (RFC 7591) and the admin API under /clients."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.wrappers import Response

from ..core.errors import InvalidClientMetadata
from ..core.records import Client
from ..request_parsing import load_json
from ..schemas import ClientPatchSchema, RegisterSchema
from ..services import services

bp = Blueprint("clients", __name__)


def registration_response(client: Client, secret: str | None) -> dict[str, Any]:
    """RFC 7591 §3.2.1; the secret appears here and nowhere else, ever."""
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "token_endpoint_auth_method": client.auth_method,
        "grant_types": list(client.grant_types),
        "scope": " ".join(client.scopes),
        "permissions": list(client.permissions),
        "audience": list(client.audience),
    }
    if secret is not None:
        body.update(client_secret=secret, client_secret_expires_at=0)
    return body


def _admin() -> None:
    services().tokens.require_admin(request.headers.get("Authorization"))


@bp.post("/register")
def register() -> tuple[Response, int]:
    # Open registration: anyone may register, but only an admin token grants privileges.
    admin = not services().settings.open_registration or bool(request.headers.get("Authorization"))
    if admin:
        _admin()
    meta = load_json(RegisterSchema(), InvalidClientMetadata)
    client, secret = services().registry.register(meta, admin=admin)
    response = jsonify(registration_response(client, secret))
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.get("/clients")
def list_clients() -> Response:
    _admin()
    return jsonify([c.public_view() for c in services().registry.list()])


@bp.get("/clients/<client_id>")
def show(client_id: str) -> Response:
    _admin()
    return jsonify(services().registry.get(client_id).public_view())


@bp.patch("/clients/<client_id>")
def update(client_id: str) -> Response:
    _admin()
    changes = load_json(ClientPatchSchema())
    return jsonify(services().registry.update(client_id, changes).public_view())


@bp.delete("/clients/<client_id>")
def disable(client_id: str) -> Response:
    _admin()
    return jsonify(services().registry.disable(client_id).public_view())


@bp.post("/clients/<client_id>/revoke-tokens")
def revoke_tokens(client_id: str) -> Response:
    _admin()
    return jsonify(services().registry.revoke_tokens(client_id).public_view())


@bp.post("/clients/<client_id>/secret")
def rotate_secret(client_id: str) -> Response:
    _admin()
    secret = services().registry.rotate_secret(client_id)
    response = jsonify({"client_id": client_id, "client_secret": secret})
    response.headers["Cache-Control"] = "no-store"
    return response
