"""Who is calling: the principal a verified credential names, as every flow sees it (the check decides
on it, the BFF and explain build it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Principal:
    kind: str  # user | client | anonymous
    id: str | None = None
    groups: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    client_type: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    source: str = "none"
    # BFF: the access token nginx forwards upstream as `Authorization: Bearer ...` on allow.
    bearer: str | None = field(default=None, repr=False, compare=False)
    # The identity headers answered for this principal, per rule and header settings: a principal
    # served from the verified-token cache is the same object check after check (a new one, as
    # `replace` makes, starts empty).
    answered: dict[tuple[Any, ...], tuple[Any, dict[str, str]]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS = Principal("anonymous")
MAX_ANSWERED = 64  # identity-header sets remembered per principal (rules x header settings)


def principal_from_claims(claims: dict[str, Any], source: str, kind: str = "client") -> Principal:
    """Map a verified token's claims: sub, groups/roles, scope/scp, permissions."""
    def strings(value: Any) -> frozenset[str]:
        if isinstance(value, str):
            return frozenset(value.split())
        if isinstance(value, list):
            return frozenset(v for v in value if isinstance(v, str))
        return frozenset()

    return Principal(kind=kind, id=str(claims.get("sub")),
                     groups=strings(claims.get("groups", claims.get("roles"))),
                     permissions=strings(claims.get("permissions")),
                     scopes=strings(claims.get("scope", claims.get("scp"))),
                     client_type=claims.get("clientType") if isinstance(claims.get("clientType"), str) else None,
                     claims=claims, source=source)
