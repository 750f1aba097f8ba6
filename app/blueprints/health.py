"""Operations: /-/healthz, /-/ready, /-/check-up, /-/metrics (never under SERVICE_PREFIX)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.wrappers import Response

from ..core.errors import DependencyUnavailable
from ..services import services
from ..version import NAME, VERSION

bp = Blueprint("health", __name__)


def _body(status: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "name": NAME, "version": VERSION, **extra}


@bp.get("/-/healthz")
def healthz() -> Response:
    return jsonify(_body("OK"))


def _readiness() -> tuple[Response, int]:
    svc = services()
    deps = svc.dependency_status()
    ok = all(v == "up" for v in deps.values()) and not svc.lifecycle.shutting_down.is_set()
    if ok:
        try:
            svc.on_ready()
        except DependencyUnavailable:
            ok = False
    if svc.lifecycle.shutting_down.is_set():
        deps["shutdown"] = "in progress"
    return jsonify(_body("OK" if ok else "KO", dependencies=deps)), 200 if ok else 503


@bp.get("/-/ready")
def ready() -> tuple[Response, int]:
    return _readiness()


@bp.get("/-/check-up")
def check_up() -> tuple[Response, int]:
    return _readiness()


@bp.get("/-/metrics")
def metrics() -> tuple[bytes, int, dict[str, str]]:
    return current_app.extensions["gatehouse_metrics"]()  # type: ignore[no-any-return]
