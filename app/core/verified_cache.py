"""The per-worker memory of credentials already verified at /auth (own and external JWTs, login
sessions): a token seen again costs a dictionary lookup instead of a signature check."""
from __future__ import annotations

import hashlib
import threading
import time
from typing import Any, Callable


class VerifiedCache:
    """Per-worker memory of tokens whose signature and claims were already verified, keyed by
    the whole token, so a token seen again costs a dictionary lookup instead of a signature
    check. Bounded in entries (oldest evicted first) and in time: an entry lives until the
    token's own `exp`, and at most `max_seconds` (so a key withdrawn from an issuer's JWKS stops
    being trusted within that bound). Checks that can change while a token is valid
    (revocation, an ended session) are never cached: callers run them on every use."""

    def __init__(self, max_entries: int = 10000, max_seconds: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.max_seconds = max_seconds
        self.clock = clock
        self._entries: dict[bytes, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _key(token: str) -> bytes:
        # a digest, not the token: 32 bytes a key, however long the token
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, token: str) -> Any:
        key = self._key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            with self._lock:
                self._entries.pop(key, None)
            return None
        return entry[1]

    def entry(self, token: str) -> tuple[float, Any] | None:
        """The live entry of `token`: until when it holds, and its value."""
        entry = self._entries.get(self._key(token))
        return entry if entry is not None and entry[0] > self.clock() else None

    def put(self, token: str, value: Any, exp: Any) -> None:
        if self.max_entries <= 0 or self.max_seconds <= 0 or not isinstance(exp, (int, float)) \
                or isinstance(exp, bool):
            return
        until = min(float(exp), self.clock() + self.max_seconds)
        with self._lock:
            while len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[self._key(token)] = (until, value)
