"""JSON logs with a request id, and Prometheus metrics correct under several gunicorn workers.

Multi-process mode: gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker imports
prometheus_client, so every worker writes its samples there and /-/metrics aggregates them.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from bisect import bisect_left
from typing import Any, Callable
from urllib.parse import quote, unquote_plus

from flask import Flask, g, request
from flask.wrappers import Response
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest, multiprocess)

from .core.check.policy.decision import OUTCOMES
from .core.check.policy.dialects import METHOD_HEADERS, URI_HEADERS, Headers, Original, Refused, first_header

# -- samples counted per worker and added to prometheus_client's off the hot path -------------
#
# A prometheus_client sample costs about a microsecond and a half in multi-process mode (a lock, a
# getpid, a write into the worker's mmap file); the /auth check adds three of them. The check counts
# in plain integers instead, and the counts are added to the samples by a thread of the worker once
# a second (FLUSH_SECONDS), before every exposition of this process (/-/metrics, or any collection
# of the default registry) and at the worker's exit: /-/metrics shows another worker's last second
# a second late, never a count lost by a graceful exit.
FLUSH_SECONDS = 1.0
_TALLIES: list["Tally"] = []
_flusher = {"running": False}


def flush_tallies() -> None:
    """Add every pending count of this process to its prometheus_client samples."""
    for tally in list(_TALLIES):
        tally.flush()


def _flush_every_second() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        flush_tallies()


def _start_flusher() -> None:
    if not _flusher["running"]:
        _flusher["running"] = True
        threading.Thread(target=_flush_every_second, name="metrics-flush", daemon=True).start()


def _forked() -> None:  # a forked child has the parent's counts (flushed by the parent) and no thread
    _flusher["running"] = False
    for tally in _TALLIES:
        tally.forget()


os.register_at_fork(after_in_child=_forked)
atexit.register(flush_tallies)


class _FlushOnCollect:
    """Registered before the metrics, so a collection of the default registry sees every count."""

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> list[Any]:
        flush_tallies()
        return []


REGISTRY.register(_FlushOnCollect())  # type: ignore[arg-type]


class Tally:
    """Counts of one metric's samples by label values, kept in this process until flushed."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, ...], int] = {}
        _TALLIES.append(self)

    def add(self, labels: tuple[str, ...]) -> None:
        """One more of the labelled counter's samples."""
        if not _flusher["running"]:
            _start_flusher()
        with self.lock:
            counts = self.counts
            counts[labels] = counts.get(labels, 0) + 1

    def take(self) -> Any:
        with self.lock:
            counts, self.counts = self.counts, {}
        return counts

    def forget(self) -> None:
        self.lock = threading.Lock()  # another thread of the parent may have held it at the fork
        self.counts = {}

    def flush(self) -> None:
        for labels, n in self.take().items():
            self.metric.labels(*labels).inc(n)


class HistogramTally(Tally):
    """Observations of a labelled histogram, counted per bucket with their sum."""

    def __init__(self, metric: Any, buckets: tuple[float, ...]) -> None:
        super().__init__(metric)
        self.bounds = (*buckets, float("inf"))
        self.observed: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        if not _flusher["running"]:
            _start_flusher()
        with self.lock:
            row = self.observed.get(labels)
            if row is None:
                row = self.observed[labels] = [0.0] * (len(self.bounds) + 1)
            row[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound is >= value
            row[-1] += value

    def take(self) -> Any:
        with self.lock:
            observed, self.observed = self.observed, {}
        return observed

    def forget(self) -> None:
        super().forget()
        self.observed = {}

    def flush(self) -> None:
        # prometheus_client's Histogram has no observe-many: its children's bucket and sum values
        # are added to as observe() adds to them (tests/unit/test_metrics_tally.py holds the two
        # to the same exposition, so an upgrade that changes this layout fails there).
        for labels, row in self.take().items():
            child = self.metric.labels(*labels)
            for bucket, n in zip(child._buckets, row):
                if n:
                    bucket.inc(n)
            child._sum.inc(row[-1])


LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5)
REQUESTS = Counter("gatehouse_http_requests_total", "HTTP requests answered",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("gatehouse_http_request_duration_seconds", "Time to answer a request",
                    ["endpoint"], buckets=LATENCY_BUCKETS)
TOKENS_ISSUED = Counter("gatehouse_tokens_issued_total", "Access tokens issued",
                        ["grant_type", "auth_method"])
CLIENT_AUTH_FAILURES = Counter("gatehouse_client_auth_failures_total",
                               "Failed client authentications", ["reason"])

# The /auth edge's label in the request metrics (the name of the Flask view it replaced, so
# dashboards keep their queries).
AUTH_ENDPOINT = "auth_check.check"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DECISIONS = Counter("gatehouse_auth_decisions_total", "/auth decisions by outcome and reason",
                    ["decision", "reason"])

# A caller's X-Request-Id that Gatehouse keeps: bounded, and safe to print in a page, a JSON body
# and a log line. The shipped nginx applies the same pattern (its `$gatehouse_request_id` map in
# app/nginx/gatehouse.conf.in; a unit test keeps the two the same).
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
          "warn": logging.WARNING, "warning": logging.WARNING, "error": logging.ERROR,
          "fatal": logging.CRITICAL, "silent": logging.CRITICAL + 10}


# The /auth edge's samples: counted per worker (Tally), added off the hot path.
REQUEST_TALLY = Tally(REQUESTS)
LATENCY_TALLY = HistogramTally(LATENCY, LATENCY_BUCKETS)
DECISION_TALLY = Tally(DECISIONS)


def request_id(supplied: str | None) -> str:
    """The request's id: the caller's X-Request-Id when well-formed (the shipped nginx sends the
    client's when safe, else its own `$request_id`: gatehouse-check-headers.conf), else a new one."""
    return supplied if supplied and REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex


class RequestMetrics:
    """The request counter and latency histogram of one endpoint, for a path answered outside
    Flask (the /auth edge): counted in this worker and added to the samples off the hot path
    (Tally)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.labels: dict[tuple[str, int], tuple[str, ...]] = {}
        self.latency = (endpoint,)

    def observe(self, method: str, status: int, elapsed: float) -> None:
        key = (method, status)
        labels = self.labels.get(key)
        if labels is None:
            labels = self.labels[key] = (self.endpoint, method, str(status))
        REQUEST_TALLY.add(labels)
        LATENCY_TALLY.observe(self.latency, elapsed)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed with `extra=` are kept."""

    BASE = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": int(record.created * 1000), "level": record.levelname.lower(),
            "logger": record.name, "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in self.BASE and k != "message"})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(level: str) -> None:
    root = logging.getLogger("gatehouse")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(LEVELS[level])
    # The JSON lines carry none of the caller's file and line, thread or process fields, so the
    # records need not collect them (the logging HOWTO's "Optimization"): a decision line costs
    # about a third of what it would.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # DECISION_LOG alone chooses which decisions are logged; LOG_LEVEL=silent still silences all.
    logging.getLogger("gatehouse.decision").setLevel(LEVELS[level] if level == "silent" else logging.INFO)


def token_issued(grant_type: str, auth_method: str, client_id: str, details: dict[str, Any]) -> None:
    """One line and one count per token issued: who got it, how they proved it; never the token.
    Machine tokens: the client id and its authentication method, scope, aud, jti. Login
    sessions: the app id, `provider:<id>` (or `refresh_token`), the user id."""
    TOKENS_ISSUED.labels(grant_type, auth_method).inc()
    logging.getLogger("gatehouse.tokens").info("token issued", extra={
        "request_id": g.get("request_id"), "client_id": client_id, "grant_type": grant_type,
        "auth_method": auth_method, **details})


def failure_reason(description: str) -> str:
    """A bounded label for the failure counter (never the caller's input)."""
    for reason in ("disabled", "replayed", "already used", "aud", "exp", "iat", "nbf",
                   "algorithm", "kid", "key", "signature"):
        if reason in description:
            return reason.replace(" ", "_")
    return "bad_credentials"


def install(app: Flask, metrics_dir: str | None) -> None:
    access = logging.getLogger("gatehouse.access")

    @app.before_request
    def _start() -> None:
        g.request_id = request_id(request.headers.get("X-Request-Id"))
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.endpoint or "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "OTHER"  # bounded label
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        LATENCY.labels(endpoint).observe(elapsed)
        response.headers["X-Request-Id"] = g.get("request_id", "")
        # Path only: query strings may carry codes or tokens (docs/operations.md "What the logs hold").
        access.info("request", extra={
            "request_id": g.get("request_id"), "method": request.method, "path": request.path,
            "endpoint": endpoint, "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2)})
        return response

    def render_metrics() -> tuple[bytes, int, dict[str, str]]:
        flush_tallies()  # this worker's counts; the others' are at most FLUSH_SECONDS old
        registry = REGISTRY
        if metrics_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=metrics_dir)
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    app.extensions["gatehouse_metrics"] = render_metrics


# A query or path parameter whose name contains one of these (after normalising it) holds a
# credential: the decision log writes `REDACTED` for its value. Broad on purpose — a harmless
# parameter redacted costs a little tracing, a credential written costs a breach.
CREDENTIAL_NAME = re.compile(
    r"token|secret|pass|pwd|key|sig|auth|session|sid|code|credential|assertion|saml|jwt|ticket|state|nonce")
DECISION_LOG_LEVELS = ("all", "refusals", "off")
# 302: the check's own login redirect (Traefik, Caddy, Envoy) is an unauthenticated decision.
MAX_LOGGED_URI = 2048
PRINTABLE_CHARS = "".join(chr(c) for c in range(0x21, 0x7f) if c != 0x25)  # printable ASCII but `%`
PRINTABLE = re.compile(r"[\x21-\x7e]*")
# `?` too: a URL in a parameter's value (`next=/x?token=abc`) has its own query.
QUERY_SEPARATOR = re.compile(r"([&;?])")
PATH_PARAMETER = re.compile(r";([^/;=]*)=([^/;]*)")


def credential_name(name: str) -> bool:
    """`access_token`, `Access-Token`, `access.token`, `user[password]`, `%74oken`: a credential."""
    plain = unquote_plus(name).strip().lower()
    inner = re.findall(r"\[([^\]]*)\]", plain)
    return bool(CREDENTIAL_NAME.search(plain) or any(CREDENTIAL_NAME.search(key) for key in inner))


def holds_credential(value: str) -> bool:
    """A parameter value that is itself a URL with a credential-named query parameter, encoded
    (`next=%2Fx%3Ftoken%3Dabc`): its own query cannot be redacted apart, so the whole value is."""
    inner = unquote_plus(value)
    return "?" in inner and any(eq and credential_name(name) for name, eq, _ in
                                (part.partition("=") for part in QUERY_SEPARATOR.split(inner.partition("?")[2])))


def redact_uri(uri: str) -> str:
    """The original URI for a log line: fragment dropped; the values of query parameters (split on
    `&`, `;` and `?`) and path parameters (`;name=value`) with credential names replaced, and those
    of parameters holding an encoded URL with one; anything outside printable ASCII
    percent-encoded from the bytes nginx received (then `%` too, so the encoding reads back
    unambiguously); bounded in length. Everything else as sent."""
    path, sep, query = uri.partition("#")[0].partition("?")
    path = PATH_PARAMETER.sub(lambda m: f";{m.group(1)}=REDACTED" if credential_name(m.group(1)) else m.group(0),
                              path)
    if sep:
        parts = []
        for part in QUERY_SEPARATOR.split(query):
            name, eq, value = part.partition("=")
            parts.append(f"{name}=REDACTED" if eq and (credential_name(name) or holds_credential(value)) else part)
        path = f"{path}?{''.join(parts)}"
    if not PRINTABLE.fullmatch(path):
        try:
            raw = path.encode("latin-1")  # WSGI: the request's bytes, one character each
        except UnicodeEncodeError:
            raw = path.encode("utf-8")
        path = quote(raw, safe=PRINTABLE_CHARS)
    return path if len(path) <= MAX_LOGGED_URI else path[:MAX_LOGGED_URI] + "..."


class DecisionLog:
    """One JSON line per /auth decision (logger `gatehouse.decision`) and the decision counter.

    Levels: `all`, `refusals` (the default: every answer but an allow), `off`. An allowed check
    at `refusals` costs one dictionary lookup and a counter increment."""

    def __init__(self, level: str = "refusals") -> None:
        if level not in DECISION_LOG_LEVELS:
            raise ValueError(f"decision log level must be one of {', '.join(DECISION_LOG_LEVELS)}")
        self.level = level
        self.logger = logging.getLogger("gatehouse.decision")

    @staticmethod
    def _count(outcome: str, code: str) -> None:
        DECISION_TALLY.add((outcome, code))

    def decided(self, decision: Any, headers: Headers, request_id: str, elapsed: float,
                original: Original | Refused | None = None) -> None:
        """A decision of the authorizer (core.policy.decision.Decision); `original`: the original
        request as the forward-auth dialect resolved it (without one: the plain nginx headers)."""
        outcome = OUTCOMES.get(decision.status, str(decision.status))
        self._count(outcome, decision.code)
        if self.level == "off" or (outcome == "allow" and self.level != "all"):
            return
        p = decision.principal
        rule = decision.rule
        fields: dict[str, Any] = {
            "request_id": request_id, **_original(headers, original), "source": decision.source,
            "principal": None if p.anonymous else f"{p.kind}:{p.id}",
            "route": None if rule is None else f"{rule.method} {rule.path}",
            "decision": outcome, "status": decision.status, "code": decision.code, "reason": decision.reason,
            "duration_ms": round(elapsed * 1000, 2)}
        client_id = p.claims.get("client_id") or p.claims.get("azp")
        if isinstance(client_id, str) and client_id != p.id:
            fields["client_id"] = client_id
        if p.client_type:
            fields["client_type"] = p.client_type
        self.logger.info("decision", extra=fields)

    def failed(self, error: str, status: int, reason: str, headers: Headers, request_id: str,
               elapsed: float, cause: str | None = None, original: Original | Refused | None = None) -> None:
        """No decision: a dependency was down (503) or the check failed (500). Logged at every
        level (an outage must leave a trace); counted under decision `error` with the error code."""
        self._count("error", error)
        self.logger.warning("decision", extra={
            "request_id": request_id, **_original(headers, original), "decision": "error", "status": status,
            "code": error, "reason": reason, "cause": cause, "duration_ms": round(elapsed * 1000, 2)})


def _original(headers: Headers, original: Original | Refused | None = None) -> dict[str, Any]:
    """The original method and URI for a log line: the dialect's (none when it was refused, so a
    spoofed header is never logged as the request), else the plain nginx headers."""
    if isinstance(original, Refused):
        return {"method": None, "uri": None}
    if isinstance(original, Original):
        uri, method = original.uri, original.method
    else:
        uri, method = first_header(headers, URI_HEADERS), first_header(headers, METHOD_HEADERS)
    return {"method": method[:16].upper() if isinstance(method, str) else None,
            "uri": redact_uri(uri) if isinstance(uri, str) else None}
