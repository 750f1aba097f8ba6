"""Revocations mirrored into each worker (the /auth fast path): revoked token ids and ended
session ids are published to a feed in Redis; every worker pulls what is new at most once per
`interval` seconds and answers "revoked?" from memory. A revocation thus takes effect in /auth
within `interval` (plus any nginx decision-cache TTL), and /auth costs no Redis round trip per
request. When a pull is due and Redis is down, the check fails closed (DependencyUnavailable).
/tokeninfo and introspection keep asking Redis directly."""
from __future__ import annotations

import threading
import time
from typing import Callable

from .ports import RevocationFeed

class RevocationMirror:
    def __init__(self, feed: RevocationFeed, kind: str, interval: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.feed = feed
        self.kind = kind
        self.interval = interval
        self.clock = clock
        self._until: dict[str, float] = {}
        self._cursor = 0
        self._pulled_at = float("-inf")
        self._lock = threading.Lock()

    def contains(self, key: str) -> bool:
        now = self.clock()
        if now - self._pulled_at >= self.interval:
            self._pull(now)
        until = self._until.get(key)
        return until is not None and until > now

    def _pull(self, now: float) -> None:
        with self._lock:
            if now - self._pulled_at < self.interval:
                return  # another thread just did
            entries, current = self.feed.since(self.kind, self._cursor)
            if current < self._cursor:  # the feed expired and started again: read it whole
                entries, current = self.feed.since(self.kind, 0)
            for key, until in entries:
                if until > now:
                    self._until[key] = until
            self._cursor = current
            if len(self._until) > 1024:  # drop what has expired anyway
                self._until = {k: u for k, u in self._until.items() if u > now}
            self._pulled_at = now

    def __len__(self) -> int:
        return len(self._until)
