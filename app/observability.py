"""JSON logs with a request id, and Prometheus metrics correct under several gunicorn workers.

Multi-process mode: gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker imports
prometheus_client, so every worker writes its samples there and /-/metrics aggregates them.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote_plus

from flask import Flask, g, request
from flask.wrappers import Response
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest, multiprocess)

from .core.policy.authorizer import METHOD_HEADERS, URI_HEADERS, Headers

REQUESTS = Counter("gatehouse_http_requests_total", "HTTP requests answered",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("gatehouse_http_request_duration_seconds", "Time to answer a request",
                    ["endpoint"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
TOKENS_ISSUED = Counter("gatehouse_tokens_issued_total", "Access tokens issued",
                        ["grant_type", "auth_method"])
CLIENT_AUTH_FAILURES = Counter("gatehouse_client_auth_failures_total",
                               "Failed client authentications", ["reason"])

AUTH_ENDPOINT = "auth_check.check"
DECISIONS = Counter("gatehouse_auth_decisions_total", "/auth decisions by outcome and reason",
                    ["decision", "reason"])

REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
          "warn": logging.WARNING, "warning": logging.WARNING, "error": logging.ERROR,
          "fatal": logging.CRITICAL, "silent": logging.CRITICAL + 10}


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


def token_issued(grant_type: str, auth_method: str, client_id: str, issued: Any) -> None:
    """One line and one count per token issued: who got it, how they proved it; never the token."""
    TOKENS_ISSUED.labels(grant_type, auth_method).inc()
    logging.getLogger("gatehouse.tokens").info("token issued", extra={
        "request_id": g.get("request_id"), "client_id": client_id, "grant_type": grant_type,
        "auth_method": auth_method, "scope": issued.scope, "aud": issued.claims.get("aud"),
        "jti": issued.claims.get("jti"), "expires_in": issued.expires_in})


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
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied if REQUEST_ID.match(supplied) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.endpoint or "unmatched"
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        LATENCY.labels(endpoint).observe(elapsed)
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if endpoint == AUTH_ENDPOINT:
            return response  # the decision log has this request's line
        # Path only: query strings may carry codes or tokens (SPEC §10).
        access.info("request", extra={
            "request_id": g.get("request_id"), "method": request.method, "path": request.path,
            "endpoint": endpoint, "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2)})
        return response

    def render_metrics() -> tuple[bytes, int, dict[str, str]]:
        registry = REGISTRY
        if metrics_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=metrics_dir)
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    app.extensions["gatehouse_metrics"] = render_metrics


# Query parameters whose values are credentials: the decision log writes `REDACTED` instead.
CREDENTIAL_PARAMS = frozenset({
    "access_token", "id_token", "refresh_token", "token", "code", "client_secret", "client_assertion",
    "assertion", "password", "passwd", "secret", "api_key", "apikey", "api-key", "key", "client_key",
    "client-key", "jwt", "session", "sid", "state", "ticket", "signature", "sig", "x-amz-signature",
    "x-amz-credential", "x-goog-signature", "auth", "authorization"})
DECISION_LOG_LEVELS = ("all", "refusals", "off")
OUTCOMES = {204: "allow", 401: "unauthenticated", 403: "forbidden"}
MAX_LOGGED_URI = 2048
PRINTABLE_CHARS = "".join(chr(c) for c in range(0x21, 0x7f))
PRINTABLE = re.compile(r"[\x21-\x7e]*")


def redact_uri(uri: str) -> str:
    """The original URI for a log line: fragment dropped, credential query values replaced,
    bounded in length; everything else as sent (byte for byte, so it can be searched for)."""
    path, sep, query = uri.partition("#")[0].partition("?")
    if sep:
        parts = []
        for pair in query.split("&"):
            name, eq, _ = pair.partition("=")
            parts.append(f"{name}=REDACTED" if eq and unquote_plus(name).lower() in CREDENTIAL_PARAMS else pair)
        path = f"{path}?{'&'.join(parts)}"
    if len(path) > MAX_LOGGED_URI:
        path = path[:MAX_LOGGED_URI] + "..."
    return path if PRINTABLE.fullmatch(path) else quote(path, safe=PRINTABLE_CHARS)  # no control or non-ASCII


class DecisionLog:
    """One JSON line per /auth decision (logger `gatehouse.decision`) and the decision counter.

    Levels: `all`, `refusals` (the default: every answer but an allow), `off`. An allowed check
    at `refusals` costs one dictionary lookup and a counter increment."""

    def __init__(self, level: str = "refusals") -> None:
        if level not in DECISION_LOG_LEVELS:
            raise ValueError(f"decision log level must be one of {', '.join(DECISION_LOG_LEVELS)}")
        self.level = level
        self.logger = logging.getLogger("gatehouse.decision")
        self.counters: dict[tuple[str, str], Any] = {}

    def _count(self, outcome: str, code: str) -> None:
        key = (outcome, code)
        child = self.counters.get(key)
        if child is None:
            child = self.counters[key] = DECISIONS.labels(outcome, code)
        child.inc()

    def decided(self, decision: Any, headers: Headers, request_id: str, elapsed: float) -> None:
        """A decision of the authorizer (core.policy.decision.Decision)."""
        outcome = OUTCOMES.get(decision.status, str(decision.status))
        self._count(outcome, decision.code)
        if self.level == "off" or (outcome == "allow" and self.level != "all"):
            return
        p = decision.principal
        rule = decision.rule
        fields: dict[str, Any] = {
            "request_id": request_id, **_original(headers), "source": decision.source,
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
               elapsed: float, cause: str | None = None) -> None:
        """No decision: a dependency was down (503) or the check failed (500). Always logged
        unless the log is off; counted under decision `error` with the error code."""
        self._count("error", error)
        if self.level == "off":
            return
        self.logger.warning("decision", extra={
            "request_id": request_id, **_original(headers), "decision": "error", "status": status,
            "code": error, "reason": reason, "cause": cause, "duration_ms": round(elapsed * 1000, 2)})


def _first(headers: Headers, names: tuple[str, ...]) -> Any:
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return None


def _original(headers: Headers) -> dict[str, Any]:
    uri, method = _first(headers, URI_HEADERS), _first(headers, METHOD_HEADERS)
    return {"method": method[:16].upper() if isinstance(method, str) else None,
            "uri": redact_uri(uri) if isinstance(uri, str) else None}
