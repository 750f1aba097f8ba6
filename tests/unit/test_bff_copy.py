"""Each worker's copy of BFF sessions' principals (core/login/bff.py BffCopy) on in-memory ports with a
driven clock: a copy answers without reading the record; it never outlives the access token's
refresh point, the session's end or the cache's bounds; an ended session and a reloaded mirror
(Redis lost its data) make it worthless; a mirror that cannot pull fails the check closed."""
from __future__ import annotations

import pytest

from tests.support.fakes import MemoryRevocationFeed, MemoryRevocationStore
from app.core.login.bff import ENDED, BffCopy
from app.core.errors import DependencyUnavailable, InvalidToken
from app.core.revocation import RevocationMirror, Revocations
from app.core.verified_cache import VerifiedCache
from tests.unit.test_bff_refresh import SID, Provider, make

INTERVAL = 1.0


def world(entries: int = 100, seconds: int = 300, margin: int = 30):
    provider = Provider()
    bff, records, clock = make(provider, margin=margin)  # access token valid 100 s, session 3600 s
    feed, store = MemoryRevocationFeed(clock), MemoryRevocationStore()
    revocations = Revocations(store, feed, clock)
    mirror = RevocationMirror(feed, store, INTERVAL, clock=clock)
    bff.revocations, bff.ended = revocations, mirror
    copy = BffCopy(bff, mirror, VerifiedCache(entries, seconds, clock=clock))
    return copy, bff, records, clock, feed, revocations, mirror


def test_a_copy_answers_without_reading_the_record():
    copy, _, records, _, _, _, _ = world()
    first = copy.principal(SID)
    loads = records.loads
    for _ in range(5):
        assert copy.principal(SID) is first
    assert records.loads == loads
    assert first.id == "u1" and first.groups == frozenset({"g"}) and first.bearer == "at-0" and first.source == "bff"


def test_the_copy_ends_at_the_refresh_point_and_the_refresh_goes_through_the_record():
    copy, _, records, clock, _, _, _ = world()
    copy.principal(SID)
    clock.now += 69  # 31 s left on the token, margin 30
    loads = records.loads
    assert copy.principal(SID).bearer == "at-0" and records.loads == loads
    clock.now += 1  # due for a refresh: the record is read and the token refreshed
    assert copy.principal(SID).bearer == "at-1" and records.loads > loads


def test_a_refused_refresh_ends_the_session_with_no_copy_left():
    copy, _, records, clock, _, _, _ = world()
    provider_refuses = copy.service.http
    copy.principal(SID)
    provider_refuses.status = 400
    clock.now += 70
    with pytest.raises(InvalidToken):
        copy.principal(SID)
    assert records.load(SID) is None
    with pytest.raises(InvalidToken):
        copy.principal(SID)


def test_the_copy_never_outlives_the_session():
    copy, bff, records, clock, _, _, _ = world()
    doc = records.load(SID)
    records.update(SID, {**doc, "expiresAt": int(clock.now) + 10})
    copy.principal(SID)
    clock.now += 10
    with pytest.raises(InvalidToken):
        copy.principal(SID)


@pytest.mark.parametrize("entries, seconds, after, reread", [
    (100, 300, 60, False),  # within every bound
    (100, 5, 6, True),  # the cache's own lifetime
    (0, 300, 1, True),  # a cache of no entries keeps nothing
])
def test_the_copy_keeps_to_the_cache_bounds(entries, seconds, after, reread):
    copy, _, records, clock, _, _, _ = world(entries=entries, seconds=seconds)
    copy.principal(SID)
    clock.now += after
    loads = records.loads
    copy.principal(SID)
    assert (records.loads > loads) is reread


def test_an_ended_session_is_refused_within_the_mirror_bound():
    copy, bff, records, clock, _, revocations, _ = world()
    copy.principal(SID)
    revocations.revoke(ENDED, SID, clock.now + 3600)  # another worker's logout: the record stays here
    with pytest.raises(InvalidToken):
        clock.now += INTERVAL
        copy.principal(SID)


def test_a_mirror_reload_makes_every_copy_worthless():
    """Redis lost its data (the feed is not the one the mirror read): the records went with it."""
    copy, _, records, clock, feed, _, mirror = world()
    copy.principal(SID)
    records.docs.clear()  # what the loss did to the records
    feed.restart()
    clock.now += INTERVAL
    with pytest.raises(InvalidToken):
        copy.principal(SID)


def test_a_mirror_that_cannot_pull_fails_the_check_closed():
    copy, _, _, clock, feed, _, _ = world()
    copy.principal(SID)
    feed.down = True
    clock.now += INTERVAL
    with pytest.raises(DependencyUnavailable):
        copy.principal(SID)
    feed.down = False
    clock.now += INTERVAL
    assert copy.principal(SID).id == "u1"
