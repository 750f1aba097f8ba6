"""Gatehouse's own access tokens, an issuer of the `jwt` source: signature and claims (cached
per token), then revocation, asked on every use when revocation checking is on."""
from __future__ import annotations

from typing import Any

from ...principal import Principal
from ...verified_cache import VerifiedCache
from ..verifiers.own import OwnTokens


class OwnAccessToken:
    def __init__(self, own: OwnTokens, verified: VerifiedCache) -> None:
        self.own = own
        self.verified = verified

    def knows(self, claims: dict[str, Any]) -> bool:
        return self.own.knows(claims.get("iss"))

    def verify(self, token: str, claims: dict[str, Any]) -> Principal:
        verified, principal = self.own.verify(token)
        self.verified.put(token, (self, verified, principal), verified.get("exp"))
        return principal

    def recheck(self, claims: dict[str, Any]) -> None:
        self.own.ensure_active(claims)
