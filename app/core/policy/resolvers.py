"""Credential sources other than JWTs: the userinfo resolver (Mia's "external IdP, custom
Authentication Manager" scenario) and API keys that resolve to a clientType (SPEC §3.1)."""
from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from ..credentials import sha256_hex
from .decision import Principal

MAX_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class UserinfoConfig:
    headers_to_proxy: tuple[str, ...] = ("authorization",)
    user_id_key: str = "userID"
    permissions_key: str = "permissions"
    cache_seconds: int = 0


class UserinfoResolver:
    """2xx JSON with an id -> user; 401/403/empty -> anonymous (None); 5xx/timeout raise."""

    def __init__(self, cfg: UserinfoConfig, call: Callable[[dict[str, str]], tuple[int, Any]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.call = call
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()

    def forwarded(self, headers: Any) -> dict[str, str]:
        return {h: headers.get(h) for h in self.cfg.headers_to_proxy if headers.get(h)}

    def resolve(self, headers: Any) -> Principal | None:
        forwarded = self.forwarded(headers)
        if not forwarded:
            return None
        key = hashlib.sha256(repr(sorted(forwarded.items())).encode()).hexdigest()
        if self.cfg.cache_seconds:
            hit = self._cache.get(key)
            if hit and hit[0] > self.clock():
                return hit[1]
        status, body = self.call(forwarded)
        principal = self._principal(body) if 200 <= status < 300 else None
        if self.cfg.cache_seconds:
            self._cache[key] = (self.clock() + self.cfg.cache_seconds, principal)
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return principal

    def _principal(self, body: Any) -> Principal | None:
        if not isinstance(body, dict):
            return None
        user_id = body.get(self.cfg.user_id_key)
        if not isinstance(user_id, (str, int)) or user_id == "":
            return None
        groups = body.get("groups")
        permissions = body.get(self.cfg.permissions_key)
        return Principal(
            kind="user", id=str(user_id),
            groups=frozenset(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else frozenset(),
            permissions=frozenset(p for p in permissions if isinstance(p, str)) if isinstance(permissions, list) else frozenset(),
            claims=body, source="userinfo")


api_key_hash = sha256_hex


@dataclass(frozen=True)
class ApiKeys:
    """API keys stored as SHA-256 hashes -> clientType; read from `client-key`/`secret`
    headers or the `client_key` cookie."""

    by_hash: dict[str, str]
    headers: tuple[str, ...] = ("client-key", "secret")
    cookie: str = "client_key"

    def client_type(self, headers: Any, cookies: Any) -> str | None:
        for name in self.headers:
            value = headers.get(name)
            if value:
                return self.by_hash.get(api_key_hash(value))
        value = cookies.get(self.cookie) if cookies is not None else None
        return self.by_hash.get(api_key_hash(value)) if value else None


class Introspector:
    """Opaque external tokens via RFC 7662; active answers cached until `exp`, at most
    `max_cache_seconds`. The decision is re-evaluated on every hit (only the principal is cached)."""

    def __init__(self, call: Callable[[str], dict[str, Any]], max_cache_seconds: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        self.call = call
        self.max_cache = max_cache_seconds
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    def resolve(self, token: str) -> Principal | None:
        """The principal of an active token; None when the token is not active."""
        key = sha256_hex(token)
        now = self.clock()
        hit = self._cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
        body = self.call(token)
        if body.get("active") is not True:
            self._cache.pop(key, None)
            return None
        exp = body.get("exp")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool) and exp <= now:
            return None
        scope = body.get("scope")
        principal = Principal(
            kind="client" if body.get("client_id") == body.get("sub") else "user",
            id=str(body.get("sub") or body.get("client_id") or ""),
            groups=frozenset(g for g in body.get("groups", []) if isinstance(g, str)) if isinstance(body.get("groups"), list) else frozenset(),
            permissions=frozenset(p for p in body.get("permissions", []) if isinstance(p, str)) if isinstance(body.get("permissions"), list) else frozenset(),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            claims=body, source="introspection")
        until = now + self.max_cache
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            until = min(until, float(exp))
        self._cache[key] = (until, principal)
        while len(self._cache) > MAX_CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return principal
