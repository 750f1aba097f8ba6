"""Marshmallow schemas for what crosses the edge (admin API and registration requests)."""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from .core.records import AUTH_METHODS, AUTH_SECRET_BASIC, CLIENT_DISABLED, CLIENT_ENABLED

NAME = validate.Length(min=1, max=200)
SCOPE_TOKEN = validate.Regexp(r"^[\x21\x23-\x5b\x5d-\x7e]{1,200}$", error="not a valid scope token")
LIST_ITEM = fields.String(validate=validate.Length(min=1, max=512))


class ScopeString(fields.Field):
    """RFC 7591 `scope`: space-separated scope tokens -> list."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, str):
            raise ValidationError("must be a space-separated string of scopes")
        text = value
        parts = text.split(" ") if text else []
        for part in parts:
            SCOPE_TOKEN(part)
        return list(dict.fromkeys(parts))


class StringOrList(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and 0 < len(i) <= 512 for i in items):
            raise ValidationError("must be a string or a list of strings")
        return list(dict.fromkeys(items))


class RegisterSchema(Schema):
    """RFC 7591 §2 client metadata (unknown members are ignored, as §2 requires)."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(data_key="client_name", required=True, validate=NAME)
    auth_method = fields.String(data_key="token_endpoint_auth_method",
                                load_default=AUTH_SECRET_BASIC, validate=validate.OneOf(AUTH_METHODS))
    grant_types = fields.List(fields.String(), load_default=lambda: ["client_credentials"])
    scopes = ScopeString(data_key="scope", load_default=list)
    permissions = fields.List(LIST_ITEM, load_default=list, validate=validate.Length(max=200))
    audience = StringOrList(load_default=list)
    allowed_custom_claims = fields.Dict(keys=fields.String(validate=validate.Length(1, 100)),
                                        load_default=dict)
    jwks = fields.Dict(load_default=None)
    public_key = fields.String(load_default=None, validate=validate.Length(max=10000))

    @validates_schema
    def _grants(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("grant_types") != ["client_credentials"]:
            raise ValidationError("only client_credentials is supported", "grant_types")


class ClientPatchSchema(Schema):
    """PATCH /clients/<id>: the fields an admin may change (Mia names)."""

    class Meta:
        unknown = RAISE

    name = fields.String(validate=NAME)
    scopes = fields.List(fields.String(validate=SCOPE_TOKEN))
    permissions = fields.List(LIST_ITEM)
    audience = fields.List(LIST_ITEM)
    allowed_custom_claims = fields.Dict(data_key="allowedCustomClaims",
                                        keys=fields.String(validate=validate.Length(1, 100)))
    state = fields.String(validate=validate.OneOf([CLIENT_ENABLED, CLIENT_DISABLED]))
    jwks = fields.Dict(allow_none=True)
    public_key = fields.String(data_key="publicKey", allow_none=True, validate=validate.Length(max=10000))


class LoginCompletionSchema(Schema):
    """POST /oauth/token {code, state}: the browser login's completion."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    state = fields.String(required=True, validate=validate.Length(min=1, max=2048))


class RefreshSchema(Schema):
    refreshToken = fields.String(required=True, validate=validate.Length(min=1, max=512))


def problems(exc: ValidationError) -> str:
    """One readable sentence from marshmallow's messages: `field: message; ...`."""
    out = []
    messages = exc.normalized_messages()
    for key, value in sorted(messages.items()):
        text = value if isinstance(value, str) else "; ".join(
            str(v) for v in (value.values() if isinstance(value, dict) else value))
        out.append(f"{key}: {text}")
    return "; ".join(out)


class ExplainSchema(Schema):
    """POST /auth/explain: the request to explain."""

    class Meta:
        unknown = RAISE

    method = fields.String(required=True, validate=validate.OneOf(
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
    uri = fields.String(required=True, validate=validate.Length(min=1, max=4096))
    headers = fields.Dict(keys=fields.String(validate=validate.Length(1, 256)),
                          values=fields.String(validate=validate.Length(max=16384)), load_default=dict)
