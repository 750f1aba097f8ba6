"""Request parsing shared by the views: one place that turns bad input into a 4xx."""
from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from .core.errors import BadRequest, GatehouseError, InvalidRequest
from .core.machine_tokens import TokenRequest
from .schemas import problems

FORM = "application/x-www-form-urlencoded"


def token_request() -> TokenRequest:
    """The OAuth endpoints take form bodies only (RFC 6749 §3.2)."""
    if request.mimetype != FORM:
        raise InvalidRequest(f"the body must be {FORM}")
    form = {key: request.form.getlist(key) for key in request.form.keys()}
    return TokenRequest(authorization=request.headers.get("Authorization"), form=form,
                        source=request.remote_addr or "unknown")


def load_json(schema: Schema, error: type[GatehouseError] = BadRequest) -> dict[str, Any]:
    """Validate a JSON object body with one schema."""
    body = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if not isinstance(body, dict):
        raise error("the body must be a JSON object (Content-Type: application/json)")
    try:
        return schema.load(body)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise error(problems(exc)) from exc
