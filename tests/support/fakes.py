"""In-memory implementations of the ports (test fakes), for unit tests of core (no I/O). Each is
held to the same contract as its real adapter on a real server: the table CONTRACTS in
tests/integration/test_port_contracts.py names the suite of every one, and fails on a fake it lacks."""
from __future__ import annotations

import copy
import threading
import time
import uuid
from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from app.core.errors import Conflict, DependencyUnavailable
from app.core.records import Client, FeedBatch, Revocation, UserChanges, UserQuery
from app.core.revocation import merge


class MemoryClients:
    def __init__(self) -> None:
        self.docs: dict[str, Client] = {}

    def insert(self, client: Client) -> None:
        if client.client_id in self.docs:
            raise KeyError("duplicate clientId")
        self.docs[client.client_id] = client

    def get(self, client_id: str) -> Client | None:
        return self.docs.get(client_id)

    def list(self) -> list[Client]:
        return sorted(self.docs.values(), key=lambda c: (c.created_at, c.client_id))

    def update(self, client_id: str, changes: dict[str, Any]) -> Client | None:
        if client_id not in self.docs:
            return None
        fixed: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
        self.docs[client_id] = replace(self.docs[client_id], **fixed)
        return self.docs[client_id]

    def touch_last_login(self, client_id: str, when: int) -> None:
        if client_id in self.docs:
            self.docs[client_id] = replace(self.docs[client_id], last_login=when)

    def ping(self) -> None:
        return None


class MemoryCredentials:
    def __init__(self) -> None:
        self.hashes: dict[str, str] = {}

    def put(self, client_id_hash: str, secret_hash: str, when: int) -> None:
        self.hashes[client_id_hash] = secret_hash

    def get(self, client_id_hash: str) -> str | None:
        return self.hashes.get(client_id_hash)

    def delete(self, client_id_hash: str) -> None:
        self.hashes.pop(client_id_hash, None)


class MemoryKeyValue:
    """TTL'd keys shared by the memory replay guard, revocation list and rate limiter."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.values: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        item = self.values.get(key)
        if item and item[1] <= self.clock():
            del self.values[key]
            return None
        return item

    def set_nx(self, key: str, ttl: int) -> bool:
        if self._live(key):
            return False
        self.values[key] = (1, self.clock() + ttl)
        return True

    def set(self, key: str, ttl: int) -> None:
        self.values[key] = (1, self.clock() + ttl)

    def incr(self, key: str, ttl: int) -> None:
        item = self._live(key)
        self.values[key] = (item[0] + 1, item[1]) if item else (1, self.clock() + ttl)

    def count_and_ttl(self, key: str) -> tuple[int, int]:
        item = self._live(key)
        return (item[0], int(item[1] - self.clock()) + 1) if item else (0, 0)


class MemoryReplayGuard:
    def __init__(self, kv: MemoryKeyValue) -> None:
        self.kv = kv

    def first_use(self, kind: str, value: str, ttl_seconds: int) -> bool:
        return self.kv.set_nx(f"used:{kind}:{value}", ttl_seconds)


class MemoryRateLimiter:
    def __init__(self, kv: MemoryKeyValue, window: int) -> None:
        self.kv, self.window = kv, window

    def retry_after(self, limits: Mapping[str, int]) -> int | None:
        waits = [ttl for (count, ttl), limit in ((self.kv.count_and_ttl(f"fail:{k}"), n) for k, n in limits.items())
                 if count >= limit]
        return max(waits) if waits else None

    def hit(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.kv.incr(f"fail:{key}", self.window)

    def ping(self) -> None:
        return None


class MemoryDocuments:
    """DocumentStore in a dict, with TTLs on the given clock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.docs: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}

    def _live(self, kind: str, key: str) -> dict[str, Any] | None:
        item = self.docs.get((kind, key))
        if item is None or item[1] <= self.clock():
            self.docs.pop((kind, key), None)
            return None
        return dict(item[0])

    def put(self, kind: str, key: str, doc: dict[str, Any], ttl_seconds: int) -> None:
        self.docs[(kind, key)] = (dict(doc), self.clock() + max(1, ttl_seconds))

    def replace(self, kind: str, key: str, doc: dict[str, Any], ttl_seconds: int) -> bool:
        if self._live(kind, key) is None:
            return False
        self.put(kind, key, doc, ttl_seconds)
        return True

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._live(kind, key)

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        doc = self._live(kind, key)
        self.docs.pop((kind, key), None)
        return doc

    def delete(self, kind: str, keys: Iterable[str]) -> int:
        return sum(self.take(kind, k) is not None for k in list(keys))

    def exists(self, kind: str, key: str) -> bool:
        return self._live(kind, key) is not None

    def swap(self, take: tuple[str, str], puts: list[tuple[str, str, dict[str, Any], int]],
             replace: tuple[str, str, dict[str, Any], int]) -> str:
        if self._live(*take) is None:
            return "taken"
        if self._live(replace[0], replace[1]) is None:
            return "gone"
        self.docs.pop(take, None)
        for kind, key, doc, ttl in [*puts, replace]:
            self.put(kind, key, doc, ttl)
        return "done"


class MemoryUsers:
    """UserRepository in a list, with the same uniqueness rules as the MongoDB indexes."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self._ids = 0

    def _new_id(self) -> str:
        self._ids += 1
        return f"user-{self._ids}"

    def _one(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return next((d for d in self.docs if match(d)), None)

    def _out(self, doc: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(doc.get("userId"), str) or not doc["userId"]:
            doc["userId"] = self._new_id()
        return copy.deepcopy(doc)

    def merge_login(self, realm: str, provider_id: str, profile: dict[str, Any],
                    default_groups: list[str], now: int) -> dict[str, Any]:
        puid = profile["providerUserId"]
        refresh = {**{k: profile.get(k) for k in ("name", "email", "username")}, "lastLogin": now, "updatedAt": now}
        doc = self._one(lambda d: (d.get("realm"), d.get("providerId"), d.get("providerUserId")) == (realm, provider_id, puid))
        email = profile.get("email")
        if doc is None and isinstance(email, str) and email and profile.get("emailVerified") is not False:
            doc = self._one(lambda d: d.get("realm") == realm and d.get("invitedEmail") == email.lower()
                            and d.get("providerId") in (None, provider_id))
            if doc is not None and doc.get("blocked") is not True:
                doc.pop("invitedEmail", None)
                doc.update(providerId=provider_id, providerUserId=puid)
        if doc is None:
            doc = {"realm": realm, "providerId": provider_id, "providerUserId": puid, "userId": self._new_id(),
                   "groups": list(default_groups), "metadata": {}, "blocked": False, "createdAt": now}
            self.docs.append(doc)
        if doc.get("blocked") is not True:
            doc.update(refresh)
        return self._out(doc)

    def get(self, user_id: str) -> dict[str, Any] | None:
        doc = self._one(lambda d: d.get("userId") == user_id)
        return self._out(doc) if doc else None

    def find(self, query: UserQuery, limit: int, skip: int) -> tuple[list[dict[str, Any]], int]:
        def lower(value: Any) -> str:
            return value.lower() if isinstance(value, str) else ""

        def matches(d: dict[str, Any]) -> bool:
            exact = [(query.realm, d.get("realm")), (query.provider_id, d.get("providerId")),
                     (query.provider_user_id, d.get("providerUserId"))]
            if any(wanted is not None and wanted != have for wanted, have in exact):
                return False
            if query.group is not None and query.group not in (d.get("groups") or []):
                return False
            if query.blocked is not None and (d.get("blocked") is True) != query.blocked:
                return False
            if query.email is not None and query.email.lower() not in (lower(d.get("email")), lower(d.get("invitedEmail"))):
                return False
            fields = ("name", "email", "username", "invitedEmail", "providerUserId")
            return query.text is None or any(query.text.lower() in lower(d.get(f)) for f in fields)

        found = [d for d in self.docs if matches(d)]
        found.sort(key=lambda d: d.get("createdAt") or 0)
        return [self._out(d) for d in found[skip:skip + limit]], len(found)

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self._one(lambda d: d.get("userId") == doc["userId"]):
            raise Conflict("a user with this userId exists already")
        if isinstance(doc.get("providerUserId"), str) and self._one(
                lambda d: (d.get("realm"), d.get("providerId"), d.get("providerUserId"))
                == (doc.get("realm"), doc.get("providerId"), doc["providerUserId"])):
            raise Conflict("a user with this providerId and providerUserId exists already in this realm")
        if isinstance(doc.get("invitedEmail"), str) and self._one(
                lambda d: (d.get("realm"), d.get("invitedEmail")) == (doc.get("realm"), doc["invitedEmail"])):
            raise Conflict("a user is already pre-provisioned with this email in this realm")
        self.docs.append(copy.deepcopy(doc))
        return copy.deepcopy(doc)

    def update(self, user_id: str, changes: UserChanges, now: int) -> dict[str, Any] | None:
        doc = self._one(lambda d: d.get("userId") == user_id)
        if doc is None:
            return None
        groups = list(doc.get("groups") or [])
        if changes.groups is not None:
            groups = list(changes.groups)
        groups += [g for g in dict.fromkeys(changes.add_groups) if g not in groups]
        doc["groups"] = [g for g in groups if g not in changes.remove_groups]
        if changes.metadata is not None:
            doc["metadata"] = copy.deepcopy(changes.metadata)
        if changes.blocked is not None:
            doc["blocked"] = changes.blocked
        doc["updatedAt"] = now
        return self._out(doc)

    def delete(self, user_id: str) -> bool:
        before = len(self.docs)
        self.docs = [d for d in self.docs if d.get("userId") != user_id]
        return len(self.docs) < before


class MemorySessionLog:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def opened(self, record: dict[str, Any]) -> None:
        self.records[record["sid"]] = {**record, "endedAt": None}

    def ended(self, sids: list[str], now: int) -> None:
        for sid in sids:
            if sid in self.records and self.records[sid]["endedAt"] is None:
                self.records[sid]["endedAt"] = now

    def active_sids(self, user_id: str) -> list[str]:
        return [s for s, r in self.records.items() if r["userId"] == user_id and r["endedAt"] is None]

    def active_at_provider(self, issuer: str, client_ids: list[str], provider_sid: str | None,
                           provider_sub: str | None) -> list[str]:
        field, value = ("providerSid", provider_sid) if provider_sid else ("providerSub", provider_sub)
        if not value:
            return []
        return [s for s, r in self.records.items() if r.get("providerIss") == issuer and r.get(field) == value
                and r.get("providerClient") in client_ids and r["endedAt"] is None]


class MemoryBffTokens:
    """BffTokenStore in memory: records, locks and the back-channel index, each expiring on the
    given clock as its Redis key does; every operation atomic."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.docs: dict[str, tuple[dict[str, Any], float]] = {}
        self.locks: dict[str, tuple[str, float]] = {}
        self.indexes: dict[str, tuple[set[str], float]] = {}
        self.loads = 0
        self._mutex = threading.Lock()
        self._tokens = 0

    def _live(self, table: dict[str, Any], key: str) -> Any:
        item = table.get(key)
        if item is not None and item[1] <= self.clock():
            del table[key]
            return None
        return item

    def create(self, sid: str, doc: dict[str, Any], ttl_seconds: int, index: Sequence[str]) -> None:
        with self._mutex:
            expiry = self.clock() + max(1, ttl_seconds)
            self.docs[sid] = (dict(doc), expiry)
            for key in index:
                item = self._live(self.indexes, key)
                members = item[0] if item is not None else set()
                self.indexes[key] = (members | {sid}, expiry)

    def load(self, sid: str) -> dict[str, Any] | None:
        with self._mutex:
            self.loads += 1
            item = self._live(self.docs, sid)
            return dict(item[0]) if item is not None else None

    def update(self, sid: str, doc: dict[str, Any]) -> bool:
        with self._mutex:
            item = self._live(self.docs, sid)
            if item is None:
                return False
            self.docs[sid] = (dict(doc), item[1])  # the expiry stays (Redis KEEPTTL)
            return True

    def delete(self, sids: Iterable[str]) -> int:
        with self._mutex:
            live = [s for s in dict.fromkeys(sids) if self._live(self.docs, s) is not None]
            for sid in live:
                del self.docs[sid]
            return len(live)

    def lock(self, sid: str, ttl_ms: int) -> str | None:
        with self._mutex:
            if self._live(self.locks, sid) is not None:
                return None
            self._tokens += 1
            token = f"lock-{self._tokens}"
            self.locks[sid] = (token, self.clock() + ttl_ms / 1000)
            return token

    def unlock(self, sid: str, token: str) -> None:
        with self._mutex:
            item = self._live(self.locks, sid)
            if item is not None and item[0] == token:
                del self.locks[sid]

    def indexed(self, key: str) -> list[str]:
        with self._mutex:
            item = self._live(self.indexes, key)
            return sorted(item[0]) if item is not None else []


class MemoryRevocationFeed:
    """RevocationFeed in a list; `restart()` is what an expired or lost feed does, `snapshot()` and
    `back_from(snapshot)` what a Redis back from an older copy of its data does (a restart from a
    snapshot, a failover to a replica that lagged): the stored epoch and sequence come back, from
    another server process (`server`, as the Redis feed names the redis-server's run_id)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.entries: list[tuple[int, Revocation]] = []
        self.seq = 0
        self.epoch: str | None = None
        self.server = uuid.uuid4().hex
        self.down = False

    def _available(self) -> None:
        if self.down:
            raise DependencyUnavailable("Redis is unavailable")

    def publish(self, entry: Revocation) -> None:
        self._available()
        self.seq += 1
        if self.epoch is None or self.seq == 1:  # a sequence that starts again is a new feed
            self.epoch = uuid.uuid4().hex
        self.entries.append((self.seq, entry))
        # As the Redis feed does at each publish: entries past their own `until` are trimmed.
        now = int(self.clock())
        self.entries = [(n, e) for n, e in self.entries if int(e.until) + 1 >= now]

    def since(self, after: int) -> FeedBatch:
        self._available()
        if self.epoch is None:  # a feed read is named at once (RedisRevocationFeed)
            self.epoch = uuid.uuid4().hex
        return FeedBatch([e for n, e in self.entries if n > after], self.seq, f"{self.epoch}@{self.server}")

    def restart(self) -> None:
        self.entries, self.seq, self.epoch = [], 0, None
        self.server = uuid.uuid4().hex

    def snapshot(self) -> tuple[list[tuple[int, Revocation]], int, str | None]:
        return list(self.entries), self.seq, self.epoch

    def back_from(self, snapshot: tuple[list[tuple[int, Revocation]], int, str | None]) -> None:
        self.entries, self.seq, self.epoch = list(snapshot[0]), snapshot[1], snapshot[2]
        self.server = uuid.uuid4().hex


class MemoryRevocationStore:
    """RevocationStore in a dict; `recorded` holds when each entry was last recorded (`clock`)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.entries: dict[tuple[str, str], Revocation] = {}
        self.recorded: dict[tuple[str, str], float] = {}
        self.clock = clock
        self.down = False

    def _available(self) -> None:
        if self.down:
            raise DependencyUnavailable("MongoDB is unavailable")

    def record(self, entry: Revocation) -> None:
        self._available()
        merge(self.entries, entry)
        self.recorded[(entry.kind, entry.key)] = self.clock()

    def active(self, now: float) -> list[Revocation]:
        self._available()
        return [e for e in self.entries.values() if e.until > now]

    def recorded_since(self, since: float, now: float) -> list[Revocation]:
        self._available()
        return [e for k, e in self.entries.items() if self.recorded[k] >= since and e.until > now]

    def find(self, keys: Sequence[tuple[str, str]], now: float) -> list[Revocation]:
        self._available()
        return [e for k in keys if (e := self.entries.get(k)) is not None and e.until > now]
