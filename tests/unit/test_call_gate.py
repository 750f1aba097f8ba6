"""The limits on outbound calls waiting at once: per worker (a hung provider cannot take every
thread) and per process group (nor every single-threaded worker)."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from app.adapters.http_client import CallGate, GroupSlots, call_gate
from app.core.errors import DependencyUnavailable
from app.serving.uwsgi_check import outbound_group_limit, outbound_limit


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


def test_the_group_budget_holds_across_gates_and_processes(tmp_path):
    """Two workers' gates over one directory, budget 1: while one waits, the other is refused at
    once; a worker that dies holding the slot gives it back (the kernel drops its lock)."""
    first, second = call_gate(0, str(tmp_path), 1), call_gate(0, str(tmp_path), 1)
    holder = Holder(first, "a hung provider")
    with pytest.raises(DependencyUnavailable, match="1 calls of this worker group already wait"):
        with second("another provider"):
            pass  # pragma: no cover - never entered
    holder.done()
    with second("another provider"):  # given back
        pass
    # Another process takes the slot and is killed while holding it.
    other = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from app.adapters.http_client import GroupSlots; "
        f"assert GroupSlots({str(tmp_path)!r}, 1).take() is not None; print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with pytest.raises(DependencyUnavailable):
            with first("a provider"):
                pass  # pragma: no cover - never entered
    finally:
        other.kill()
        other.wait(10)
    with first("a provider"):
        pass


def test_the_worker_and_group_limits_both_hold_and_a_refusal_keeps_no_slot(tmp_path):
    gate = CallGate(2, GroupSlots(str(tmp_path), 1))
    holder = Holder(gate, "a")
    refused = Holder(gate, "b")  # the worker has a slot left, the group has none
    assert refused.refused
    holder.done(), refused.done()
    a, b = Holder(gate, "a"), Holder(CallGate(0, GroupSlots(str(tmp_path), 1)), "b")
    assert not a.refused and b.refused  # the group's slot went back, and was taken again by `a`
    a.done(), b.done()


def test_no_directory_no_group_limit():
    assert call_gate(0, None, 3).group is None and call_gate(0, "/x", None).group is None


@pytest.mark.parametrize("configured, processes, threads, expected", [
    (None, 4, 1, 2),   # one thread per worker: half the workers may wait on a provider
    (None, 2, 1, 1),
    (None, 1, 1, 1),
    (None, 3, 1, 1),
    (3, 4, 1, 3),      # as configured
    (None, 2, 4, None),  # several threads: each worker keeps one free, no group limit
    (2, 2, 4, 2),
])
def test_group_limit(configured, processes, threads, expected):
    assert outbound_group_limit(configured, processes, threads) == expected

