"""Marshmallow schemas for what crosses the edge (admin API and registration requests)."""
from __future__ import annotations

import json
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from .core.limits import MAX_EMAIL_LENGTH, MAX_GROUP_LENGTH, MAX_GROUPS, MAX_NAME_LENGTH
from .core.records import AUTH_METHODS, AUTH_SECRET_BASIC, CLIENT_DISABLED, CLIENT_ENABLED

NAME = validate.Length(min=1, max=200)
USER_NAME = validate.Length(min=1, max=MAX_NAME_LENGTH)  # a person's name or username (core.limits)
SCOPE_TOKEN = validate.Regexp(r"^[\x21\x23-\x5b\x5d-\x7e]{1,200}\Z", error="not a valid scope token")
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
    out: list[str] = []

    def walk(where: str, value: Any) -> None:
        if isinstance(value, dict):  # a list item's or a nested field's messages
            for key, inner in value.items():
                walk(f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}", inner)
        elif isinstance(value, list):
            for inner in value:
                walk(where, inner)
        else:
            out.append(f"{where}: {value}")
    for key, value in sorted(exc.normalized_messages().items()):
        walk(str(key), value)
    return "; ".join(out)


# A group travels in the comma-separated `mia-groups` header: no commas, no control characters.
# How many and how long: core.limits (the same limits apply at login).
GROUP = fields.String(validate=validate.Regexp(
    rf"^[^,\x00-\x1f\x7f]{{1,{MAX_GROUP_LENGTH}}}\Z",
    error=f"must be 1-{MAX_GROUP_LENGTH} characters without commas or control characters"))
GROUPS = validate.Length(max=MAX_GROUPS, error=f"at most {MAX_GROUPS} groups per user")


class StrictBoolean(fields.Boolean):
    """JSON true or false only (no "yes", 1 or "on")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
MAX_METADATA_BYTES = 4096


class Metadata(fields.Dict):
    """A user's `metadata`: a JSON object of at most 4 KB whose keys MongoDB can store as they
    are (no leading `$`, no `.`, no NUL), at any depth."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = super()._deserialize(value, attr, data, **kwargs)
        if len(json.dumps(result)) > MAX_METADATA_BYTES:
            raise ValidationError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")

        def check(node: Any) -> None:
            if isinstance(node, dict):
                for key, item in node.items():
                    if not key or key.startswith("$") or "." in key or "\x00" in key:
                        raise ValidationError(f"key {key[:50]!r}: keys must not be empty, start with $ or contain . or NUL")
                    check(item)
            elif isinstance(node, list):
                for item in node:
                    check(item)
        check(result)
        return result


class UserCreateSchema(Schema):
    """POST /users: pre-provision a user by provider identity or by email (Mia field names)."""

    class Meta:
        unknown = RAISE

    realm = fields.String(load_default=None, validate=validate.Length(max=200))
    provider_id = fields.String(data_key="providerId", load_default=None, validate=validate.Regexp(
        r"^[A-Za-z0-9._\-]{1,64}\Z", error="must be 1-64 of A-Z a-z 0-9 . _ -"))
    provider_user_id = fields.String(data_key="providerUserId", load_default=None, validate=validate.Length(1, 512))
    email = fields.Email(load_default=None, validate=validate.Length(max=MAX_EMAIL_LENGTH))
    name = fields.String(load_default=None, validate=USER_NAME)
    username = fields.String(load_default=None, validate=USER_NAME)
    groups = fields.List(GROUP, load_default=list, validate=GROUPS)
    metadata = Metadata(keys=fields.String(), load_default=dict)
    blocked = StrictBoolean(load_default=False)

    @validates_schema
    def _identity(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("provider_user_id") is not None and data.get("provider_id") is None:
            raise ValidationError("required with providerUserId", "providerId")
        if data.get("provider_user_id") is None and data.get("email") is None:
            raise ValidationError("give email, or providerId and providerUserId", "email")


class UserPatchSchema(Schema):
    """PATCH /users/<id>: what an administrator changes (the provider's fields are the
    provider's: they are refreshed at every login)."""

    class Meta:
        unknown = RAISE

    groups = fields.List(GROUP, validate=GROUPS)
    add_groups = fields.List(GROUP, data_key="addGroups", validate=GROUPS)
    remove_groups = fields.List(GROUP, data_key="removeGroups", validate=GROUPS)
    metadata = Metadata(keys=fields.String())
    blocked = StrictBoolean()


class UserQuerySchema(Schema):
    """GET /users: filters and paging."""

    class Meta:
        unknown = RAISE

    realm = fields.String(validate=validate.Length(max=200))
    provider_id = fields.String(data_key="providerId", validate=validate.Length(1, 64))
    provider_user_id = fields.String(data_key="providerUserId", validate=validate.Length(1, 512))
    email = fields.String(validate=validate.Length(1, 320))
    group = fields.String(validate=validate.Length(1, MAX_GROUP_LENGTH))
    blocked = fields.Boolean()
    text = fields.String(data_key="q", validate=validate.Length(1, 200))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    skip = fields.Integer(load_default=0, validate=validate.Range(0, 100000))


class ExplainSchema(Schema):
    """POST /auth/explain: the request to explain."""

    class Meta:
        unknown = RAISE

    method = fields.String(required=True, validate=validate.OneOf(
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
    uri = fields.String(required=True, validate=validate.Length(min=1, max=4096))
    headers = fields.Dict(keys=fields.String(validate=validate.Length(1, 256)),
                          values=fields.String(validate=validate.Length(max=16384)), load_default=dict)
    # Whom to ask about, instead of (or as well as) the headers' credential: one of them at most.
    user = fields.String(load_default=None, validate=validate.Length(1, 320))
    client = fields.String(load_default=None, validate=validate.Length(1, 256))
    token = fields.String(load_default=None, validate=validate.Length(1, 16384))

    @validates_schema
    def _one_caller(self, data: dict[str, Any], **kwargs: Any) -> None:
        named = [name for name in ("user", "client", "token") if data.get(name) is not None]
        if len(named) > 1:
            raise ValidationError(f"give one of user, client and token, not {' and '.join(named)}", named[1])
        if named and any(k.lower() == "authorization" for k in data.get("headers") or {}):
            raise ValidationError(f"give {named[0]} or an Authorization header, not both", named[0])
