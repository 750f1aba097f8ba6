"""One contract for every DocumentStore: Redis (real server) and the in-memory fake
(tests/support/fakes.py)."""
from __future__ import annotations

import pytest
import redis

from app.adapters.redis_store import RedisDocuments
from tests.support.fakes import MemoryDocuments
from tests.support.servers import wait_until


@pytest.fixture(params=["redis", "memory"])
def store(request, redis_server):
    if request.param == "memory":
        return MemoryDocuments()
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    return RedisDocuments(client)


def test_put_get_take_once(store):
    store.put("login", "s1", {"a": 1}, 60)
    assert store.get("login", "s1") == {"a": 1} and store.exists("login", "s1")
    assert store.take("login", "s1") == {"a": 1}
    assert store.take("login", "s1") is None and not store.exists("login", "s1")


def test_replace_only_an_existing_document(store):
    assert store.replace("session", "gone", {"a": 1}, 60) is False
    assert store.get("session", "gone") is None
    store.put("session", "here", {"a": 1}, 60)
    assert store.replace("session", "here", {"a": 2}, 60) is True
    assert store.get("session", "here") == {"a": 2}


def test_kinds_are_separate_and_delete_counts(store):
    store.put("session", "x", {"k": "s"}, 60)
    store.put("refresh", "x", {"k": "r"}, 60)
    assert store.delete("refresh", ["x", "missing"]) == 1
    assert store.get("session", "x") == {"k": "s"} and store.get("refresh", "x") is None
    assert store.delete("refresh", []) == 0


def test_every_redis_key_is_namespaced_and_expires(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    RedisDocuments(client).put("login", "abc", {"x": 1}, 120)
    assert client.keys("*") == [b"gatehouse:v1:login:abc"]
    assert 0 < client.ttl("gatehouse:v1:login:abc") <= 120


@pytest.mark.parametrize("remove,outcome", [(None, "done"), ("take", "taken"), ("replace", "gone")])
def test_swap_writes_all_or_nothing(store, remove, outcome):
    """A refresh-token rotation: take the old record, put the new ones, overwrite the session —
    only while both the old record and the session still exist."""
    store.put("refresh", "old", {"sid": "s1"}, 60)
    store.put("session", "s1", {"n": 1}, 60)
    if remove:
        store.delete({"take": "refresh", "replace": "session"}[remove], ["old" if remove == "take" else "s1"])
    answer = store.swap(("refresh", "old"), [("refresh", "new", {"sid": "s1"}, 60), ("spent", "old", {"at": 1}, 60)],
                        ("session", "s1", {"n": 2}, 60))
    assert answer == outcome
    written = (store.get("refresh", "new"), store.get("spent", "old"), store.get("session", "s1"))
    if outcome == "done":
        assert written == ({"sid": "s1"}, {"at": 1}, {"n": 2}) and store.get("refresh", "old") is None
    else:
        assert written[:2] == (None, None) and written[2] in (None, {"n": 1})
        assert store.swap(("refresh", "old"), [], ("session", "s1", {"n": 3}, 60)) != "done"


def test_documents_expire_with_their_ttl(store):
    store.put("login", "short", {"a": 1}, 1)
    store.put("login", "long", {"a": 2}, 60)
    wait_until(lambda: store.get("login", "short") is None, "the document's expiry", 10)
    assert not store.exists("login", "short") and store.take("login", "short") is None
    assert store.replace("login", "short", {"a": 3}, 60) is False and store.get("login", "long") == {"a": 2}
