"""The /auth edge's Prometheus samples, counted per worker in plain integers and added to
prometheus_client's off the hot path: the same exposition as a sample per check, once flushed,
and nothing lost to threads, a scrape or a worker's exit."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from app import observability
from app.observability import HistogramTally, Tally

BUCKETS = observability.LATENCY_BUCKETS
# On a bound, between bounds, past the last, zero: each lands in prometheus_client's own bucket.
VALUES = [0.0, 0.001, 0.0011, 0.0025, 0.003, 0.05, 0.7, 5.0, 5.0001, 42.0, 0.0004]


def exposition(registry: CollectorRegistry) -> str:
    """Every sample but the creation times (the two histograms were made a moment apart)."""
    return "\n".join(line for line in generate_latest(registry).decode().splitlines() if "_created" not in line)


def test_a_flushed_histogram_is_exposed_as_one_observed_value_by_value():
    by_value, tallied = CollectorRegistry(), CollectorRegistry()
    direct = Histogram("t_seconds", "t", ["endpoint"], buckets=BUCKETS, registry=by_value)
    tally = HistogramTally(Histogram("t_seconds", "t", ["endpoint"], buckets=BUCKETS, registry=tallied), BUCKETS)
    for value in VALUES:
        direct.labels("auth").observe(value)
        tally.observe(("auth",), value)
    assert "t_seconds_count" not in exposition(tallied)  # nothing until flushed
    tally.flush()
    assert exposition(tallied) == exposition(by_value)
    tally.flush()  # flushed counts are not added twice
    assert exposition(tallied) == exposition(by_value)


def test_a_flushed_counter_keeps_every_count_of_every_thread():
    registry = CollectorRegistry()
    tally = Tally(Counter("t_total", "t", ["decision", "reason"], registry=registry))

    def add() -> None:
        for _ in range(20_000):
            tally.add(("allow", "allowed"))

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
        tally.flush()  # flushes meanwhile lose nothing either
    for thread in threads:
        thread.join()
    tally.flush()
    assert registry.get_sample_value("t_total", {"decision": "allow", "reason": "allowed"}) == 80_000


def test_a_collection_of_the_default_registry_sees_every_count():
    labels = {"decision": "allow", "reason": "tally-test"}
    before = REGISTRY.get_sample_value("gatehouse_auth_decisions_total", labels) or 0
    for _ in range(3):
        observability.DECISION_TALLY.add(("allow", "tally-test"))
    assert REGISTRY.get_sample_value("gatehouse_auth_decisions_total", labels) == before + 3


def test_a_worker_that_exits_leaves_its_counts_in_the_multiprocess_files(tmp_path):
    """A recycled worker (uWSGI --max-requests, gunicorn max_requests) exits normally: its counts
    not yet flushed are written at its exit and stay in /-/metrics."""
    code = ("from app import observability\n"
            "for _ in range(7):\n"
            "    observability.DECISION_TALLY.add(('unauthenticated', 'no_identity'))\n"
            "    observability.RequestMetrics('auth_check.check').observe('GET', 401, 0.002)\n")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    assert registry.get_sample_value("gatehouse_auth_decisions_total",
                                     {"decision": "unauthenticated", "reason": "no_identity"}) == 7
    assert registry.get_sample_value("gatehouse_http_requests_total",
                                     {"endpoint": "auth_check.check", "method": "GET", "status": "401"}) == 7
    assert registry.get_sample_value("gatehouse_http_request_duration_seconds_bucket",
                                     {"endpoint": "auth_check.check", "le": "0.0025"}) == 7
    assert registry.get_sample_value("gatehouse_http_request_duration_seconds_bucket",
                                     {"endpoint": "auth_check.check", "le": "0.001"}) == 0
