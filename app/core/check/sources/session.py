"""The `session` source: a Gatehouse login session's JWT, in the `sid` cookie or (through the
`jwt` source) as a bearer token. Signature and issuer are cached per token; whether the session
is still open is asked every time."""
from __future__ import annotations

from typing import Any, Protocol

from ... import tokens
from ...errors import InvalidToken
from ...principal import Principal, principal_from_claims
from ...records import SESSION_COOKIE
from ...verified_cache import VerifiedCache
from .chain import Held, Presented, Verified, held_in


class LoginSessions(Protocol):
    """The login sessions (core/login/sessions.py): a session JWT's verified claims, and whether
    its session is still open."""

    def verify_signature(self, token: str, unverified: dict[str, Any] | None = None) -> dict[str, Any]:
        """Signature, type and claims, with the session's user under "user"; InvalidToken if not."""
        ...

    def ensure_open(self, verified: dict[str, Any]) -> None:
        """InvalidToken when the session has ended."""
        ...

    def is_session_token(self, claims: dict[str, Any]) -> bool: ...


class SessionJwt:
    """A login session's JWT: the chain's `session` source (the `sid` cookie), and the issuer of
    session JWTs the `jwt` source hands a bearer session token to."""

    name = "session"
    cookie = True

    def __init__(self, sessions: LoginSessions, verified: VerifiedCache) -> None:
        self.sessions = sessions
        self.verified = verified

    def match(self, request: Presented) -> str | None:
        cookies = request.cookies
        return (cookies.get(SESSION_COOKIE) or None) if cookies is not None else None

    def knows(self, claims: dict[str, Any]) -> bool:
        return self.sessions.is_session_token(claims)

    def held(self, token: str) -> Held | None:
        return held_in(self.verified, token, self)

    def verify(self, token: str, unverified: dict[str, Any] | None = None) -> Principal:
        tokens.check_length(token)
        if not tokens.canonical(token):
            raise InvalidToken("malformed token")
        hit: Verified | None = self.verified.get(token)
        if hit is not None and hit[0] is self:
            self.recheck(hit[1])
            return hit[2]
        claims = self.sessions.verify_signature(token, unverified)
        self.sessions.ensure_open(claims)
        # The user's fields (groups, email, ...) are what expressions and properties look at.
        principal = principal_from_claims({**claims, **claims["user"], "sub": claims["sub"]}, source="session",
                                          kind="user")
        self.verified.put(token, (self, claims, principal), claims.get("exp"))
        return principal

    def recheck(self, claims: dict[str, Any]) -> None:
        self.sessions.ensure_open(claims)
