"""The rules between settings, checked once every value is valid, and the schema that validates the
declared settings (one marshmallow field per declaration, plus these rules)."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, validates_schema

from .declarations import DECLARATIONS

HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def _key_rules(data: dict[str, Any]) -> tuple[str, str] | None:
    if data.get("private_key_path"):
        return None if data.get("private_key_id") else ("private_key_id", "required with PRIVATE_RSA_KEY_FILE_PATH")
    # The /auth group verifies and never signs: the public halves (VERIFICATION_KEYS) are enough,
    # unless it refreshes BFF sessions' tokens at a provider it authenticates to with a signed
    # assertion (private_key_jwt).
    bff_provider = (data.get("bff") or {}).get("provider") or {}
    if bff_provider.get("token_auth_method") == "private_key_jwt":
        return "private_key_path", ("required: the BFF provider's private_key_jwt assertions are signed with it, "
                                    "in the /auth group too (it refreshes BFF sessions' tokens)")
    if data.get("role") == "check" and data.get("verification_keys"):
        return None
    return "private_key_path", ("required (only the /auth group, GATEHOUSE_ROLE=check, may run without it, "
                                "on VERIFICATION_KEYS alone)")


def _login_rules(data: dict[str, Any]) -> tuple[str, str] | None:
    apps = data.get("apps") or {}
    if (apps or data.get("bff")) and not data.get("provider_token_key"):
        return "provider_token_key", "required when apps or bff are configured (provider tokens are sealed with it)"
    if data.get("default_app_id") and data["default_app_id"] not in apps:
        return "default_app_id", "must name one of the configured apps"
    return None


def _dialect_rules(data: dict[str, Any]) -> tuple[str, str] | None:
    header, secret = data.get("forward_auth_secret_header"), data.get("forward_auth_secret")
    if header and not secret:
        return "forward_auth_secret", "required when FORWARD_AUTH_SECRET_HEADER is set"
    if secret and not header:
        return "forward_auth_secret_header", "required when FORWARD_AUTH_SECRET is set"
    others = [d for d in data.get("auth_dialects", ()) if d != "nginx"]
    if others and not (header or data.get("trusted_proxy_cidrs")):
        return "auth_dialects", (f"{', '.join(others)} believed only from a trusted proxy: set TRUSTED_PROXY_CIDRS "
                                 "and/or FORWARD_AUTH_SECRET_HEADER")
    if others and data.get("strict_mode") is False:
        # Non-strict answers every check 200 and leaves the verdict to nginx reading mia-allowed;
        # these proxies let a 2xx through: every request would pass.
        return "strict_mode", (f"must be true with {', '.join(others)}: non-strict answers every check 200, "
                               "which these proxies let through")
    return None


def _redis_rules(data: dict[str, Any]) -> tuple[str, str] | None:
    if not data.get("redis_url") and not data.get("redis_hosts"):
        return "redis_hosts", "set REDIS_URL or REDIS_HOSTS"
    if any(not HOST_PORT.match(h) for h in data.get("redis_hosts", ())):
        return "redis_hosts", "each entry must be host:port"
    if data.get("redis_mode") == "sentinel":
        if not data.get("redis_master_name"):
            return "redis_master_name", "required when REDIS_MODE is sentinel"
        if not data.get("redis_hosts"):
            return "redis_hosts", "sentinel mode needs the sentinels' host:port list"
    return None


# Rules between settings, each reporting at most one problem (checked once every value is valid).
CROSS_RULES = (_key_rules, _login_rules, _dialect_rules, _redis_rules)


class _CrossChecked(Schema):
    @validates_schema
    def _between(self, data: dict[str, Any], **kwargs: Any) -> None:
        found = [problem for rule in CROSS_RULES if (problem := rule(data))]
        if found:
            raise ValidationError({key: [message] for key, message in found})


# The declared settings' validation: one marshmallow field per declaration, plus the rules above.
SettingsSchema: type[Schema] = type("SettingsSchema", (_CrossChecked,), {d.key: d.kind for d in DECLARATIONS})
