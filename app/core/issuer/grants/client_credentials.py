"""RFC 6749 §4.4 client_credentials: scopes, audiences and the issued claims
(docs/machine-tokens.md "Getting a token")."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ... import tokens
from ...errors import InvalidRequest, InvalidScope, UnauthorizedClient
from ...keys import KeySet
from ...records import GRANT_CLIENT_CREDENTIALS, RESERVED_CLAIMS, Client, IssuedToken

# RFC 6749 §3.3 scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


@dataclass(frozen=True)
class ClientCredentialsConfig:
    issuer: str
    expires_in: int
    accepted_audiences: tuple[str, ...]
    require_audience: bool


def parse_scope(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    parts = raw.split(" ")
    if not raw.strip() or any(not SCOPE_TOKEN.match(p) for p in parts):
        raise InvalidScope("scope must be space-separated scope tokens")
    return list(dict.fromkeys(parts))


def grant_scopes(client: Client, requested: list[str] | None) -> list[str]:
    """Requested ∩ allowed; every allowed scope when none was requested."""
    if requested is None:
        return list(client.scopes)
    unknown = [s for s in requested if s not in client.scopes]
    if unknown:
        raise InvalidScope(f"scope not allowed for this client: {' '.join(unknown)}")
    return requested


def grant_audiences(cfg: ClientCredentialsConfig, client: Client, requested: list[str]) -> list[str]:
    """REQUIRED_AUDIENCE_IN_TOKEN_REQUEST and ACCEPTED_AUDIENCES, then the client's own list."""
    if not requested:
        if cfg.require_audience:
            raise InvalidRequest("audience is required")
        return list(client.audience) or [cfg.issuer]
    for aud in requested:
        allowed_by_client = aud in client.audience if client.audience else True
        allowed_globally = aud in cfg.accepted_audiences if cfg.accepted_audiences else bool(client.audience)
        if not (allowed_by_client and allowed_globally):
            raise InvalidRequest("audience not allowed for this client")
    return list(dict.fromkeys(requested))


def client_claims(client: Client, scopes: list[str]) -> dict[str, Any]:
    """What a token of the client says about it: its custom claims, id, scopes and permissions
    (the rest of a token's claims are about the token)."""
    claims: dict[str, Any] = {k: v for k, v in client.allowed_custom_claims.items() if k not in RESERVED_CLAIMS}
    claims.update({"sub": client.client_id, "client_id": client.client_id, "scope": " ".join(scopes),
                   "permissions": list(client.permissions)})
    return claims


def issue(cfg: ClientCredentialsConfig, keys: KeySet, client: Client, scope: str | None,
          audiences: list[str], now: int) -> IssuedToken:
    """Sign an access token for an authenticated client."""
    if GRANT_CLIENT_CREDENTIALS not in client.grant_types:
        raise UnauthorizedClient("client may not use the client_credentials grant")
    scopes = grant_scopes(client, parse_scope(scope))
    aud = grant_audiences(cfg, client, audiences)
    claims = client_claims(client, scopes)
    claims.update({
        "iss": cfg.issuer,
        "aud": aud[0] if len(aud) == 1 else aud,
        "iat": now,
        "exp": now + cfg.expires_in,
        "jti": tokens.new_jti(),
    })
    return IssuedToken(access_token=tokens.sign(keys, claims), expires_in=cfg.expires_in,
                       scope=" ".join(scopes), claims=claims)
