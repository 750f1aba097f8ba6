"""The per-worker cache of verified tokens: bounded in entries and in time."""
from __future__ import annotations

from app.core.verified_cache import VerifiedCache
from tests.support.clock import Clock


def test_an_entry_lives_until_the_token_expires():
    clock = Clock(1000.0)
    cache = VerifiedCache(max_entries=10, max_seconds=300, clock=clock)
    cache.put("t", "v", exp=1060)
    assert cache.get("t") == "v"
    clock.now = 1060
    assert cache.get("t") is None and len(cache) == 0


def test_an_entry_lives_at_most_max_seconds():
    clock = Clock(1000.0)
    cache = VerifiedCache(max_entries=10, max_seconds=30, clock=clock)
    cache.put("t", "v", exp=1_000_000)
    clock.now = 1029
    assert cache.get("t") == "v"
    clock.now = 1030
    assert cache.get("t") is None


def test_the_oldest_entries_go_when_full():
    cache = VerifiedCache(max_entries=3, max_seconds=300, clock=Clock(1000.0))
    for n in range(5):
        cache.put(f"t{n}", n, exp=2000)
    assert len(cache) == 3 and cache.get("t0") is None and cache.get("t1") is None and cache.get("t4") == 4


def test_disabled_or_without_exp_nothing_is_kept():
    for cache in (VerifiedCache(max_entries=0, clock=Clock(1000.0)), VerifiedCache(max_seconds=0, clock=Clock(1000.0))):
        cache.put("t", "v", exp=2000)
        assert cache.get("t") is None
    cache = VerifiedCache(clock=Clock(1000.0))
    for exp in (None, "2000", True):
        cache.put("t", "v", exp=exp)
        assert cache.get("t") is None
