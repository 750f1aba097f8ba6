"""Gatehouse's own access tokens presented at /auth: signature and claims
as the token service verifies them (RFC 9068 `typ`; cacheable), then whether the token or its
client was revoked, asked on every use (when revocation checking is on)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ...principal import Principal, principal_from_claims


def _always_active(claims: dict[str, Any]) -> None:
    """REVOCATION_CHECK=false: a valid signature is trusted until `exp` (README)."""


@dataclass(frozen=True)
class OwnTokens:
    issuer: str
    # core.machine_tokens.TokenService.verify_signature: InvalidToken when it is not ours or not valid
    verify_signature: Callable[[str], dict[str, Any]]
    # the revocation mirror's check: InvalidToken when revoked, DependencyUnavailable when unknown
    ensure_active: Callable[[dict[str, Any]], None] = _always_active

    def knows(self, issuer: Any) -> bool:
        return issuer == self.issuer

    def verify(self, token: str) -> tuple[dict[str, Any], Principal]:
        """The verified claims (what the cache may keep) and the caller they name."""
        claims = self.verify_signature(token)
        self.ensure_active(claims)
        return claims, principal_from_claims(claims, source="gatehouse-jwt")
