"""Revocations: recorded durably then fanned out; each worker's mirror with bounded staleness,
reloads from the durable store when the feed is not the one it read, single-flight pulls that
never pile up waits, and fail-closed answers."""
from __future__ import annotations

import os
import threading
import time

import pytest

from app.core.errors import DependencyUnavailable, InvalidToken
from app.core.records import FeedBatch, Revocation
from app.core.revocation import (RECONCILE_MARGIN_SECONDS, ClientCutOff, RevocationMirror, Revocations,
                                 token_refusal)
from tests.support.fakes import MemoryRevocationFeed, MemoryRevocationStore
from tests.support.clock import Clock
from tests.support.servers import within


def world(interval: float = 1.0):
    clock = Clock()
    feed, store = MemoryRevocationFeed(clock), MemoryRevocationStore(clock)
    revocations = Revocations(store, feed, clock)
    return clock, feed, store, revocations, RevocationMirror(feed, store, interval, clock=clock)


def test_a_revocation_is_seen_within_the_interval():
    clock, feed, store, revocations, mirror = world()
    assert not mirror.contains("jti", "a")  # first pull
    revocations.revoke("jti", "a", clock.now + 60)
    clock.now += 0.5
    assert not mirror.contains("jti", "a")  # not pulled yet: within the stated bound
    clock.now += 0.5
    assert mirror.contains("jti", "a")
    revocations.revoke("sid", "b", clock.now + 60)
    clock.now += 1
    assert mirror.contains("sid", "b") and not mirror.contains("jti", "b")  # kinds are apart


def test_entries_expire_with_their_tokens():
    clock, feed, store, revocations, mirror = world()
    revocations.revoke("jti", "a", clock.now + 5)
    assert mirror.contains("jti", "a")
    clock.now += 6
    assert not mirror.contains("jti", "a")


def test_a_feed_that_started_again_is_noticed_by_its_epoch():
    """No fault at all: the feed expired in a quiet period and its sequence starts again at 1."""
    clock, feed, store, revocations, mirror = world()
    revocations.revoke("jti", "old", clock.now + 600)
    assert mirror.contains("jti", "old")
    feed.restart()
    revocations.revoke("jti", "new", clock.now + 600)  # sequence number 1 again
    clock.now += 1
    assert mirror.contains("jti", "new") and mirror.contains("jti", "old")
    assert mirror.reloads == 2


def test_a_feed_restarted_with_as_many_entries_as_before_is_noticed():
    clock, feed, store, revocations, mirror = world()
    for n in range(3):
        revocations.revoke("jti", f"old-{n}", clock.now + 600)
    assert mirror.contains("jti", "old-2")
    feed.restart()
    for n in range(4):  # the sequence passes the mirror's cursor again: only the epoch tells
        revocations.revoke("jti", f"new-{n}", clock.now + 600)
    clock.now += 1
    assert all(mirror.contains("jti", f"new-{n}") for n in range(4))


def test_a_feed_back_from_an_older_copy_is_noticed():
    """Redis back from an older copy (its last snapshot, a replica that lagged): the stored epoch
    comes back with an older sequence, and the next publishes number again what the mirror read.
    Only the server process tells that feed apart."""
    clock, feed, store, revocations, mirror = world()
    revocations.revoke("jti", "in-the-copy", clock.now + 600)
    older = feed.snapshot()
    revocations.revoke("jti", "after-the-copy", clock.now + 600)
    assert mirror.contains("jti", "after-the-copy")  # the cursor is past the copy
    feed.back_from(older)
    revocations.revoke("jti", "new", clock.now + 600)  # numbered 2 again, under the same stored epoch
    clock.now += 1
    assert mirror.contains("jti", "new") and mirror.contains("jti", "after-the-copy")
    assert mirror.reloads == 2


def test_a_feed_that_lost_everything_loses_nothing():
    """Redis restarted empty: running workers reload from the store; new workers start from it."""
    clock, feed, store, revocations, mirror = world()
    revocations.revoke("jti", "a", clock.now + 600)
    revocations.revoke("sid", "s", clock.now + 600)
    assert mirror.contains("jti", "a")
    feed.restart()
    clock.now += 1
    assert mirror.contains("jti", "a") and mirror.contains("sid", "s")
    fresh = RevocationMirror(feed, store, 1.0, clock=clock)
    assert fresh.contains("jti", "a") and fresh.contains("sid", "s")


def test_a_new_worker_reads_the_store_first():
    clock, feed, store, revocations, _ = world()
    revocations.revoke("jti", "a", clock.now + 600)
    feed.restart()
    late = RevocationMirror(feed, store, 1.0, clock=clock)
    assert late.contains("jti", "a")


def test_what_is_recorded_while_the_store_is_read_arrives_through_the_feed():
    """Reload order: feed position first, then the store; an entry recorded in between is in
    the feed after that position."""
    clock, feed, store, revocations, _ = world()
    mirror = RevocationMirror(feed, store, 1.0, clock=clock)
    real_active = store.active

    def active_with_a_revocation_arriving(now: float) -> list[Revocation]:
        found = real_active(now)
        revocations.revoke("jti", "racing", clock.now + 600)
        return found
    store.active = active_with_a_revocation_arriving  # type: ignore[method-assign]
    assert not mirror.contains("jti", "racing")
    store.active = real_active  # type: ignore[method-assign]
    clock.now += 1
    assert mirror.contains("jti", "racing")


def test_a_due_pull_that_fails_fails_closed_then_fast():
    clock, feed, store, revocations, mirror = world()
    mirror.contains("jti", "a")
    feed.down = True
    clock.now += 0.5
    assert not mirror.contains("jti", "a")  # inside the bound: answered from memory
    clock.now += 1
    pulls = mirror.pulls
    with pytest.raises(DependencyUnavailable):
        mirror.contains("jti", "a")
    with pytest.raises(DependencyUnavailable):  # at once, without asking the feed again
        mirror.contains("jti", "a")
    assert mirror.pulls == pulls + 1
    feed.down = False
    clock.now += mirror.retry_seconds
    assert not mirror.contains("jti", "a")


def test_the_store_down_at_start_fails_closed():
    clock, feed, store, revocations, mirror = world()
    store.down = True
    with pytest.raises(DependencyUnavailable):
        mirror.contains("jti", "a")
    store.down = False
    clock.now += 1
    assert not mirror.contains("jti", "a")


def test_interval_zero_pulls_at_every_question():
    clock, feed, store, revocations, mirror = world(interval=0)
    assert not mirror.contains("jti", "a")
    revocations.revoke("jti", "a", clock.now + 60)
    assert mirror.contains("jti", "a")  # at once, same instant


class HangingFeed:
    """A feed whose Redis hangs (SIGSTOP) until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def publish(self, entry: Revocation) -> None:
        raise AssertionError("not used")

    def since(self, after: int) -> FeedBatch:
        self.calls += 1
        if not self.release.wait(0.6):  # the client's socket timeout
            raise DependencyUnavailable("Redis is unavailable")
        return FeedBatch([], 0, None)


def test_a_hung_feed_costs_each_check_at_most_one_wait():
    """12 concurrent checks with the feed hung: one pull, the others wait for it, all fail
    closed within the feed's timeout (not one timeout after another)."""
    feed = HangingFeed()
    mirror = RevocationMirror(feed, MemoryRevocationStore(), 1.0, wait_seconds=2.0)
    took: list[float] = []
    outcomes: list[str] = []

    def check() -> None:
        started = time.monotonic()
        try:
            mirror.contains("jti", "a")
            outcomes.append("answered")
        except DependencyUnavailable:
            outcomes.append("503")
        took.append(time.monotonic() - started)
    threads = [threading.Thread(target=check) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["503"] * 12
    assert feed.calls == 1
    assert max(took) < 1.2, took


def test_waiters_get_the_answer_of_the_pull_they_waited_for():
    feed = HangingFeed()
    mirror = RevocationMirror(feed, MemoryRevocationStore(), 1.0, wait_seconds=2.0)
    outcomes: list[bool] = []
    threads = [threading.Thread(target=lambda: outcomes.append(mirror.contains("jti", "a"))) for _ in range(5)]
    for t in threads:
        t.start()
    assert within(lambda: feed.calls == 1, 5), "the first waiter started the pull"
    feed.release.set()
    for t in threads:
        t.join()
    assert outcomes == [False] * 5 and feed.calls == 1


def test_revoke_records_durably_then_fans_out():
    clock, feed, store, revocations, mirror = world()
    store.down = True
    with pytest.raises(DependencyUnavailable):  # not acknowledged: the caller retries
        revocations.revoke("jti", "a", clock.now + 60)
    assert [e.key for _, e in feed.entries] == ["a"]  # but running workers refuse it already
    store.down, feed.down = False, True
    assert revocations.revoke("jti", "b", clock.now + 60) is False  # done once durable; not published
    assert revocations.find([("jti", "b")])
    feed.down = False
    assert revocations.revoke("jti", "c", clock.now + 60) is True


def test_what_the_feed_missed_arrives_at_the_next_reconcile():
    """Recorded while the feed was down, and the feed comes back as it was (same epoch, same
    sequence): pulls never show it; the reconcile with the store does."""
    clock, feed, store, revocations, mirror = world()
    assert not mirror.contains("jti", "a")  # loaded
    feed.down = True
    revocations.revoke("jti", "a", clock.now + 600)
    revocations.revoke("sid", "s", clock.now + 600)
    revocations.revoke("client", "c", clock.now + 600, at=clock.now)
    feed.down = False
    clock.now += 5
    assert not mirror.contains("jti", "a") and mirror.reloads == 1  # the feed alone: never
    assert mirror.reconcile() == 3
    assert mirror.contains("jti", "a") and mirror.contains("sid", "s") and mirror.contains("client", "c")


def test_a_reconcile_reads_only_what_is_newer_than_the_last_one():
    clock, feed, store, revocations, mirror = world()
    asked: list[float] = []
    recorded_since = store.recorded_since
    store.recorded_since = lambda since, now: asked.append(since) or recorded_since(since, now)
    assert mirror.reconcile() == 0 and asked == []  # nothing loaded yet: the first pull loads all
    assert not mirror.contains("jti", "a")
    loaded = clock.now
    clock.now += 5
    mirror.reconcile()
    clock.now += 5
    mirror.reconcile()
    assert asked == [loaded - RECONCILE_MARGIN_SECONDS, loaded + 5 - RECONCILE_MARGIN_SECONDS]
    store.down = True
    clock.now += 5
    with pytest.raises(DependencyUnavailable):
        mirror.reconcile()
    store.down = False
    clock.now += 5
    mirror.reconcile()  # after a failed one: from the last that succeeded
    assert asked[-1] == loaded + 10 - RECONCILE_MARGIN_SECONDS


def test_a_worker_reconciles_in_the_background_never_on_a_check():
    """Real time: each worker's own thread reconciles every `reconcile_seconds`; a check reads
    memory only (the store is never read on a check's path once loaded)."""
    feed, store = MemoryRevocationFeed(), MemoryRevocationStore()
    mirror = RevocationMirror(feed, store, interval=60, reconcile_seconds=0.05)
    revocations = Revocations(store, feed)
    assert not mirror.contains("jti", "a")  # loaded; the thread starts with the first question
    on_checks: list[str] = []
    recorded_since = store.recorded_since
    store.recorded_since = lambda since, now: (on_checks.append("reconcile") if threading.current_thread().name
                                               != "revocation-reconcile" else None) or recorded_since(since, now)
    feed.down = True
    assert revocations.revoke("jti", "a", time.time() + 600) is False
    assert within(lambda: mirror.contains("jti", "a"), 2)
    assert mirror.reconciles >= 1 and on_checks == []


def test_a_cut_off_the_feed_missed_lies_past_the_reconcile():
    """Workers learn of it only at their next reconcile and may issue tokens from their memory
    of the client until then: the cut-off is moved that far ahead, and the answer waits for it."""
    clock, feed, store, revocations, mirror = world()
    clock.now = 1000.25
    slept: list[float] = []
    cut = ClientCutOff(revocations, token_lifetime=3600, settle_seconds=1.0, sleep=slept.append, clock=clock,
                       reconcile_seconds=9.0)
    feed.down = True
    cut("c")
    [entry] = revocations.find([("client", "c")])
    assert entry.at == 1009.25
    assert slept == [pytest.approx(9.75)]


@pytest.mark.parametrize("claims, refused", [
    ({"jti": "t", "sub": "c", "iat": 99}, "the client's tokens have been revoked"),
    ({"jti": "t", "sub": "c", "iat": 100}, "the client's tokens have been revoked"),
    ({"jti": "t", "sub": "c", "iat": 101}, None),
    ({"jti": "t", "client_id": "c", "sub": "x", "iat": 50}, "the client's tokens have been revoked"),
    ({"jti": "t", "sub": "c"}, "the client's tokens have been revoked"),  # no iat: issued when?
    ({"jti": "t", "sub": "other", "iat": 50}, None),
])
def test_a_client_cut_off_refuses_tokens_issued_at_or_before_it(claims, refused):
    clock, feed, store, revocations, mirror = world()
    revocations.revoke("client", "c", clock.now + 600, at=100.5)
    assert token_refusal(mirror.find([("jti", "t"), ("client", claims.get("client_id", claims.get("sub")))]),
                         claims) == refused
    if refused:
        with pytest.raises(InvalidToken):
            mirror.ensure_token_active(claims)
        with pytest.raises(InvalidToken):
            revocations.ensure_token_active(claims)


def test_client_cut_off_waits_past_its_second():
    clock, feed, store, revocations, mirror = world()
    clock.now = 1000.25
    slept: list[float] = []
    cut = ClientCutOff(revocations, token_lifetime=3600, settle_seconds=1.0, sleep=slept.append, clock=clock)
    cut("c")
    [entry] = revocations.find([("client", "c")])
    assert entry.at == 1001.25 and entry.until > 1001.25 + 3600
    assert slept == [pytest.approx(1.75)]  # until 1002: a token issued after the answer has iat > at


def test_a_feed_lost_before_anything_was_published_is_noticed():
    """Reading names a feed (an epoch) at once, so a loss of Redis's data is noticed even when
    nothing had been published: the mirror reloads and its generation grows."""
    clock, feed, store, revocations, mirror = world()
    assert not mirror.contains("jti", "a")
    first = mirror.generation
    feed.restart()
    clock.now += 1
    assert not mirror.contains("jti", "a")
    assert mirror.generation == first + 1
    clock.now += 1
    assert not mirror.contains("jti", "a") and mirror.generation == first + 1  # nothing new: no reload


def test_a_forked_worker_starts_its_own_reconciler():
    """A mirror that crossed a fork (a worker forked after its parent asked it): the parent's thread
    did not come along, so the child's first question starts one of its own, which learns what
    the feed missed."""
    feed, store = MemoryRevocationFeed(), MemoryRevocationStore()
    mirror = RevocationMirror(feed, store, interval=60, reconcile_seconds=0.05)
    revocations = Revocations(store, feed)
    assert not mirror.contains("jti", "a")  # the parent's reconciler runs from here on
    pid = os.fork()
    if pid == 0:  # the child: only what it learns by its own reconciler counts
        try:
            feed.down = True
            revocations.revoke("jti", "a", time.time() + 600)
            learned = mirror.contains("jti", "a") or within(lambda: mirror.contains("jti", "a"), 2)
            os._exit(0 if learned and threading.active_count() > 1 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
