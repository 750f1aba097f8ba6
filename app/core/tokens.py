"""Issue and verify Gatehouse's own JWTs (python-jose). Algorithms are pinned per key."""
from __future__ import annotations

import secrets
from typing import Any

from jose import jwt
from jose.exceptions import JOSEError

from .errors import InvalidToken
from .keys import KeySet

# Leeway for exp/nbf/iat of tokens we issued ourselves: our own clock signed them, so only
# clock drift between Gatehouse instances matters; a few seconds covers NTP-synchronised hosts.
OWN_TOKEN_LEEWAY_SECONDS = 5

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1
MAX_TOKEN_LENGTH = 16384


def new_jti() -> str:
    return secrets.token_urlsafe(18)


def sign(keys: KeySet, claims: dict[str, Any], typ: str = ACCESS_TOKEN_TYPE) -> str:
    """Sign claims with the active key; the header names its `kid`."""
    active = keys.active
    return jwt.encode(claims, active.private, algorithm=active.alg,
                      headers={"kid": active.kid, "typ": typ})


def unverified_header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict):
        raise InvalidToken("malformed token")
    return header


def unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.get_unverified_claims(token)
    except JOSEError as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("malformed token")
    return claims


def verify_own(token: str, keys: KeySet, issuer: str, verify_exp: bool = True) -> dict[str, Any]:
    """Verify a JWT we issued: known `kid`, that key's algorithm only, our `iss`, live `exp`
    (`verify_exp=False` only for logout, which must accept an expired session token)."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed token")
    header = unverified_header(token)
    key = keys.by_kid(header.get("kid"))
    if key is None:
        raise InvalidToken("unknown signing key")
    try:
        claims = jwt.decode(
            token, key.public, algorithms=[key.alg], issuer=issuer,
            # The audience is the resource server's to check; we verify everything else.
            options={"verify_aud": False, "require_exp": True, "require_iat": True,
                     "require_jti": True, "require_iss": True, "require_sub": True,
                     "verify_exp": verify_exp, "leeway": OWN_TOKEN_LEEWAY_SECONDS},
        )
    except JOSEError as exc:
        raise InvalidToken("token is invalid or expired") from exc
    if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("sub"), str):
        raise InvalidToken("token is invalid")
    return claims
