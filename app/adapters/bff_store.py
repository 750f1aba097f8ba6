"""BFF sessions in Redis: the token record and the browser session, each with one owner.

`RedisBffTokens` (the core port `BffTokenStore`) alone writes the token record
`gatehouse:v1:bff:<sid>` (JSON: sealed provider tokens, user claims, expiries; TTL the session's
lifetime), its refresh lock `gatehouse:v1:bff-lock:<sid>` and the back-channel index
`gatehouse:v1:bff-index:<key>`. `RedisBrowserSessions` keeps flask-session's documents of the
BFF views under `gatehouse:v1:bff-browser:<sid>`; the web layer (app/blueprints/bff.py) is the
only Flask code that uses them. Redis failures come out as DependencyUnavailable.
"""
from __future__ import annotations

import json
import secrets
from typing import Any, Iterable, Sequence

import redis

from .redis_store import PREFIX, guarded

KEY_PREFIX = f"{PREFIX}bff:"
INDEX_PREFIX = f"{PREFIX}bff-index:"
LOCK_PREFIX = f"{PREFIX}bff-lock:"
BROWSER_PREFIX = f"{PREFIX}bff-browser:"


class RedisBffTokens:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        # Compare-and-delete: a lock that expired and was taken by another holder stays theirs.
        self._unlock = client.register_script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")

    @staticmethod
    def _dump(doc: dict[str, Any]) -> str:
        return json.dumps(doc, separators=(",", ":"))

    @guarded
    def create(self, sid: str, doc: dict[str, Any], ttl_seconds: int, index: Sequence[str]) -> None:
        # One transaction: a record is never stored without the index that lets the provider end it.
        pipe = self.r.pipeline(transaction=True)
        pipe.set(KEY_PREFIX + sid, self._dump(doc), ex=max(1, ttl_seconds))
        for key in index:
            pipe.sadd(INDEX_PREFIX + key, sid)
            pipe.expire(INDEX_PREFIX + key, max(1, ttl_seconds))
        pipe.execute()

    @guarded
    def load(self, sid: str) -> dict[str, Any] | None:
        raw = self.r.get(KEY_PREFIX + sid)
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    @guarded
    def update(self, sid: str, doc: dict[str, Any]) -> bool:
        return bool(self.r.set(KEY_PREFIX + sid, self._dump(doc), xx=True, keepttl=True))

    @guarded
    def delete(self, sids: Iterable[str]) -> int:
        names = [KEY_PREFIX + s for s in sids]
        return int(self.r.delete(*names)) if names else 0

    @guarded
    def lock(self, sid: str, ttl_ms: int) -> str | None:
        token = secrets.token_urlsafe(16)
        return token if self.r.set(LOCK_PREFIX + sid, token, nx=True, px=ttl_ms) else None

    @guarded
    def unlock(self, sid: str, token: str) -> None:
        self._unlock(keys=[LOCK_PREFIX + sid], args=[token])

    @guarded
    def indexed(self, key: str) -> list[str]:
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in self.r.smembers(INDEX_PREFIX + key))


class RedisBrowserSessions:
    """flask-session's serialised browser sessions, under the key flask-session names."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    @guarded
    def get(self, key: str) -> bytes | None:
        raw = self.r.get(key)
        return raw.encode() if isinstance(raw, str) else raw

    @guarded
    def put(self, key: str, data: bytes, ttl_seconds: int) -> None:
        self.r.set(key, data, ex=max(1, ttl_seconds))

    @guarded
    def delete(self, key: str) -> None:
        self.r.delete(key)
