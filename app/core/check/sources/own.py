"""Gatehouse's own access tokens, an issuer of the `jwt` source: signature and claims (cached
per token), then revocation, asked on every use when revocation checking is on."""
from __future__ import annotations

from typing import Any

from ...principal import Principal
from ..verifiers.own import OwnTokens
from .chain import ByIssuer


class OwnAccessToken(ByIssuer[OwnTokens]):
    def verify(self, token: str, claims: dict[str, Any]) -> Principal:
        verified, principal = self.verifier.verify(token)
        self.verified.put(token, (self, verified, principal), verified.get("exp"))
        return principal

    def recheck(self, claims: dict[str, Any]) -> None:
        self.verifier.ensure_active(claims)
