"""One contract for every DocumentStore: Redis (real server) and the in-memory one."""
from __future__ import annotations

import pytest
import redis

from tests.fakes import MemoryDocuments
from app.adapters.redis_store import RedisDocuments


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
