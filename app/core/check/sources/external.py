"""A configured external issuer's JWTs, an issuer of the `jwt` source: verified with the
issuer's JWKS (core/external_tokens.py), cached per token; nothing to ask again while valid."""
from __future__ import annotations

from typing import Any

from ... import tokens
from ...external_tokens import ExternalVerifier
from ...principal import Principal
from .chain import ByIssuer


class ExternalIssuerJwt(ByIssuer[ExternalVerifier]):
    def verify(self, token: str, claims: dict[str, Any]) -> Principal:
        principal = self.verifier.verify(token, tokens.unverified_header(token), claims)
        self.verified.put(token, (self, principal.claims, principal), principal.claims.get("exp"))
        return principal

    def recheck(self, claims: dict[str, Any]) -> None:
        """An external JWT's validity does not change before its `exp`."""
