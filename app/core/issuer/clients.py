"""The client registry (RFC 7591 registration plus admin changes). Secrets are shown once."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from .. import credentials
from .assertions import validate_key_material
from ..errors import BadRequest, InvalidClientMetadata, NotFound
from ..ports import ClientRepository, CredentialRepository
from ..records import (AUTH_METHODS, AUTH_PRIVATE_KEY_JWT, CLIENT_DISABLED, CLIENT_ENABLED, RESERVED_CLAIMS,
                       SECRET_METHODS, Client)

MUTABLE_FIELDS = ("name", "scopes", "permissions", "audience", "allowed_custom_claims",
                  "state", "jwks", "public_key")


@dataclass(frozen=True)
class RegistrationRules:
    """What a registrant without an admin token may ask for (OPEN_REGISTRATION_*): no
    permissions, no custom claims, only these audiences, scopes and authentication methods."""

    audiences: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] = AUTH_METHODS

    def problem(self, meta: dict[str, Any]) -> str | None:
        """The first field an anonymous registrant may not set, as a safe message; or None."""
        if meta.get("permissions"):
            return "permissions: only an admin may grant permissions"
        if meta.get("allowed_custom_claims"):
            return "allowed_custom_claims: only an admin may allow custom claims"
        extra = [a for a in meta.get("audience", ()) if a not in self.audiences]
        if extra:
            return "audience: only an admin may register audiences beyond the configured default"
        scopes = [s for s in meta.get("scopes", ()) if s not in self.scopes]
        if scopes:
            return "scope: only an admin may register these scopes: " + " ".join(scopes)[:200]
        if meta.get("auth_method") not in self.auth_methods:
            return ("token_endpoint_auth_method: open registration allows only "
                    + ", ".join(self.auth_methods))
        return None


def reserved_claims_problem(claims: Any) -> str | None:
    """Custom claims may never shadow a reserved claim name."""
    if not isinstance(claims, dict):
        return None
    reserved = sorted(k for k in claims if k in RESERVED_CLAIMS)
    if reserved:
        return "allowed_custom_claims: reserved claim names cannot be custom claims: " + ", ".join(reserved)
    return None


class ClientRegistry:
    def __init__(self, clients: ClientRepository, secrets: CredentialRepository,
                 id_hash_salt: bytes, secret_hash_cost: int,
                 clock: Callable[[], float] = time.time,
                 cut_off: Callable[[str], None] = lambda client_id: None,
                 open_rules: RegistrationRules = RegistrationRules()) -> None:
        self.clients = clients
        self.open_rules = open_rules
        # Refuses every token issued to a client so far (revocation.ClientCutOff).
        self.cut_off = cut_off
        self.secrets = secrets
        self.salt = id_hash_salt
        self.cost = secret_hash_cost
        self.clock = clock

    def _new_secret(self, client_id: str) -> str:
        secret = credentials.new_client_secret()
        self.secrets.put(credentials.client_id_hash(self.salt, client_id),
                         credentials.hash_secret(secret, self.cost), int(self.clock()))
        return secret

    def register(self, meta: dict[str, Any], admin: bool = True) -> tuple[Client, str | None]:
        """Create a client from validated metadata; the secret (if any) is returned once.
        `admin=False`: an open registration, held to `open_rules`."""
        method = meta["auth_method"]
        problem = reserved_claims_problem(meta.get("allowed_custom_claims"))
        if problem is None and not admin:
            problem = self.open_rules.problem(meta)
        if problem:
            raise InvalidClientMetadata(problem)
        if method == AUTH_PRIVATE_KEY_JWT:
            problem = validate_key_material(meta.get("jwks"), meta.get("public_key"))
            if problem:
                raise InvalidClientMetadata(problem)
        elif meta.get("jwks") is not None or meta.get("public_key") is not None:
            raise InvalidClientMetadata("jwks and public_key are only for private_key_jwt")
        client = Client(
            client_id=credentials.new_client_id(),
            name=meta["name"],
            auth_method=method,
            scopes=tuple(meta.get("scopes", ())),
            permissions=tuple(meta.get("permissions", ())),
            audience=tuple(meta.get("audience", ())),
            allowed_custom_claims=dict(meta.get("allowed_custom_claims", {})),
            jwks=meta.get("jwks"),
            public_key=meta.get("public_key"),
            created_at=int(self.clock()),
        )
        # Secret first: a client document never exists without its credential.
        secret = self._new_secret(client.client_id) if method in SECRET_METHODS else None
        try:
            self.clients.insert(client)
        except Exception:
            self.secrets.delete(credentials.client_id_hash(self.salt, client.client_id))
            raise
        return client, secret

    def get(self, client_id: str) -> Client:
        client = self.clients.get(client_id)
        if client is None:
            raise NotFound("no such client")
        return client

    def list(self) -> list[Client]:
        return self.clients.list()

    def update(self, client_id: str, changes: dict[str, Any]) -> Client:
        """Change permissions, scopes, audiences, claims, keys or state."""
        current = self.get(client_id)
        unknown = set(changes) - set(MUTABLE_FIELDS)
        if unknown:
            raise BadRequest(f"cannot change: {', '.join(sorted(unknown))}")
        if "state" in changes and changes["state"] not in (CLIENT_ENABLED, CLIENT_DISABLED):
            raise BadRequest("state must be ENABLED or DISABLED")
        problem = reserved_claims_problem(changes.get("allowed_custom_claims"))
        if problem:
            raise BadRequest(problem)
        if "jwks" in changes or "public_key" in changes:
            if current.auth_method != AUTH_PRIVATE_KEY_JWT:
                raise BadRequest("jwks and public_key are only for private_key_jwt clients")
            merged = replace(current, **{k: changes[k] for k in ("jwks", "public_key") if k in changes})
            problem = validate_key_material(merged.jwks, merged.public_key)
            if problem:
                raise BadRequest(problem)
        updated = self.clients.update(client_id, changes)
        if updated is None:
            raise NotFound("no such client")
        if changes.get("state") == CLIENT_DISABLED:
            self.cut_off(client_id)  # a disabled client's live tokens stop working too
        return updated

    def disable(self, client_id: str) -> Client:
        """No new tokens, and every token issued so far refused."""
        return self.update(client_id, {"state": CLIENT_DISABLED})

    def revoke_tokens(self, client_id: str) -> Client:
        """Every token issued so far refused; the client stays enabled and may ask for new ones."""
        client = self.get(client_id)
        self.cut_off(client_id)
        return client

    def rotate_secret(self, client_id: str) -> str:
        client = self.get(client_id)
        if client.auth_method not in SECRET_METHODS:
            raise BadRequest("this client authenticates with private_key_jwt and has no secret")
        return self._new_secret(client_id)
