"""Redis (redis-py): replay guard, revocation feed, rate-limit counters, documents.

Every key is `gatehouse:v1:<kind>:<id>` and every key has a TTL.
"""
from __future__ import annotations

import contextvars
import functools
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..core.errors import DependencyUnavailable
from ..core.records import FeedBatch, Revocation

T = TypeVar("T")
PREFIX = "gatehouse:v1:"
log = logging.getLogger("gatehouse.redis")
Client = redis.Redis  # the client type the composition root holds


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


# Inside an operation's retry: per thread, and per greenlet under gevent (greenlets have their own
# context), whenever this module was imported.
_NESTED: contextvars.ContextVar[bool] = contextvars.ContextVar("gatehouse_redis_retry_nested", default=False)


class OnceRetried(Retry):
    """One retry per operation, whatever redis-py nests. redis-py runs each attempt of a command
    under the connection's Retry and, inside it, the connect and handshake (CLIENT SETINFO, AUTH)
    under the same Retry again: against a Redis that accepts connections but never answers, one
    call on a new connection made four attempts, 4 x REDIS_TIMEOUT_SECONDS. Here a retry inside
    another runs once, so the outer one alone retries (after closing the connection)."""

    def call_with_retry(self, do: Callable[[], T], fail: Callable[..., Any], *args: Any, **kwargs: Any) -> T:
        if _NESTED.get():
            is_retryable = kwargs.get("is_retryable", args[0] if args else None)
            with_count = kwargs.get("with_failure_count", args[1] if len(args) > 1 else False)
            try:
                return do()
            except self._supported_errors as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                if with_count:
                    fail(error, 1)
                else:
                    fail(error)
                raise
        outer = _NESTED.set(True)
        try:
            return super().call_with_retry(do, fail, *args, **kwargs)
        finally:
            _NESTED.reset(outer)


def connect(cfg: RedisConfig) -> redis.Redis:
    common: dict[str, Any] = {
        "socket_timeout": cfg.timeout_seconds,
        "socket_connect_timeout": cfg.timeout_seconds,
        "username": cfg.username,
        "password": cfg.password,
        "health_check_interval": 30,
        # One quick retry covers a pooled connection that died with a Redis restart; more
        # would only delay the 503 that a request needing Redis must get when it is down.
        "retry": OnceRetried(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
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
    """One sorted set (`gatehouse:v1:feed`): member `<kind>|<until>|<at>|<key>`, score a sequence
    number from a Redis counter (`...:feed-seq`), so the order never depends on any instance's
    clock; and an epoch (`...:feed-epoch`), a random name. Entries stay until their own `until`
    (the oldest expired ones are trimmed at each publish); the three keys live as long as the
    longest-lived entry, so after a quiet period the feed is gone.

    The epoch names one run of the sequence: a sequence that starts again at 1 gets a new one,
    and a feed that is read without one is named at once (for a day, or for as long as its
    entries). So a Redis that lost its data is noticed by every mirror at its next pull, even
    when nothing had been published before the loss — which tells it to reload from the durable
    store rather than trust its sequence numbers, and to forget what it remembered of Redis.
    What a reader gets is that name joined to the serving redis-server's `run_id`, which changes
    with the process: a Redis back from an older copy of its data (restarted from its last
    snapshot, a lagging replica promoted by a failover) keeps the stored name while its sequence
    went back, and the next publishes number again what workers already read; only the process
    tells that feed apart. A server that does not give its `run_id` to a script is named by the
    stored name alone."""

    KEYS = (f"{PREFIX}feed", f"{PREFIX}feed-seq", f"{PREFIX}feed-epoch")
    UNPUBLISHED_EPOCH_SECONDS = 86400
    PUBLISH = """
local seq = redis.call('INCR', KEYS[2])
if seq == 1 then redis.call('SET', KEYS[3], ARGV[3]) else redis.call('SET', KEYS[3], ARGV[3], 'NX') end
redis.call('ZADD', KEYS[1], seq, ARGV[2])
local now = tonumber(ARGV[1])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 99)
for _, member in ipairs(oldest) do
  local expiry = tonumber(string.match(member, '^[^|]*|(%d+)|'))
  if expiry and expiry < now then redis.call('ZREM', KEYS[1], member) end
end
local ttl = math.max(tonumber(ARGV[4]) - now + 60, redis.call('TTL', KEYS[1]))
for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ttl) end
return seq
"""
    SINCE = """
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[3], epoch, 'EX', ARGV[3])
end
local info = redis.pcall('INFO', 'server')
local server = type(info) == 'string' and string.match(info, 'run_id:(%w+)') or ''
return {redis.call('GET', KEYS[2]), epoch .. '@' .. server,
        redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')}
"""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._unnamed_server_told = False
        self._publish = client.register_script(self.PUBLISH)
        self._since = client.register_script(self.SINCE)

    @guarded
    def publish(self, entry: Revocation) -> None:
        until = int(entry.until) + 1
        member = f"{entry.kind}|{until}|{entry.at:.3f}|{entry.key}"
        self._publish(keys=list(self.KEYS), args=[int(time.time()), member, secrets.token_hex(8), until])

    @guarded
    def since(self, after: int) -> FeedBatch:
        current, epoch, rows = self._since(keys=list(self.KEYS),
                                           args=[after, secrets.token_hex(8), self.UNPUBLISHED_EPOCH_SECONDS])
        entries: list[Revocation] = []
        for member in rows:
            text = member.decode() if isinstance(member, bytes) else str(member)
            parts = text.split("|", 3)
            if len(parts) == 4:
                kind, until, at, key = parts
                entries.append(Revocation(kind, key, float(at), float(until)))
        name = epoch.decode() if isinstance(epoch, bytes) else str(epoch)
        if name.endswith("@") and not self._unnamed_server_told:
            self._unnamed_server_told = True  # once per process: it is the same at every pull
            log.warning("Redis gives the revocation feed no run_id (the Redis user may not run INFO): a "
                        "Redis back from an older copy of its data will not make workers reload from MongoDB")
        return FeedBatch(entries, int(current or 0), name)


class RedisRateLimiter:
    """Fixed-window failure counters: per key, failures in `window` seconds against its limit."""

    def __init__(self, client: redis.Redis, window: int) -> None:
        self.r, self.window = client, window
        # INCR and the first EXPIRE in one step, so no counter is ever left without a TTL.
        self._incr = client.register_script(
            "local c = redis.call('INCR', KEYS[1]) "
            "if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return c")

    @guarded
    def retry_after(self, limits: Mapping[str, int]) -> int | None:
        pipe = self.r.pipeline(transaction=False)
        for key in limits:
            pipe.get(f"{PREFIX}authfail:{key}")
            pipe.ttl(f"{PREFIX}authfail:{key}")
        results = pipe.execute()
        waits = [max(int(ttl), 1) for count, ttl, limit in zip(results[::2], results[1::2], limits.values())
                 if count is not None and int(count) >= limit]
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
        self._swap = client.register_script(self.SWAP)

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

    SWAP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'taken' end
if redis.call('EXISTS', KEYS[#KEYS]) == 0 then return 'gone' end
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[2 * i - 3], 'EX', ARGV[2 * i - 2]) end
return 'done'
"""

    @guarded
    def swap(self, take: tuple[str, str], puts: list[tuple[str, str, dict[str, Any], int]],
             replace: tuple[str, str, dict[str, Any], int]) -> str:
        writes = [*puts, replace]
        args: list[Any] = []
        for _, _, doc, ttl in writes:
            args += [json.dumps(doc, separators=(",", ":")), max(1, ttl)]
        outcome = self._swap(keys=[self._name(*take), *[self._name(kind, key) for kind, key, _, _ in writes]],
                             args=args)
        return outcome.decode() if isinstance(outcome, bytes) else str(outcome)
