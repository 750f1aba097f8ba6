"""BFF sessions in Redis (SPEC §5).

flask-session's RedisSessionInterface owns the browser side: it opens the session named by the
`__Host-` cookie for the /bff/* views, writes it at login (with a regenerated id) and deletes it
at logout. Documents are JSON under `gatehouse:v1:bff:<sid>`, so `RedisBffSessions` (the core
port) reads and updates the very same keys for /auth and for token refreshes, outside Flask's
session machinery, and keeps each key's TTL.
"""
from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta
from typing import Any, Iterable

import redis
from flask import Flask, Request, jsonify
from flask.wrappers import Response
from flask_session.redis import RedisSessionInterface

from ..core.errors import DependencyUnavailable
from .redis_store import PREFIX, guarded

KEY_PREFIX = f"{PREFIX}bff:"
INDEX_PREFIX = f"{PREFIX}bff-index:"
LOCK_PREFIX = f"{PREFIX}bff-lock:"
UNAVAILABLE = "gatehouse.bff_store_down"
log = logging.getLogger("gatehouse.bff")


class RedisBffSessions:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        # Compare-and-delete: a lock that expired and was taken by another holder stays theirs.
        self._unlock = client.register_script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")

    @guarded
    def get(self, sid: str) -> dict[str, Any] | None:
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
        return bool(self.r.set(KEY_PREFIX + sid, json.dumps(doc, separators=(",", ":")), xx=True, keepttl=True))

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
    def index(self, sid: str, keys: list[str], ttl_seconds: int) -> None:
        pipe = self.r.pipeline(transaction=False)
        for key in keys:
            pipe.sadd(INDEX_PREFIX + key, sid)
            pipe.expire(INDEX_PREFIX + key, ttl_seconds)
        pipe.execute()

    @guarded
    def indexed(self, key: str) -> list[str]:
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in self.r.smembers(INDEX_PREFIX + key))


class BffSessionInterface(RedisSessionInterface):
    """flask-session, scoped to the BFF views: other requests get Flask's null session and never
    touch Redis for it. Redis being down is remembered on the request (the views answer 503)
    instead of failing inside Flask's request set-up."""

    def __init__(self, app: Flask, client: redis.Redis, prefix: str) -> None:
        super().__init__(app, client=client, key_prefix=KEY_PREFIX, use_signer=False, permanent=True,
                         sid_length=32, serialization_format="json")
        self.paths = (f"{prefix}/bff/session", f"{prefix}/bff/oauth/callback", f"{prefix}/bff/logout")

    def open_session(self, app: Flask, request: Request) -> Any:
        if request.path not in self.paths:
            return None  # Flask substitutes its null session
        try:
            return super().open_session(app, request)
        except redis.RedisError:
            request.environ[UNAVAILABLE] = True
            return None

    def save_session(self, app: Flask, session: Any, response: Response) -> None:  # type: ignore[override]
        try:
            super().save_session(app, session, response)
        except redis.RedisError:
            log.warning("BFF session not saved: Redis is unavailable")
            failed = jsonify({"statusCode": 503, "error": "Service Unavailable", "message": "Redis is unavailable"})
            response.status_code = 503
            response.headers.clear()
            response.headers.update(failed.headers)
            response.set_data(failed.get_data())
            response.headers["Cache-Control"] = "no-store"

    def regenerate_id(self, session: Any) -> None:
        """A new id at login (session fixation): the old document goes, the data moves over."""
        try:
            self.regenerate(session)
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc


def install(app: Flask, client: redis.Redis, prefix: str, cookie_name: str, lifetime: int) -> None:
    """Configure Flask's session cookie for the BFF: `__Host-` name, HttpOnly, Secure,
    SameSite=Strict, Path=/, no Domain (SPEC §5)."""
    app.config.update(SESSION_COOKIE_NAME=cookie_name, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SECURE=True, SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_PATH="/",
                      SESSION_COOKIE_DOMAIN=None, PERMANENT_SESSION_LIFETIME=timedelta(seconds=lifetime),
                      # Saved only when changed (login, logout): refreshes write the tokens
                      # themselves and must not be overwritten by a stale copy.
                      SESSION_REFRESH_EACH_REQUEST=False)
    app.session_interface = BffSessionInterface(app, client, prefix)
