"""The chain of credential sources the check walks: what a check request presents (read once),
what a source is (`match` the request, `verify` the credential), and the chain the composition
root registers in the configured order."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Generic, Protocol, TypeVar

from ...principal import Principal
from ...verified_cache import VerifiedCache
from ..policy.dialects import Headers

# CREDENTIAL_SOURCES' words, in the default order.
SOURCES = ("session", "bff", "jwt", "introspection", "userinfo", "trusted-headers")


class Presented:
    """What a check request presents: its headers, its cookies (parsed only when a source asks)
    and its bearer token, read once per check."""

    __slots__ = ("headers", "cookies", "bearer")

    def __init__(self, headers: Headers, cookies: Any = None) -> None:
        self.headers = headers
        self.cookies = cookies
        scheme, _, value = (headers.get("Authorization") or "").strip().partition(" ")
        value = value.strip()
        self.bearer: str | None = value if value and scheme.lower() == "bearer" else None


class CredentialSource(Protocol):
    """One source of the chain: `match` finds its credential in the request (None: not
    presented, the walk goes on); `verify` names the caller, None when the credential names
    nobody (the walk goes on), or raises InvalidToken (refused)."""

    # CREDENTIAL_SOURCES' word for the source; a refusal names it.
    name: str
    # A cookie is sent whether or not the caller means it: its refusal does not end the walk
    # (a stale or foreign session cookie must not hide a valid bearer token).
    cookie: bool

    def match(self, request: Presented, /) -> Any | None: ...

    def verify(self, credential: Any, /) -> Principal | None: ...


class JwtIssuer(Protocol):
    """An issuer of the bearer JWTs the `jwt` source reads (sources/bearer_jwt.py), chosen by
    the token's unverified claims; what it verified goes to the verified-token cache with it."""

    def knows(self, claims: dict[str, Any], /) -> bool: ...

    def verify(self, token: str, claims: dict[str, Any], /) -> Principal: ...

    def recheck(self, claims: dict[str, Any], /) -> None:
        """What can change while a cached token is valid, asked on every use: whether its
        session is still open, whether it was revoked (InvalidToken); external JWTs: nothing."""
        ...


class IssuerVerifier(Protocol):
    def knows(self, issuer: Any, /) -> bool: ...


V = TypeVar("V", bound=IssuerVerifier)


class ByIssuer(Generic[V]):
    """A JWT issuer chosen by the token's `iss`, its verifier beside the verified-token cache
    (sources/own.py, sources/external.py)."""

    def __init__(self, verifier: V, verified: VerifiedCache) -> None:
        self.verifier = verifier
        self.verified = verified

    def knows(self, claims: dict[str, Any]) -> bool:
        return self.verifier.knows(claims.get("iss"))


# A verified-token cache entry of the JWT sources: the issuer that verified it, its verified
# claims and the caller they name. A token found there skips its signature check; its issuer's
# `recheck` still asks what can change while it is valid.
Verified = tuple[JwtIssuer, dict[str, Any], Principal]

# What a source that keeps its principals in a per-worker cache says of a credential for an
# answer kept on its word (app/answer_memo.py): what to ask again each time, as the cache's own hit
# would (True: still the same principal; False: the entry lapsed, ask the source; InvalidToken:
# refused), and the principal it names.
Held = tuple[Callable[[], bool], Principal]


def _rechecked(verified: VerifiedCache, until: float, recheck: Callable[[dict[str, Any]], None],
               claims: dict[str, Any]) -> bool:
    if not verified.clock() < until:  # the token's `exp`, or the cache's bound for a withdrawn key
        return False
    recheck(claims)
    return True


def held_in(verified: VerifiedCache, token: str, issuer: Any = None) -> Held | None:
    """The verified-token cache's entry of `token` as a Held (of `issuer` only, when given)."""
    found = verified.entry(token)
    if found is None:
        return None
    until, (by, claims, principal) = found
    if issuer is not None and by is not issuer:
        return None
    return partial(_rechecked, verified, until, by.recheck, claims), principal


class ClientTypeSource(Protocol):
    """API keys: a clientType beside whoever the caller is (sources/api_key.py)."""

    def match(self, request: Presented, /) -> str | None: ...

    def verify(self, key: str, /) -> str | None: ...


class CsrfGuard(Protocol):
    """Why a state-changing call carrying the BFF cookie is not the app's own, if it is not."""

    def csrf_problem(self, headers: Headers, /) -> str | None: ...


@dataclass(frozen=True)
class ChainConfig:
    # CREDENTIAL_SOURCES: the order in which sources are tried.
    order: tuple[str, ...] = SOURCES
    # TRUST_MIA_USER_HEADERS: accept miauserid/miausergroups/miauserproperties (multi-gateway only).
    trust_user_headers: bool = False


@dataclass(frozen=True)
class CredentialChain:
    """The sources in the order they are tried, built once per worker by the composition root."""

    sources: tuple[CredentialSource, ...]
    # The per-worker memory of verified tokens the JWT sources share.
    verified: VerifiedCache = field(default_factory=lambda: VerifiedCache(max_entries=0))
    # API keys add a clientType to whoever the caller is; not a source of the order.
    client_type: ClientTypeSource | None = None
    # The BFF source, whose principal on a state-changing request must pass its CSRF check.
    bff: CsrfGuard | None = None
