"""The caller a check would see for a user or a client an administrator names (explain before
they call): their groups and properties, or permissions and scopes, as MongoDB holds them now and
as their session JWT or access token would carry them. Only reads: no session, no token, no write."""
from __future__ import annotations

from typing import Any

from .check.authorizer import Refusal
from .issuer.clients import ClientRegistry
from .errors import NotFound
from .issuer.grants.client_credentials import client_claims
from .principal import ANONYMOUS, Principal, principal_from_claims
from .login.sessions import user_claim
from .login.users import UserAdmin, is_blocked

Identity = tuple[Principal, "Refusal | None"]


def user_identity(doc: dict[str, Any]) -> Identity:
    """A login session's caller (the claims of its JWT, read as /auth reads them); a blocked user
    has no session to present: refused, as their ended session would be."""
    if is_blocked(doc):
        return ANONYMOUS, Refusal("session", "user is blocked: their sessions have ended and logins are refused")
    claim = user_claim(doc)
    claims = {"groups": claim["groups"], "user": claim, **claim, "sub": doc["userId"]}
    return principal_from_claims(claims, source="session", kind="user"), None


def client_identity(registry: ClientRegistry, client_id: str) -> Identity:
    """A client_credentials token's caller with every scope the client may ask for; a disabled
    client's tokens are refused."""
    client = registry.get(client_id)
    if not client.enabled:
        return ANONYMOUS, Refusal("jwt", "client is disabled: its tokens are refused")
    return principal_from_claims(client_claims(client, list(client.scopes)), source="gatehouse-jwt"), None


def named_identity(users: UserAdmin | None, registry: ClientRegistry, user: str | None,
                   client: str | None) -> Identity | None:
    """The identity of `user` (userId or email) or `client` (client id); None for neither.
    NotFound for one that does not exist."""
    if user is not None:
        if users is None:
            raise NotFound("no such user: no login apps are configured (users belong to the apps' realms)")
        return user_identity(users.named(user))
    if client is not None:
        return client_identity(registry, client)
    return None
