"""Records that cross the ports: frozen, plain data."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

CLIENT_ENABLED = "ENABLED"
CLIENT_DISABLED = "DISABLED"

AUTH_SECRET_BASIC = "client_secret_basic"
AUTH_SECRET_POST = "client_secret_post"
AUTH_PRIVATE_KEY_JWT = "private_key_jwt"
AUTH_METHODS = (AUTH_SECRET_BASIC, AUTH_SECRET_POST, AUTH_PRIVATE_KEY_JWT)
SECRET_METHODS = (AUTH_SECRET_BASIC, AUTH_SECRET_POST)

GRANT_CLIENT_CREDENTIALS = "client_credentials"

# The cookie that carries a Gatehouse login session (its access token) to /auth and the session
# endpoints; the refresh token has its own cookie (app/blueprints/sessions.py).
SESSION_COOKIE = "sid"

# Claims a client may never choose for its tokens: the registered JWT claims (RFC 7519 §4.1),
# those of RFC 9068 / OIDC Core that resource servers read as identity, and every claim
# Gatehouse sets itself (a machine token carrying `sid` + `user` would pose as a login session).
RESERVED_CLAIMS = frozenset({
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
    "sid", "user", "user_in", "groups", "roles", "permissions", "scope", "scp", "client_id", "azp", "typ",
    "auth_time", "acr", "amr", "nonce", "cnf", "act", "may_act", "at_hash", "c_hash",
    "token_use",
})


_PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def _public_jwks(jwks: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        return jwks
    keys = [{k: v for k, v in key.items() if k not in _PRIVATE_JWK_MEMBERS} if isinstance(key, dict) else key
            for key in jwks["keys"]]
    return {**jwks, "keys": keys}


@dataclass(frozen=True)
class Client:
    """A registered machine client (MongoDB `clients`). Holds no secret material."""

    client_id: str
    name: str
    auth_method: str
    scopes: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    allowed_custom_claims: dict[str, Any] = field(default_factory=dict)
    jwks: dict[str, Any] | None = None
    public_key: str | None = None
    state: str = CLIENT_ENABLED
    grant_types: tuple[str, ...] = (GRANT_CLIENT_CREDENTIALS,)
    created_at: int = 0
    last_login: int | None = None

    @property
    def enabled(self) -> bool:
        return self.state == CLIENT_ENABLED

    def public_view(self) -> dict[str, Any]:
        """The client as the admin API shows it (Mia field names)."""
        return {
            "clientId": self.client_id,
            "name": self.name,
            "authMethod": self.auth_method,
            "scopes": list(self.scopes),
            "permissions": list(self.permissions),
            "audience": list(self.audience),
            "allowedCustomClaims": dict(self.allowed_custom_claims),
            # Never echo private material a client stored before keys were checked for it.
            "jwks": _public_jwks(self.jwks),
            "publicKey": None if self.public_key and "PRIVATE KEY" in self.public_key else self.public_key,
            "state": self.state,
            "grantTypes": list(self.grant_types),
            "createdAt": self.created_at,
            "lastLogin": self.last_login,
        }


@dataclass(frozen=True)
class IssuedToken:
    """What the token endpoint answers (RFC 6749 §5.1)."""

    access_token: str
    expires_in: int
    scope: str
    claims: dict[str, Any]

    def response(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Revocation:
    kind: str
    key: str
    at: float  # when it was recorded; a client cut-off refuses tokens issued at or before it
    until: float  # after this, nothing it names can be valid any more (epoch seconds)


@dataclass(frozen=True)
class FeedBatch:
    entries: list[Revocation]
    current: int  # the feed's sequence number after these entries
    epoch: str | None  # which feed this is; None when there is none (nothing published yet)


@dataclass(frozen=True)
class UserQuery:
    """GET /users filters; None: any. `email` matches the provider's email or a pre-provisioned
    one (case-insensitive); `text` is a case-insensitive substring of the name, email, username
    or provider user id."""

    realm: str | None = None
    provider_id: str | None = None
    provider_user_id: str | None = None
    email: str | None = None
    group: str | None = None
    blocked: bool | None = None
    text: str | None = None


@dataclass(frozen=True)
class UserChanges:
    """What an administrator changes on a user: the groups replaced, or some added or removed
    (one of the three), the metadata replaced, blocked or unblocked. None: unchanged."""

    groups: tuple[str, ...] | None = None
    add_groups: tuple[str, ...] = ()
    remove_groups: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = None
    blocked: bool | None = None

    def empty(self) -> bool:
        return (self.groups is None and not self.add_groups and not self.remove_groups
                and self.metadata is None and self.blocked is None)


# Told of every token issued (a log line and a count, in the outer ring): grant type, how the
# client or person proved who they are, the client (machine client id, or login app id), and
# what identifies the token without being it (jti, user id, expiry).
OnIssue = Callable[[str, str, str, dict[str, Any]], None]


def ignore_issue(grant_type: str, auth_method: str, client_id: str, details: dict[str, Any]) -> None:
    """The default OnIssue: nothing."""
