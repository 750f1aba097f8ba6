"""Bearer JWTs from configured external issuers, verified with keys from their JWKS
(docs/auth.md "External issuers"): keys cached with a TTL, refetched on an unknown `kid` at most once per
cooldown, algorithms pinned per issuer, `iss`/`aud`/`exp`/`nbf` checked with bounded leeway,
claims mapped per issuer."""
from __future__ import annotations

import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from jose import jwk, jwt
from jose.exceptions import JOSEError

from . import tokens
from .key_policy import material_problem
from .errors import DependencyUnavailable, InvalidToken
from .principal import Principal

log = logging.getLogger("gatehouse.issuers")
MAX_LEEWAY_SECONDS = 300
NOTHING_CACHED_RETRY_SECONDS = 5


class JsonFetcher(Protocol):
    """Fetch a JSON document over HTTP with a timeout; DependencyUnavailable when it cannot."""

    def __call__(self, url: str) -> dict[str, Any]: ...


class CallSlots(Protocol):
    """The worker's budget of threads waiting on a provider: a slot held for `what`, or
    DependencyUnavailable at once when none is free (adapters/http_client.py's CallGate). Calls
    made by a thread that holds a slot run under that slot."""

    def __call__(self, what: str) -> AbstractContextManager[None]: ...


def _no_limit(what: str) -> AbstractContextManager[None]:
    return nullcontext()


@dataclass(frozen=True)
class ClaimMapping:
    id: str = "sub"
    groups: tuple[str, ...] = ("groups", "roles")
    scopes: tuple[str, ...] = ("scope", "scp")
    permissions: str = "permissions"
    client_type: str = "clientType"


@dataclass(frozen=True)
class ExternalIssuer:
    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...] = ("RS256",)
    jwks_uri: str | None = None
    discovery_url: str | None = None
    inline_jwks: dict[str, Any] | None = None
    leeway: int = 30
    claims: ClaimMapping = ClaimMapping()
    # OIDC Core §10.1: a provider with a single key may omit `kid` (login providers only).
    single_key_without_kid: bool = False


@dataclass
class _Keys:
    by_kid: dict[str, Any] = field(default_factory=dict)
    fetched_at: float = 0.0
    last_attempt: float = -1e9
    only: Any = None  # the key of a single-key JWKS, named or not
    inflight: threading.Event | None = None  # set when the fetch under way ends


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


class ExternalVerifier:
    def __init__(self, issuers: tuple[ExternalIssuer, ...], fetch: JsonFetcher, cache_seconds: int = 300,
                 refetch_cooldown: int = 30, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, wait_seconds: float = 10.0,
                 slots: CallSlots = _no_limit) -> None:
        self.issuers = {i.issuer: i for i in issuers}
        self.fetch = fetch
        self.cache_seconds = cache_seconds
        self.cooldown = refetch_cooldown
        self.clock = clock
        self.wall_clock = wall_clock
        self._keys: dict[str, _Keys] = {i.issuer: _Keys() for i in issuers}
        # Guards each issuer's bookkeeping only: never held across a fetch, so a hanging JWKS
        # endpoint stalls no check that does not need it.
        self._lock = threading.Lock()
        self.wait_seconds = wait_seconds  # the longest a check waits for another's fetch
        # A check waiting for another's fetch holds a thread as surely as the fetch does: it takes
        # a slot of the same per-worker budget, so a flood of unknown kids cannot take them all.
        self.slots = slots
        self.fetches = 0

    def knows(self, issuer: object) -> bool:
        return isinstance(issuer, str) and issuer in self.issuers

    def _jwks_uri(self, cfg: ExternalIssuer) -> str:
        if cfg.jwks_uri:
            return cfg.jwks_uri
        assert cfg.discovery_url
        uri = self.fetch(cfg.discovery_url).get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise DependencyUnavailable("the issuer's discovery document has no usable jwks_uri")
        return uri

    def _load(self, cfg: ExternalIssuer, state: _Keys) -> None:
        self.fetches += 1
        document = cfg.inline_jwks if cfg.inline_jwks is not None else self.fetch(self._jwks_uri(cfg))
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise DependencyUnavailable("the issuer's JWKS has no keys")
        usable = [k for k in keys if isinstance(k, dict) and self._acceptable(cfg, k)]
        state.by_kid = {k["kid"]: k for k in usable if isinstance(k.get("kid"), str)}
        state.only = usable[0] if len(usable) == 1 else None
        state.fetched_at = self.clock()

    @staticmethod
    def _acceptable(cfg: ExternalIssuer, material: dict[str, Any]) -> bool:
        """A weak, private or unsupported key in an issuer's JWKS is ignored (and logged), never
        trusted: RSA under 2048 bits, EC off the NIST curves, any private member."""
        problem = material_problem(material)
        if problem:
            log.warning("JWKS key ignored", extra={"issuer": cfg.issuer, "kid": str(material.get("kid"))[:100],
                                                   "detail": problem})
            return False
        return True

    def _fetch(self, cfg: ExternalIssuer, state: _Keys, done: threading.Event) -> None:
        try:
            self._load(cfg, state)
        except DependencyUnavailable as exc:
            log.warning("JWKS fetch failed", extra={"issuer": cfg.issuer, "detail": exc.description})
        finally:
            with self._lock:
                state.inflight = None
                state.last_attempt = self.clock()  # the cooldown counts from the end of a slow fetch
            done.set()

    def _due(self, state: _Keys) -> bool:
        """A fetch may start now (called under the lock)."""
        # With nothing cached yet a fetch is retried sooner (every check waits on it).
        pause = self.cooldown if state.fetched_at else min(self.cooldown, NOTHING_CACHED_RETRY_SECONDS)
        return self.clock() - state.last_attempt >= pause

    def _refetch(self, cfg: ExternalIssuer, state: _Keys, wait: bool) -> None:
        """Fetch the issuer's keys again: at most once per cooldown per issuer, whatever is cached,
        and one fetch at a time. `wait`: the caller needs the answer (an unknown kid, nothing
        cached), so it fetches itself or waits a bounded time for the fetch under way; else the
        fetch runs in the background and the caller goes on with the keys it has.

        A caller that will fetch or wait holds a slot of the worker's outbound budget first (503
        at once when none is free), so waiting checks cannot take every thread, nor the slot of
        the fetch they wait for (its calls are made under the slot its check holds)."""
        if not wait:
            self._start(cfg, state, wait)
            return
        with self._lock:
            if state.inflight is None and not self._due(state):
                return  # nothing to fetch or wait for: no slot needed
        with self.slots("the issuer's key document"):
            self._start(cfg, state, wait)

    def _start(self, cfg: ExternalIssuer, state: _Keys, wait: bool) -> None:
        with self._lock:
            done = state.inflight
            lead = done is None
            if lead:
                if not self._due(state):
                    return
                state.last_attempt = self.clock()
                done = state.inflight = threading.Event()
        assert done is not None
        if lead and wait:
            self._fetch(cfg, state, done)
        elif lead:
            threading.Thread(target=self._fetch, args=(cfg, state, done), daemon=True).start()
        elif wait:
            done.wait(self.wait_seconds)

    def _key(self, cfg: ExternalIssuer, kid: str) -> Any:
        state = self._keys[cfg.issuer]
        key = state.by_kid.get(kid)
        if key is not None:
            if self.clock() - state.fetched_at > self.cache_seconds:
                self._refetch(cfg, state, wait=False)  # stale: the cached key serves meanwhile
            return key
        self._refetch(cfg, state, wait=True)
        if not state.fetched_at:
            raise DependencyUnavailable("the issuer's keys are unavailable")  # never fetched: fail closed
        # Fetched, but no acceptable key by that kid (a JWKS of only weak or private keys
        # included, each ignored and logged): the token's fault, a 401, not an outage.
        return state.by_kid.get(kid)

    def _only_key(self, cfg: ExternalIssuer) -> Any:
        state = self._keys[cfg.issuer]
        if state.fetched_at and self.clock() - state.fetched_at <= self.cache_seconds:
            return state.only
        self._refetch(cfg, state, wait=not state.fetched_at)
        if not state.fetched_at:
            raise DependencyUnavailable("the issuer's keys are unavailable")
        return state.only

    def verify(self, token: str, header: dict[str, Any], claims: dict[str, Any],
               access_token: str | None = None) -> Principal:
        """`access_token`: an ID token's companion, checked against its `at_hash` (OIDC Core §3.1.3.8)."""
        tokens.check_length(token)
        if not tokens.canonical(token):
            raise InvalidToken("malformed token")
        cfg = self.issuers[claims["iss"]]
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in cfg.algorithms:
            raise InvalidToken("algorithm not allowed for this issuer")
        if not isinstance(kid, str) and cfg.single_key_without_kid:
            material = self._only_key(cfg)
        elif not isinstance(kid, str):
            raise InvalidToken("token has no kid")
        else:
            material = self._key(cfg, kid)
        if material is None:
            raise InvalidToken("unknown signing key")
        if tokens.crit_problem(header):
            raise InvalidToken("token has critical header parameters that are not understood")
        tokens.check_time_claims(token, self.wall_clock(), min(cfg.leeway, MAX_LEEWAY_SECONDS))
        try:
            key = jwk.construct(material, alg)
            verified = jwt.decode(token, key, algorithms=[alg], issuer=cfg.issuer, access_token=access_token,
                                  options={"verify_aud": False, "require_exp": True,
                                           "verify_at_hash": access_token is not None,
                                           "leeway": min(cfg.leeway, MAX_LEEWAY_SECONDS)})
        except (JOSEError, ValueError, TypeError) as exc:
            raise InvalidToken("token is invalid or expired") from exc
        aud = verified.get("aud")
        audiences = {aud} if isinstance(aud, str) else set(a for a in aud if isinstance(a, str)) \
            if isinstance(aud, list) else set()
        if cfg.audiences and not audiences & set(cfg.audiences):
            raise InvalidToken("token is for another audience")
        return self._principal(cfg, verified)

    @staticmethod
    def _principal(cfg: ExternalIssuer, claims: dict[str, Any]) -> Principal:
        mapping = cfg.claims
        groups = next((_strings(claims[g]) for g in mapping.groups if g in claims), frozenset())
        scopes = next((_strings(claims[s]) for s in mapping.scopes if s in claims), frozenset())
        client_type = claims.get(mapping.client_type)
        return Principal(kind="user", id=str(claims.get(mapping.id, "")), groups=groups,
                         permissions=_strings(claims.get(mapping.permissions)), scopes=scopes,
                         client_type=client_type if isinstance(client_type, str) else None,
                         claims=claims, source=f"issuer:{cfg.issuer}")
