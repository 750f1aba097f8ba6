"""Opaque bearer tokens of an external authorization server, asked with RFC 7662 token
introspection; active answers cached until `exp`."""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Callable

from ...credentials import sha256_hex
from ...principal import Principal

MAX_CACHE_ENTRIES = 10_000  # tokens whose answers are kept; the oldest go first

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
