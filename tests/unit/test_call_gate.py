"""The per-worker limit on outbound calls waiting at once (a hung provider cannot take every thread)."""
from __future__ import annotations

import pytest

from app.adapters.http_client import CallGate
from app.core.errors import DependencyUnavailable
from app.uwsgi_check import outbound_limit


def test_past_the_limit_a_call_is_refused_at_once_and_a_slot_comes_back():
    gate = CallGate(2)
    with gate("a"), gate("b"):
        with pytest.raises(DependencyUnavailable, match="2 calls of this worker already wait"):
            with gate("c"):
                pass  # pragma: no cover - never entered
    with gate("c"):  # both slots released, also after the refusal
        pass
    with pytest.raises(ValueError):
        with gate("d"):
            raise ValueError("the call failed")
    with gate("e"), gate("f"):  # a failed call gives its slot back
        pass


def test_no_limit():
    gate = CallGate(0)
    with gate("a"), gate("b"), gate("c"):
        pass


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
