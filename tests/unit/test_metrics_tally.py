"""The /auth path's tallies add to Prometheus samples exactly as prometheus_client's own `inc` and
`observe` do, in multi-process mode (what a gunicorn worker runs) and outside it."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

from app.observability import FORKS, counter_tally, histogram_tally

BUCKETS = (.001, .0025, .01, 1)
AMOUNTS = (0.0005, 0.001, 0.0011, 0.0025, 0.003, 0.5, 1.0, 3.0, 0.0)


@pytest.fixture
def multiprocess(tmp_path, monkeypatch):
    """prometheus_client in multi-process mode, writing its files under tmp_path."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    known = len(values._multi_process_cleanups)
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    yield CollectorRegistry(), tmp_path
    for cleanup in values._multi_process_cleanups[known:]:  # this test's files only
        cleanup()
    del values._multi_process_cleanups[known:]


def metrics(registry, prefix: str):
    counter = Counter(f"{prefix}_total", "t", ["a"], registry=registry)
    histogram = Histogram(f"{prefix}_seconds", "t", ["e"], buckets=BUCKETS, registry=registry)
    return counter.labels("x"), histogram.labels("e")


def samples(path, prefix: str) -> dict[tuple[str, tuple], float]:
    read = CollectorRegistry()
    MultiProcessCollector(read, path=str(path))
    return {(s.name.replace(prefix, "m"), tuple(sorted(s.labels.items()))): s.value
            for metric in read.collect() for s in metric.samples if s.name.startswith(prefix)}


def test_tallies_write_what_prometheus_client_writes(multiprocess):
    registry, path = multiprocess
    ours, theirs = metrics(registry, "ours"), metrics(registry, "theirs")
    add, observe = counter_tally(ours[0]), histogram_tally(ours[1])
    assert add != ours[0].inc and observe != ours[1].observe, "the direct writers are used"
    for amount in AMOUNTS:
        add()
        observe(amount)
        theirs[0].inc()
        theirs[1].observe(amount)
    ours[0].inc()  # prometheus_client's own path stays in step with a tally's
    add()
    theirs[0].inc(2)
    got, expected = samples(path, "ours"), samples(path, "theirs")
    assert got == expected
    assert got[("m_total", (("a", "x"),))] == len(AMOUNTS) + 2
    assert got[("m_seconds_bucket", (("e", "e"), ("le", "0.001")))] == 3  # 0.0005, 0.001 and 0.0 (le: <=)


def test_after_a_fork_tallies_hand_back_to_prometheus_client(multiprocess):
    registry, path = multiprocess
    counter, histogram = metrics(registry, "forked")
    add, observe = counter_tally(counter), histogram_tally(histogram)
    add()
    FORKS[0] += 1  # what os.register_at_fork does in a child
    try:
        add()
        observe(0.002)
    finally:
        FORKS[0] -= 1
    got = samples(path, "forked")
    assert got[("m_total", (("a", "x"),))] == 2
    assert got[("m_seconds_count", (("e", "e"),))] == 1


def test_outside_multiprocess_mode_tallies_are_the_children_own():
    registry = CollectorRegistry()
    counter, histogram = metrics(registry, "single")
    assert counter_tally(counter) == counter.inc and histogram_tally(histogram) == histogram.observe


def test_a_tally_bound_in_a_forked_worker_writes_that_worker_file(multiprocess):
    """A child created before the fork (as a preloading server would) still counts in the
    worker's own file when the worker binds its tally: nothing is written over the parent's."""
    import os
    registry, path = multiprocess
    counter, _ = metrics(registry, "preforked")
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            add = counter_tally(counter)
            add()
            add()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    counter_tally(counter)()  # the parent's own count, in its own file
    assert samples(path, "preforked")[("m_total", (("a", "x"),))] == 3
