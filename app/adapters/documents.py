"""Client records <-> MongoDB documents (Mia's `clients` field names)."""
from __future__ import annotations

from typing import Any

from ..core.records import Client

FIELD_NAMES = {
    "client_id": "clientId", "name": "name", "auth_method": "authMethod", "scopes": "scopes",
    "permissions": "permissions", "audience": "audience",
    "allowed_custom_claims": "allowedCustomClaims", "jwks": "jwks", "public_key": "publicKey",
    "state": "state", "grant_types": "grantTypes", "created_at": "createdAt",
    "last_login": "lastLogin",
}
TUPLE_FIELDS = ("scopes", "permissions", "audience", "grant_types")


def client_to_doc(client: Client) -> dict[str, Any]:
    doc = {}
    for attr, name in FIELD_NAMES.items():
        value = getattr(client, attr)
        doc[name] = list(value) if attr in TUPLE_FIELDS else value
    return doc


def doc_to_client(doc: dict[str, Any]) -> Client:
    values: dict[str, Any] = {}
    for attr, name in FIELD_NAMES.items():
        if name in doc:
            value = doc[name]
            values[attr] = tuple(value) if attr in TUPLE_FIELDS else value
    return Client(**values)


def changes_to_doc(changes: dict[str, Any]) -> dict[str, Any]:
    return {FIELD_NAMES[k]: (list(v) if k in TUPLE_FIELDS else v) for k, v in changes.items()}
