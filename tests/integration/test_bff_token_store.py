"""One contract for the BFF token record's store (core/ports.py BffTokenStore), run against the
Redis adapter and the in-memory one the unit tests use."""
from __future__ import annotations

import uuid

import pytest

from app.adapters.bff_store import RedisBffTokens
from tests.support.fakes import MemoryBffTokens

DOC = {"v": 1, "sub": "alice", "tokens": "sealed"}


@pytest.fixture(params=["redis", "memory"])
def store(request, redis_server):
    if request.param == "memory":
        return MemoryBffTokens()
    import redis
    return RedisBffTokens(redis.Redis.from_url(redis_server.url))


@pytest.fixture
def n() -> str:
    """A run of names of this test's own (the Redis server is shared)."""
    return uuid.uuid4().hex[:8]


def test_create_load_update_delete(store, n):
    assert store.load(n + "s1") is None
    store.create(n + "s1", DOC, 60, [n + "sid:a", n + "sub:b"])
    assert store.load(n + "s1") == DOC
    assert store.update(n + "s1", {**DOC, "sub": "bob"}) is True
    assert store.load(n + "s1")["sub"] == "bob"
    assert store.update(n + "gone", DOC) is False and store.load(n + "gone") is None  # never creates
    assert store.delete([n + "s1", n + "gone"]) == 1 and store.load(n + "s1") is None
    assert store.delete([]) == 0


def test_the_index_finds_sessions_for_back_channel_logout(store, n):
    store.create(n + "s1", DOC, 60, [n + "sub:b"])
    store.create(n + "s2", DOC, 60, [n + "sid:a", n + "sub:b"])
    assert store.indexed(n + "sub:b") == [n + "s1", n + "s2"] and store.indexed(n + "sid:a") == [n + "s2"]
    assert store.indexed(n + "sub:nobody") == []


def test_the_lock_has_one_holder_and_only_it_releases(store, n):
    first = store.lock(n + "s1", 5000)
    assert first is not None and store.lock(n + "s1", 5000) is None
    store.unlock(n + "s1", "not-the-holder")
    assert store.lock(n + "s1", 5000) is None
    store.unlock(n + "s1", first)
    assert store.lock(n + "s1", 5000) is not None
