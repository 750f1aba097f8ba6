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

from flask import Flask, g, request
from flask.wrappers import Response
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest, multiprocess)

REQUESTS = Counter("gatehouse_http_requests_total", "HTTP requests answered",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("gatehouse_http_request_duration_seconds", "Time to answer a request",
                    ["endpoint"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
TOKENS_ISSUED = Counter("gatehouse_tokens_issued_total", "Access tokens issued",
                        ["grant_type", "auth_method"])
CLIENT_AUTH_FAILURES = Counter("gatehouse_client_auth_failures_total",
                               "Failed client authentications", ["reason"])

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
