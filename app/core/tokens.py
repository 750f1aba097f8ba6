"""Issue and verify Gatehouse's own JWTs (python-jose). Algorithms are pinned per key."""
from __future__ import annotations

import re
import secrets
from typing import Any

from jose import jwt
from jose.exceptions import JOSEError

from .errors import InvalidRequest, InvalidToken
from .keys import KeySet

# Leeway for exp/nbf/iat of tokens we issued ourselves: our own clock signed them, so only
# clock drift between Gatehouse instances matters; a few seconds covers NTP-synchronised hosts.
OWN_TOKEN_LEEWAY_SECONDS = 5

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1
# The JWS algorithms accepted from others (external issuers, providers' ID tokens, client
# assertions named by a key): asymmetric only, so a public key can never serve as an HMAC secret.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
# RFC 7523 §2.2: the client_assertion_type of a JWT client assertion (private_key_jwt).
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The longest token Gatehouse takes, its own or another issuer's (a provider's ID and access tokens,
# a bearer JWT of an external issuer): enterprise providers issue 4-16 KB (Entra ID, Keycloak with
# group mappers: some 200 groups before they switch to an overage claim), so twice that leaves room
# and still bounds the work (decoding, hashing into cache keys) a stranger's header can ask for.
# The shipped nginx takes header lines up to 40 KB (`Authorization: Bearer ` and this many).
MAX_TOKEN_LENGTH = 32768
# A compact JWS in canonical form: three base64url segments, nothing else. The JOSE library
# tolerates junk after the signature; a token that needs that tolerance is refused up front, so
# one valid token cannot be spelled a million ways (cache keys, nginx cache keys, work).
COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


class TokenTooLong(InvalidToken):
    """A presented token over MAX_TOKEN_LENGTH: refused for its length alone, which the caller may
    be told (it reveals nothing about the token's validity)."""


class TokenTooLarge(InvalidRequest):
    """A token Gatehouse would sign is over MAX_TOKEN_LENGTH: nothing is issued."""


# NumericDate bounds (RFC 7519 §2) Gatehouse accepts: after 1970 and before 2286. Anything else
# (negative, 1e400 = infinity once parsed, floats, strings) is refused before any date arithmetic,
# which would otherwise overflow.
MAX_NUMERIC_DATE = 9_999_999_999
TIME_CLAIMS = ("exp", "iat", "nbf")
# RFC 7515 §4.1.11: a `crit` header lists extensions the recipient must understand; Gatehouse
# understands none, so any token that carries one is refused.
UNDERSTOOD_CRITICAL: frozenset[str] = frozenset()


def time_claims_problem(claims: dict[str, Any], now: float | None, leeway: float) -> str | None:
    """Why the time claims are unacceptable: not integers in range, or (`now` given) `iat` in
    the future beyond the leeway. Presence and expiry are the decoder's to check."""
    for name in TIME_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{name} must be an integer NumericDate"
        if not 0 <= value <= MAX_NUMERIC_DATE:
            return f"{name} is out of range"
    iat = claims.get("iat")
    if now is not None and isinstance(iat, int) and iat > now + leeway:
        return "iat is in the future"
    return None


def crit_problem(header: dict[str, Any]) -> str | None:
    """RFC 7515 §4.1.11: refuse any critical extension we do not understand (and a malformed crit)."""
    if "crit" not in header:
        return None
    crit = header["crit"]
    if not isinstance(crit, list) or not crit or any(not isinstance(c, str) or c not in UNDERSTOOD_CRITICAL
                                                      for c in crit):
        return "token has critical header parameters that are not understood"
    return None


def check_time_claims(token: str, now: float | None, leeway: float) -> None:
    """Before any decoder does date arithmetic on them (an `exp` of 1e400 must be a 401, not a
    500): the unverified claims' times are checked for shape, and `iat` for the future."""
    problem = time_claims_problem(unverified_claims(token), now, leeway)
    if problem:
        raise InvalidToken(problem)


def canonical(token: str) -> bool:
    return len(token) <= MAX_TOKEN_LENGTH and COMPACT_JWS.match(token) is not None


def length_problem(token: str, what: str = "token") -> str | None:
    """Why a token is refused for its length alone, naming the limit (None: within it)."""
    if len(token) <= MAX_TOKEN_LENGTH:
        return None
    return f"{what} is {len(token):,} characters, over Gatehouse's limit of {MAX_TOKEN_LENGTH:,}"


def check_length(token: str) -> None:
    """A token over the limit is refused as too long, not as "malformed": the caller learns why."""
    problem = length_problem(token)
    if problem:
        raise TokenTooLong(problem)


def new_jti() -> str:
    return secrets.token_urlsafe(18)


def sign(keys: KeySet, claims: dict[str, Any], typ: str = ACCESS_TOKEN_TYPE) -> str:
    """Sign claims with the active key; the header names its `kid`."""
    active = keys.active
    token = jwt.encode(claims, active.private, algorithm=active.alg, headers={"kid": active.kid, "typ": typ})
    # Never issue a token Gatehouse itself would refuse (a client with hundreds of long permissions):
    # the caller is told why instead of getting a token every check answers 401.
    problem = length_problem(token, "the token to issue")
    if problem:
        raise TokenTooLarge(problem + ": fewer or shorter permissions, groups or custom claims")
    return token


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


def verify_own(token: str, keys: KeySet, issuer: str, verify_exp: bool = True,
               typ: str | None = None, now: float | None = None) -> dict[str, Any]:
    """Verify a JWT we issued: known `kid`, that key's algorithm only, our `iss`, live `exp`
    (`verify_exp=False` only for logout, which must accept an expired session token), and
    (`typ` given) the kind of token we issued it as: a session JWT and an access token are
    signed by the same key, and one must never pass for the other. With `now` (a use of the
    token: /auth, introspection), an `iat` ahead of it by more than the leeway is refused;
    without (ending it: logout, revocation), only the claims' shape is checked, so an instance
    whose clock runs behind the issuer's still ends the token rather than silently ignoring it."""
    if not isinstance(token, str):
        raise InvalidToken("malformed token")
    check_length(token)
    if not canonical(token):
        raise InvalidToken("malformed token")
    header = unverified_header(token)
    key = keys.by_kid(header.get("kid"))
    if key is None:
        raise InvalidToken("unknown signing key")
    if crit_problem(header):
        raise InvalidToken("token is invalid")
    if typ is not None and header.get("typ") != typ:
        raise InvalidToken("token is not of the expected type")
    # Shape and range before the decoder does date arithmetic, and (given `now`) `iat` not ahead
    # by more than the drift between Gatehouse's instances (the leeway): a token "issued" an hour
    # from now is refused for use here as everywhere else.
    check_time_claims(token, now, OWN_TOKEN_LEEWAY_SECONDS)
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
