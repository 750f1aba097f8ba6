"""Redis (redis-py): replay guard, revocation list, rate-limit counters.

Every key is `gatehouse:v1:<kind>:<id>` and every key has a TTL.
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..core.errors import DependencyUnavailable

T = TypeVar("T")
PREFIX = "gatehouse:v1:"


@dataclass(frozen=True)
class RedisConfig:
    mode: str  # normal | sentinel
    url: str | None
    hosts: tuple[tuple[str, int], ...]
    master_name: str | None
    username: str | None
    password: str | None
    tls: bool
    tls_cacert: str | None
    timeout_seconds: float


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """Redis down or slow becomes a 503: nothing that needs it is decided without it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc

    return wrapper


def connect(cfg: RedisConfig) -> redis.Redis:
    common: dict[str, Any] = {
        "socket_timeout": cfg.timeout_seconds,
        "socket_connect_timeout": cfg.timeout_seconds,
        "username": cfg.username,
        "password": cfg.password,
        "health_check_interval": 30,
        # One quick retry covers a pooled connection that died with a Redis restart; more
        # would only delay the 503 that a request needing Redis must get when it is down.
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
    }
    if cfg.tls:
        common.update(ssl=True, ssl_ca_certs=cfg.tls_cacert)
    if cfg.mode == "sentinel":
        sentinel = Sentinel(list(cfg.hosts), sentinel_kwargs=dict(common), **common)
        return sentinel.master_for(cfg.master_name or "", **common)
    if cfg.url:
        # The URL carries scheme (redis:// or rediss://), host, port, db and credentials.
        options = {k: v for k, v in common.items() if v is not None and k != "ssl"}
        return redis.Redis.from_url(cfg.url, **options)
    host, port = cfg.hosts[0]
    return redis.Redis(host=host, port=port, **common)


class RedisReplayGuard:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    @guarded
    def first_use(self, kind: str, value: str, ttl_seconds: int) -> bool:
        return bool(self.r.set(f"{PREFIX}used:{kind}:{value}", b"1", nx=True, ex=ttl_seconds))


class RedisRevocationFeed:
    """A sorted set per kind (`gatehouse:v1:feed:<kind>`): member `<until>|<key>`, score a
    sequence number from a Redis counter (`...:feed-seq:<kind>`), so the order never depends on
    any instance's clock. Entries stay until their own `until` (the oldest expired ones are
    trimmed at each publish); both keys live as long as the longest-lived entry."""

    PUBLISH = """
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], seq, ARGV[2] .. '|' .. ARGV[3])
local now = tonumber(ARGV[1])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 99)
for _, member in ipairs(oldest) do
  local expiry = tonumber(string.match(member, '^(%d+)|'))
  if expiry and expiry < now then redis.call('ZREM', KEYS[1], member) end
end
local ttl = tonumber(ARGV[2]) - now + 60
for _, key in ipairs(KEYS) do
  if redis.call('TTL', key) < ttl then redis.call('EXPIRE', key, ttl) end
end
return seq
"""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._publish = client.register_script(self.PUBLISH)

    @guarded
    def publish(self, kind: str, key: str, until: float) -> None:
        self._publish(keys=[f"{PREFIX}feed:{kind}", f"{PREFIX}feed-seq:{kind}"],
                      args=[int(time.time()), int(until), key])

    @guarded
    def since(self, kind: str, after: int) -> tuple[list[tuple[str, float]], int]:
        pipe = self.r.pipeline(transaction=True)
        pipe.get(f"{PREFIX}feed-seq:{kind}")
        pipe.zrangebyscore(f"{PREFIX}feed:{kind}", f"({after}", "+inf", withscores=True)
        current, rows = pipe.execute()
        entries: list[tuple[str, float]] = []
        newest = int(current or 0)
        for member, score in rows:
            text = member.decode() if isinstance(member, bytes) else str(member)
            until, _, key = text.partition("|")
            entries.append((key, float(until)))
        return entries, newest


class RedisRevocations:
    def __init__(self, client: redis.Redis, feed: RedisRevocationFeed | None = None) -> None:
        self.r = client
        self.feed = feed

    @guarded
    def revoke(self, jti: str, ttl_seconds: int) -> None:
        self.r.set(f"{PREFIX}revoked:{jti}", b"1", ex=ttl_seconds)
        if self.feed is not None:  # for the workers' mirrors (the /auth fast path)
            self.feed.publish("jti", jti, time.time() + ttl_seconds)

    @guarded
    def is_revoked(self, jti: str) -> bool:
        return bool(self.r.exists(f"{PREFIX}revoked:{jti}"))


class RedisRateLimiter:
    """Fixed-window failure counters: `limit` failures per `window` seconds per key."""

    def __init__(self, client: redis.Redis, limit: int, window: int) -> None:
        self.r, self.limit, self.window = client, limit, window
        # INCR and the first EXPIRE in one step, so no counter is ever left without a TTL.
        self._incr = client.register_script(
            "local c = redis.call('INCR', KEYS[1]) "
            "if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return c")

    @guarded
    def retry_after(self, keys: Iterable[str]) -> int | None:
        names = [f"{PREFIX}authfail:{k}" for k in keys]
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.get(name)
            pipe.ttl(name)
        results = pipe.execute()
        waits = [max(int(ttl), 1) for count, ttl in zip(results[::2], results[1::2])
                 if count is not None and int(count) >= self.limit]
        return max(waits) if waits else None

    @guarded
    def hit(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._incr(keys=[f"{PREFIX}authfail:{key}"], args=[self.window])

    @guarded
    def ping(self) -> None:
        self.r.ping()


class RedisDocuments:
    """JSON documents under `gatehouse:v1:<kind>:<key>`, each with a TTL; `take` is GETDEL,
    so a state or refresh token is used once even when two requests race for it."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    @staticmethod
    def _name(kind: str, key: str) -> str:
        return f"{PREFIX}{kind}:{key}"

    @staticmethod
    def _load(raw: Any) -> dict[str, Any] | None:
        if raw is None:
            return None
        doc = json.loads(raw)
        return doc if isinstance(doc, dict) else None

    @guarded
    def put(self, kind: str, key: str, doc: dict[str, Any], ttl_seconds: int) -> None:
        self.r.set(self._name(kind, key), json.dumps(doc, separators=(",", ":")), ex=max(1, ttl_seconds))

    @guarded
    def replace(self, kind: str, key: str, doc: dict[str, Any], ttl_seconds: int) -> bool:
        return bool(self.r.set(self._name(kind, key), json.dumps(doc, separators=(",", ":")),
                               ex=max(1, ttl_seconds), xx=True))

    @guarded
    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._load(self.r.get(self._name(kind, key)))

    @guarded
    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._load(self.r.getdel(self._name(kind, key)))

    @guarded
    def delete(self, kind: str, keys: Iterable[str]) -> int:
        names = [self._name(kind, k) for k in keys]
        return int(self.r.delete(*names)) if names else 0

    @guarded
    def exists(self, kind: str, key: str) -> bool:
        return bool(self.r.exists(self._name(kind, key)))
