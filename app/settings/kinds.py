"""The kinds of value settings and nested shapes are validated as: the marshmallow fields and
validators they share (app/settings/declarations.py, app/settings/shapes.py)."""
from __future__ import annotations

import base64
import ipaddress
import re
from typing import Any

from marshmallow import ValidationError, fields, validate


class CommaList(fields.Field):
    """A list in the file, a comma-separated string in the environment."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",")]
            return tuple(v for v in items if v)
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            return tuple(value)
        raise ValidationError("must be a list of non-empty strings or a comma-separated string")


class VerificationKeys(fields.Field):
    """Retired keys kept for verification: [{kid, path}] in the file, `kid=path,...` in env."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[tuple[str, str], ...]:
        if isinstance(value, str):
            pairs = [p.strip() for p in value.split(",") if p.strip()]
            if any("=" not in p for p in pairs):
                raise ValidationError("must be kid=path pairs separated by commas")
            return tuple((kid, path) for kid, _, path in (p.partition("=") for p in pairs))
        if isinstance(value, list) and all(
                isinstance(v, dict) and set(v) == {"kid", "path"}
                and all(isinstance(x, str) and x for x in v.values()) for v in value):
            return tuple((v["kid"], v["path"]) for v in value)
        raise ValidationError("must be a list of {kid, path} objects")


def url(schemes: set[str]) -> validate.Validator:
    names = "/".join(sorted(schemes))
    return validate.URL(schemes=schemes, require_tld=False, error=f"must be a URL ({names})")


class ScopeList(fields.Field):
    """A provider's scopes: a list, or one space-separated string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = value.split() if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and re.match(r"^[\x21-\x7e]{1,200}$", i) for i in items):
            raise ValidationError("must be a list of scopes or a space-separated string")
        return list(dict.fromkeys(items))


def fernet_key(value: str) -> None:
    try:
        ok = len(value) == 44 and len(base64.urlsafe_b64decode(value.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError):
        ok = False
    if not ok:
        raise ValidationError("must be a Fernet key (44 characters of URL-safe base64; "
                              "`gatehouse keys provider-token-key` makes one)")


def cidrs(value: list[str]) -> None:
    bad = []
    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            bad.append(entry)
    if bad:
        raise ValidationError(f"not an address or CIDR: {', '.join(bad)}")


def hosts(value: list[str]) -> None:
    bad = [h for h in value if not re.match(r"^(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$", h)]
    if bad:
        raise ValidationError(f"each entry must be host or host:port, not {', '.join(bad)}")


class SecretBytes(fields.Field):
    """A secret given as text (at least `min_length` characters), kept as its UTF-8 bytes (an HMAC key)."""

    def __init__(self, min_length: int) -> None:
        super().__init__()
        self.min_length = min_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        if len(value) < self.min_length:
            raise ValidationError(f"must be at least {self.min_length} characters")
        return value.encode("utf-8")


