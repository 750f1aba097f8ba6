"""Each worker's mirror of the revocation feed: bounded staleness, expiry, fail closed."""
from __future__ import annotations

import pytest

from app.adapters.memory import MemoryRevocationFeed
from app.core.errors import DependencyUnavailable
from app.core.revocation import RevocationMirror
from tests.clock import Clock


def test_a_revocation_is_seen_within_the_interval():
    clock = Clock()
    feed = MemoryRevocationFeed(clock)
    mirror = RevocationMirror(feed, "jti", interval=1.0, clock=clock)
    assert not mirror.contains("a")  # first pull
    feed.publish("jti", "a", clock.now + 60)
    clock.now += 0.5
    assert not mirror.contains("a")  # not pulled yet: within the stated bound
    clock.now += 0.5
    assert mirror.contains("a")
    feed.publish("sid", "b", clock.now + 60)  # another kind
    clock.now += 1
    assert not mirror.contains("b")


def test_entries_expire_with_their_tokens():
    clock = Clock()
    feed = MemoryRevocationFeed(clock)
    feed.publish("jti", "a", clock.now + 5)
    mirror = RevocationMirror(feed, "jti", interval=1.0, clock=clock)
    assert mirror.contains("a")
    clock.now += 6
    assert not mirror.contains("a")


def test_a_feed_that_started_again_is_read_whole():
    clock = Clock()
    feed = MemoryRevocationFeed(clock)
    mirror = RevocationMirror(feed, "jti", interval=1.0, clock=clock)
    for n in range(5):
        feed.publish("jti", f"old-{n}", clock.now + 60)
    assert mirror.contains("old-4")
    feed.entries.clear()  # the feed's keys expired; the sequence starts again at 1
    feed.seq = 0
    feed.publish("jti", "new", clock.now + 60)
    clock.now += 1
    assert mirror.contains("new")


def test_redis_down_when_a_pull_is_due_fails_closed():
    clock = Clock()
    feed = MemoryRevocationFeed(clock)
    mirror = RevocationMirror(feed, "jti", interval=1.0, clock=clock)
    mirror.contains("a")
    feed.down = True
    clock.now += 0.5
    assert not mirror.contains("a")  # inside the bound: answered from memory
    clock.now += 1
    with pytest.raises(DependencyUnavailable):
        mirror.contains("a")
