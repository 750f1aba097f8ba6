"""The `jwt` source: an `Authorization: Bearer` JWT of an issuer the check knows — a login
session's (sources/session.py), an external issuer's (sources/external.py) or Gatehouse's own
access token (sources/own.py) — chosen by its unverified `iss`, in that order. A token verified
before skips its signature check; revocation and session state are still asked every time."""
from __future__ import annotations

from ... import tokens
from ...errors import InvalidToken
from ...principal import Principal
from ...verified_cache import VerifiedCache
from .chain import Held, JwtIssuer, Presented, Verified, held_in


class BearerJwt:
    name = "jwt"
    cookie = False

    def __init__(self, issuers: tuple[JwtIssuer, ...], verified: VerifiedCache) -> None:
        self.issuers = issuers
        self.verified = verified

    def match(self, request: Presented) -> str | None:
        token = request.bearer
        # not a JWT (an opaque token is introspection's), or not in canonical form: not this source's
        return token if token is not None and tokens.canonical(token) else None

    def held(self, token: str) -> Held | None:
        return held_in(self.verified, token)

    def verify(self, token: str) -> Principal | None:
        """None: not a JWT of an issuer this source knows."""
        hit: Verified | None = self.verified.get(token)
        if hit is not None:
            issuer, verified, principal = hit
            issuer.recheck(verified)
            return principal
        try:
            claims = tokens.unverified_claims(token)
        except InvalidToken:
            return None
        for issuer in self.issuers:
            if issuer.knows(claims):
                return issuer.verify(token, claims)
        return None
