"""The userinfo resolver: the caller's own headers forwarded to a configured
endpoint — Mia's "external IdP, custom Authentication Manager" scenario — whose JSON answer
names the user."""
from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from ...principal import Principal

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

    def lookup(self, forwarded: dict[str, str]) -> Principal | None:
        """The user the endpoint names for these forwarded headers (None: nobody)."""
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
