"""The per-worker limit on outbound calls waiting at once (a hung provider cannot take every thread)."""
from __future__ import annotations

import threading

import pytest

from app.adapters.http_client import CallGate
from app.core.errors import DependencyUnavailable
from app.serving.uwsgi_check import outbound_limit


class Holder:
    """Another thread (another check) holding a slot of the gate until released."""

    def __init__(self, gate: CallGate, what: str) -> None:
        self.held, self.release, self.refused = threading.Event(), threading.Event(), False
        self.thread = threading.Thread(target=self._run, args=(gate, what))
        self.thread.start()
        self.held.wait(5)

    def _run(self, gate: CallGate, what: str) -> None:
        try:
            with gate(what):
                self.held.set()
                self.release.wait(5)
        except DependencyUnavailable:
            self.refused = True
            self.held.set()

    def done(self) -> None:
        self.release.set()
        self.thread.join(5)


def test_past_the_limit_a_call_is_refused_at_once_and_a_slot_comes_back():
    gate = CallGate(2)
    a, b = Holder(gate, "a"), Holder(gate, "b")
    with pytest.raises(DependencyUnavailable, match="2 calls of this worker already wait"):
        with gate("c"):
            pass  # pragma: no cover - never entered
    a.done(), b.done()
    assert not a.refused and not b.refused
    with gate("c"):  # both slots released, also after the refusal
        pass
    with pytest.raises(ValueError):
        with gate("d"):
            raise ValueError("the call failed")
    e, f = Holder(gate, "e"), Holder(gate, "f")  # a failed call gives its slot back
    assert not e.refused and not f.refused
    e.done(), f.done()


def test_calls_made_under_a_held_slot_take_no_other():
    """The budget counts threads (checks), not calls: a check that holds a slot (to fetch keys,
    or to wait for another's fetch) makes its calls under it, so the fetch it leads is never
    refused for want of a slot its waiters took."""
    gate = CallGate(2)
    with gate("a check's fetch"):
        other = Holder(gate, "another check")
        with gate("its discovery call"), gate("its JWKS call"):  # under its own slot
            third = Holder(gate, "a third check")
            assert third.refused  # two checks hold both slots
        other.done(), third.done()
    a, b = Holder(gate, "a"), Holder(gate, "b")  # everything released
    assert not a.refused and not b.refused
    a.done(), b.done()


def test_no_limit():
    gate = CallGate(0)
    holders = [Holder(gate, what) for what in "abc"]
    assert not any(h.refused for h in holders)
    for h in holders:
        h.done()


@pytest.mark.parametrize("configured, threads, expected", [
    (0, 4, 3),    # default: one thread always left for checks that need no provider
    (2, 4, 2),    # a lower limit is kept
    (4, 4, 3),    # never all the threads
    (9, 4, 3),
    (0, 1, 0),    # one thread: nothing to keep free, no limit
    (5, 1, 5),
])
def test_uwsgi_workers_keep_a_thread_free(configured, threads, expected):
    assert outbound_limit(configured, threads) == expected
