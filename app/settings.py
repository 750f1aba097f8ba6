"""Configuration: one config file (JSON or YAML) plus environment variables, validated once
into frozen settings. The only module that reads os.environ or the config file.

Environment variables override the file. Mia-Platform's variable names are accepted (SPEC §9).
A bad configuration raises ConfigError with one line per problem, naming the key; values of
secret keys never appear in messages.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .adapters.redis_store import RedisConfig
from .core.client_auth import ClientAuthConfig
from .core.clients import RegistrationRules
from .core.records import AUTH_METHODS
from .core.grants.client_credentials import ClientCredentialsConfig
from .core.policy.authorizer import SOURCES, AuthorizerConfig
from .core.policy.dialects import DIALECTS, DialectConfig
from .core.policy.external import ClaimMapping, ExternalIssuer
from .core.policy.resolvers import ApiKeys, UserinfoConfig
from .core.policy.routes import RouteFileError, RouteTable
from .core.errors import BadRequest
from .core.bff import MODES as BFF_MODES, BffConfig
from .core.providers import OIDC_TYPES, PROVIDER_TYPES, ProviderConfig, assertion_signer
from .core.redirects import origin, safe_redirect
from .core.tokens import ALLOWED_ALGORITHMS
from .core.sessions import AppConfig, CookieConfig
from .core.keys import (KeyLoadError, KeyPasswordError, KeySet, load_private_key,
                        load_verification_key)

NAME = "gatehouse"
VERSION = "0.1.0"
CONFIG_FILE_ENV = "GATEHOUSE_CONFIG"
# The server of the /auth process group (`gatehouse serve-check`): uWSGI (nginx `uwsgi_pass`) unless
# switched back to gunicorn (HTTP). bench/RESULTS.md "Servers of the /auth group" has the measurements.
CHECK_SERVERS = ("uwsgi", "gunicorn")
# Threads per uWSGI worker: a check waiting on a hung provider holds one thread, not the worker.
DEFAULT_CHECK_THREADS = 4

# key in the config file -> environment variable names (first is the documented one).
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "http_port": ("HTTP_PORT",),
    "log_level": ("LOG_LEVEL",),
    "decision_log": ("DECISION_LOG",),
    "service_prefix": ("SERVICE_PREFIX",),
    "delay_shutdown_seconds": ("DELAY_SHUTDOWN_SECONDS",),
    "check_server": ("CHECK_SERVER",),
    "check_threads": ("CHECK_THREADS",),
    "mongodb_url": ("MONGODB_URL", "CREDENTIALS_MONGODB_URL"),
    "mongodb_database": ("MONGODB_DATABASE", "MONGODB_CREDENTIALS_DATABASE_NAME"),
    "mongodb_timeout_ms": ("MONGODB_TIMEOUT_MS",),
    "redis_url": ("REDIS_URL",),
    "redis_hosts": ("REDIS_HOSTS",),
    "redis_mode": ("REDIS_MODE",),
    "redis_master_name": ("REDIS_MASTER_NAME",),
    "redis_username": ("REDIS_USERNAME",),
    "redis_password": ("REDIS_PASSWORD",),
    "redis_tls": ("REDIS_TLS",),
    "redis_tls_cacert": ("REDIS_TLS_CACERT",),
    "redis_timeout_seconds": ("REDIS_TIMEOUT_SECONDS",),
    "private_key_path": ("PRIVATE_RSA_KEY_FILE_PATH", "PRIVATE_KEY_FILE_PATH"),
    "private_key_password": ("PRIVATE_KEY_PASSWORD",),
    "private_key_id": ("PRIVATE_RSA_KEY_ID", "PRIVATE_KEY_ID"),
    "verification_keys": ("VERIFICATION_KEYS",),
    "client_id_hash_salt": ("CLIENT_ID_HASH_SALT",),
    "client_secret_hash_cost": ("CLIENT_SECRET_HASH_COST",),
    "jwt_issuer": ("JWT_ISSUER", "MIA_JWT_ISSUER"),
    "jwt_expires_in": ("JWT_EXPIRES_IN", "MIA_JWT_EXPIRES_IN"),
    "public_url": ("PUBLIC_URL",),
    "clock_skew_seconds": ("CLOCK_SKEW_SECONDS",),
    "max_assertion_lifetime_seconds": ("MAX_ASSERTION_LIFETIME_SECONDS",),
    "accepted_audiences": ("ACCEPTED_AUDIENCES",),
    "required_audience_in_token_request": ("REQUIRED_AUDIENCE_IN_TOKEN_REQUEST",),
    "openid_config_path": ("OPENID_CONFIG_PATH",),
    "scopes_supported": ("SCOPES_SUPPORTED",),
    "admin_token": ("ADMIN_TOKEN",),
    "open_registration": ("OPEN_REGISTRATION",),
    "open_registration_audiences": ("OPEN_REGISTRATION_AUDIENCES",),
    "open_registration_scopes": ("OPEN_REGISTRATION_SCOPES",),
    "open_registration_auth_methods": ("OPEN_REGISTRATION_AUTH_METHODS",),
    "auth_failure_limit": ("AUTH_FAILURE_LIMIT",),
    "auth_failure_window_seconds": ("AUTH_FAILURE_WINDOW_SECONDS",),
    "auth_failure_source_limit": ("AUTH_FAILURE_SOURCE_LIMIT",),
    "max_body_bytes": ("MAX_BODY_BYTES",),
    "metrics_dir": ("PROMETHEUS_MULTIPROC_DIR",),
    "trusted_proxy_count": ("TRUSTED_PROXY_COUNT",),
    "routes_file": ("ROUTES_FILE",),
    "routes_watch_file": ("ROUTES_WATCH_FILE",),
    "routes_reload_interval_seconds": ("ROUTES_RELOAD_INTERVAL_SECONDS",),
    "strict_mode": ("STRICT_MODE",),
    "user_properties_to_proxy": ("USER_PROPERTIES_TO_PROXY",),
    "api_product_scope_prefix": ("API_PRODUCT_SCOPE_PREFIX",),
    "max_header_value_bytes": ("MAX_HEADER_VALUE_BYTES",),
    "trust_mia_user_headers": ("TRUST_MIA_USER_HEADERS",),
    "credential_sources": ("CREDENTIAL_SOURCES",),
    "authorization_headers_to_proxy": ("AUTHORIZATION_HEADERS_TO_PROXY",),
    "auth_dialects": ("AUTH_DIALECTS",),
    "trusted_proxy_cidrs": ("TRUSTED_PROXY_CIDRS",),
    "forward_auth_secret_header": ("FORWARD_AUTH_SECRET_HEADER",),
    "forward_auth_secret": ("FORWARD_AUTH_SECRET",),
    "forward_auth_hosts": ("FORWARD_AUTH_HOSTS",),
    "forward_auth_login_url": ("FORWARD_AUTH_LOGIN_URL",),
    "issuers": (),  # config file only
    "jwks_cache_seconds": ("JWKS_CACHE_SECONDS",),
    "jwks_refetch_cooldown_seconds": ("JWKS_REFETCH_COOLDOWN_SECONDS",),
    "outbound_timeout_seconds": ("OUTBOUND_TIMEOUT_SECONDS",),
    "outbound_calls_per_worker": ("OUTBOUND_CALLS_PER_WORKER",),
    "userinfo_url": ("USERINFO_URL",),
    "headers_to_proxy": ("HEADERS_TO_PROXY",),
    "custom_user_id_key": ("CUSTOM_USER_ID_KEY",),
    "custom_permissions_key": ("CUSTOM_PERMISSIONS_KEY",),
    "userinfo_timeout_seconds": ("USERINFO_TIMEOUT_SECONDS",),
    "userinfo_cache_seconds": ("USERINFO_CACHE_SECONDS",),
    "api_keys": (),  # config file only: [{sha256, clientType}]
    "introspection": (),  # config file only: {endpoint, client_id, client_secret, max_cache_seconds}
    "apps": (),  # config file only: Mia's Authentication Service `apps`
    "default_app_id": ("DEFAULT_APP_ID",),
    "provider_token_key": ("PROVIDER_TOKEN_KEY",),
    "login_state_ttl_seconds": ("LOGIN_STATE_TTL_SECONDS",),
    "bff": (),  # config file only: the Backend-for-Frontend client
    "verified_token_cache_size": ("VERIFIED_TOKEN_CACHE_SIZE",),
    "verified_token_cache_seconds": ("VERIFIED_TOKEN_CACHE_SECONDS",),
    "revocation_check": ("REVOCATION_CHECK",),
    "revocation_sync_seconds": ("REVOCATION_SYNC_SECONDS",),
    "client_cache_seconds": ("CLIENT_CACHE_SECONDS",),
}
SECRET_KEYS = frozenset({"introspection", "apps", "bff", "provider_token_key", "redis_password", "private_key_password", "client_id_hash_salt",
                         "admin_token", "mongodb_url", "redis_url", "forward_auth_secret"})
# OpenID Connect Discovery 1.0 §3 fields a served configuration file must have.
REQUIRED_DISCOVERY_FIELDS = ("issuer", "token_endpoint", "jwks_uri", "response_types_supported",
                             "subject_types_supported", "id_token_signing_alg_values_supported")
HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class ConfigError(Exception):
    """Start-up refused; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class CommaList(fields.Field):
    """A list in the file, a comma-separated string in the environment."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",")]
            return [v for v in items if v]
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            return list(value)
        raise ValidationError("must be a list of non-empty strings or a comma-separated string")


class VerificationKeys(fields.Field):
    """Retired keys kept for verification: [{kid, path}] in the file, `kid=path,...` in env."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[tuple[str, str]]:
        if isinstance(value, str):
            pairs = [p.strip() for p in value.split(",") if p.strip()]
            if any("=" not in p for p in pairs):
                raise ValidationError("must be kid=path pairs separated by commas")
            return [tuple(p.split("=", 1)) for p in pairs]  # type: ignore[misc]
        if isinstance(value, list) and all(
                isinstance(v, dict) and set(v) == {"kid", "path"}
                and all(isinstance(x, str) and x for x in v.values()) for v in value):
            return [(v["kid"], v["path"]) for v in value]
        raise ValidationError("must be a list of {kid, path} objects")




def _url(schemes: set[str]) -> validate.Validator:
    names = "/".join(sorted(schemes))
    return validate.URL(schemes=schemes, require_tld=False, error=f"must be a URL ({names})")


class ClaimMappingSchema(Schema):
    id = fields.String(load_default="sub")
    groups = CommaList(load_default=lambda: ["groups", "roles"])
    scopes = CommaList(load_default=lambda: ["scope", "scp"])
    permissions = fields.String(load_default="permissions")
    clientType = fields.String(load_default="clientType")


class IssuerSchema(Schema):
    """A trusted external issuer of bearer JWTs (config file key `issuers`)."""

    issuer = fields.String(required=True, validate=validate.Length(min=1, max=512))
    audience = CommaList(required=True)
    algorithms = fields.List(fields.String(validate=validate.OneOf(ALLOWED_ALGORITHMS)),
                             load_default=lambda: ["RS256"], validate=validate.Length(min=1))
    jwks_uri = fields.String(load_default=None, validate=_url({"http", "https"}))
    discovery_url = fields.String(load_default=None, validate=_url({"http", "https"}))
    jwks = fields.Dict(load_default=None)
    leeway = fields.Integer(load_default=30, validate=validate.Range(0, 300))
    claims = fields.Nested(ClaimMappingSchema, load_default=lambda: ClaimMappingSchema().load({}))

    @validates_schema
    def _one_source(self, data: dict[str, Any], **kwargs: Any) -> None:
        if sum(data.get(k) is not None for k in ("jwks_uri", "discovery_url", "jwks")) != 1:
            raise ValidationError("give exactly one of jwks_uri, discovery_url, jwks", "jwks_uri")


class ApiKeySchema(Schema):
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 hex characters"))
    clientType = fields.String(required=True, validate=validate.Length(min=1, max=128))


class IntrospectionSchema(Schema):
    endpoint = fields.String(required=True, validate=_url({"http", "https"}))
    client_id = fields.String(required=True, validate=validate.Length(min=1))
    client_secret = fields.String(required=True, validate=validate.Length(min=1))
    max_cache_seconds = fields.Integer(load_default=300, validate=validate.Range(0, 3600))


class ScopeList(fields.Field):
    """A provider's scopes: a list, or one space-separated string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = value.split() if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and re.match(r"^[\x21-\x7e]{1,200}$", i) for i in items):
            raise ValidationError("must be a list of scopes or a space-separated string")
        return list(dict.fromkeys(items))


class CookieSchema(Schema):
    secure = fields.Boolean(load_default=True)
    sameSite = fields.String(load_default="Lax", validate=validate.OneOf(["Lax", "Strict", "None"]))
    domain = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9.\-]{1,253}$",
                                                                         error="must be a host name"))


class ProviderSchema(Schema):
    """One provider of an app (Mia's `apps.<app>.providers.<provider>`)."""

    type = fields.String(required=True, validate=validate.OneOf(PROVIDER_TYPES))
    clientId = fields.String(required=True, validate=validate.Length(min=1, max=512))
    clientSecret = fields.String(load_default=None)
    authUrl = fields.String(load_default=None, validate=_url({"http", "https"}))
    tokenUrl = fields.String(load_default=None, validate=_url({"http", "https"}))
    userInfoUrl = fields.String(load_default=None, validate=_url({"http", "https"}))
    logoutUrl = fields.String(load_default=None, validate=_url({"http", "https"}))
    baseUrl = fields.String(load_default=None, validate=_url({"http", "https"}))
    discoveryUrl = fields.String(load_default=None, validate=_url({"http", "https"}))
    userSettingsURL = fields.String(load_default=None)  # Mia's, shown by its login site; unused
    scope = ScopeList(load_default=list)
    order = fields.Integer(load_default=0)
    label = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    tokenEndpointAuthMethod = fields.String(load_default="client_secret_basic", validate=validate.OneOf(
        ["client_secret_basic", "client_secret_post", "private_key_jwt"]))
    # OIDC: a userinfo endpoint that refuses the access token -> the verified ID token's claims
    idTokenFallback = fields.Boolean(load_default=True)

    @validates_schema
    def _endpoints(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["type"] in OIDC_TYPES and not (data.get("discoveryUrl") or data.get("baseUrl")):
            raise ValidationError(f"an {data['type']} provider needs discoveryUrl or baseUrl", "discoveryUrl")
        if data["type"] == "generic":
            missing = [k for k in ("authUrl", "tokenUrl", "userInfoUrl") if not data.get(k)]
            if missing:
                raise ValidationError("a generic provider needs authUrl, tokenUrl and userInfoUrl", missing[0])


class AppSchema(Schema):
    """One app (Mia's `apps.<app>`)."""

    providers = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9._\-]{1,64}$",
                                                                        error="must be 1-64 of A-Z a-z 0-9 . _ -")),
                            values=fields.Nested(ProviderSchema), required=True, validate=validate.Length(min=1))
    redirectUrl = fields.String(required=True, validate=_url({"http", "https"}))
    realm = fields.String(load_default="", validate=validate.Length(max=200))
    issuer = fields.String(load_default=None, validate=validate.Length(min=1, max=512))
    defaultGroups = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=list)
    isWebsiteApp = fields.Boolean(load_default=False)
    allowedRedirectUrlsOnSuccessfulLogin = fields.List(fields.String(validate=_url({"http", "https"})),
                                                       load_default=list)
    defaultRedirectUrlOnSuccessfulLogin = fields.String(load_default="/")
    cookie = fields.Nested(CookieSchema, load_default=lambda: CookieSchema().load({}))
    sessionExpiresIn = fields.Integer(load_default=3600, validate=validate.Range(60, 7 * 86400))
    refreshTokenExpiresIn = fields.Integer(load_default=30 * 86400, validate=validate.Range(300, 365 * 86400))

    @validates_schema
    def _redirect(self, data: dict[str, Any], **kwargs: Any) -> None:
        try:
            safe_redirect(data.get("defaultRedirectUrlOnSuccessfulLogin"),
                          tuple(data.get("allowedRedirectUrlsOnSuccessfulLogin") or ()))
        except BadRequest as exc:
            raise ValidationError(exc.description, "defaultRedirectUrlOnSuccessfulLogin") from exc


class BffSchema(Schema):
    """The Backend-for-Frontend client (SPEC §2.3, §5): one OIDC provider, Gatehouse as a
    confidential client."""

    mode = fields.String(load_default="bff", validate=validate.OneOf(BFF_MODES))
    provider = fields.Nested(ProviderSchema, required=True)
    redirectUrl = fields.String(required=True, validate=_url({"http", "https"}))
    postLogoutRedirectUrl = fields.String(load_default=None, validate=_url({"http", "https"}))
    defaultRedirectUrl = fields.String(load_default="/")
    allowedRedirectUrls = fields.List(fields.String(validate=_url({"http", "https"})), load_default=list)
    allowedOrigins = fields.List(fields.String(validate=validate.Regexp(
        r"^https?://[A-Za-z0-9.\-\[\]:]+$", error="must be an origin like https://app.example.com")), load_default=list)
    csrfHeader = fields.String(load_default="X-CSRF", validate=validate.Regexp(
        r"^[A-Za-z0-9\-]{1,64}$", error="must be a header name"))
    cookieName = fields.String(load_default="__Host-gatehouse", validate=validate.Regexp(
        r"^__Host-[A-Za-z0-9_\-]{1,64}$", error="must start with __Host- (then A-Z a-z 0-9 _ -)"))
    sessionLifetimeSeconds = fields.Integer(load_default=8 * 3600, validate=validate.Range(300, 30 * 86400))
    refreshMarginSeconds = fields.Integer(load_default=30, validate=validate.Range(0, 3600))
    refreshWaitSeconds = fields.Float(load_default=10.0, validate=validate.Range(0.5, 60))
    groupsClaim = fields.String(load_default="groups", validate=validate.Length(min=1, max=200))

    @validates_schema
    def _client(self, data: dict[str, Any], **kwargs: Any) -> None:
        provider = data["provider"]
        if provider["type"] not in OIDC_TYPES:
            raise ValidationError("the BFF needs an OpenID Connect provider (" + ", ".join(OIDC_TYPES) + ")",
                                  "provider")
        if provider["tokenEndpointAuthMethod"] != "private_key_jwt" and not provider.get("clientSecret"):
            raise ValidationError("a confidential client needs clientSecret, or tokenEndpointAuthMethod "
                                  "private_key_jwt", "provider")
        try:
            safe_redirect(data.get("defaultRedirectUrl"), tuple(data.get("allowedRedirectUrls") or ()))
        except BadRequest as exc:
            raise ValidationError(exc.description, "defaultRedirectUrl") from exc


def _fernet_key(value: str) -> None:
    try:
        ok = len(value) == 44 and len(base64.urlsafe_b64decode(value.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError):
        ok = False
    if not ok:
        raise ValidationError("must be a Fernet key (44 characters of URL-safe base64; "
                              "`gatehouse keys provider-token-key` makes one)")


def _cidrs(value: list[str]) -> None:
    bad = []
    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            bad.append(entry)
    if bad:
        raise ValidationError(f"not an address or CIDR: {', '.join(bad)}")


def _hosts(value: list[str]) -> None:
    bad = [h for h in value if not re.match(r"^(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$", h)]
    if bad:
        raise ValidationError(f"each entry must be host or host:port, not {', '.join(bad)}")


class SettingsSchema(Schema):
    http_port = fields.Integer(load_default=3000, validate=validate.Range(1, 65535))
    log_level = fields.String(load_default="info", validate=validate.OneOf(
        ["trace", "debug", "info", "warn", "warning", "error", "fatal", "silent"]))
    decision_log = fields.String(load_default="refusals", validate=validate.OneOf(["all", "refusals", "off"]))
    service_prefix = fields.String(load_default="", validate=validate.Regexp(
        r"^(/[A-Za-z0-9._~\-]+)*$", error="must be empty or like /path/segment, no trailing slash"))
    delay_shutdown_seconds = fields.Integer(load_default=10, validate=validate.Range(0, 300))
    check_server = fields.String(load_default="uwsgi", validate=validate.OneOf(CHECK_SERVERS))
    check_threads = fields.Integer(load_default=DEFAULT_CHECK_THREADS, validate=validate.Range(1, 64))
    mongodb_url = fields.String(required=True, validate=validate.Regexp(
        r"^mongodb(\+srv)?://", error="must start with mongodb:// or mongodb+srv://"))
    mongodb_database = fields.String(load_default=None, validate=validate.Regexp(
        r"^[A-Za-z0-9_\-]{1,63}$", error="must be a database name"))
    mongodb_timeout_ms = fields.Integer(load_default=2000, validate=validate.Range(100, 60000))
    redis_url = fields.String(load_default=None, validate=validate.Regexp(
        r"^(redis|rediss|unix)://", error="must start with redis://, rediss:// or unix://"))
    redis_hosts = CommaList(load_default=list)
    redis_mode = fields.String(load_default="normal", validate=validate.OneOf(["normal", "sentinel"]))
    redis_master_name = fields.String(load_default=None)
    redis_username = fields.String(load_default=None)
    redis_password = fields.String(load_default=None)
    redis_tls = fields.Boolean(load_default=False)
    redis_tls_cacert = fields.String(load_default=None)
    redis_timeout_seconds = fields.Float(load_default=1.0, validate=validate.Range(0.05, 30))
    private_key_path = fields.String(required=True)
    private_key_password = fields.String(load_default=None)
    private_key_id = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9._\-]{1,128}$", error="must be 1-128 characters of A-Z a-z 0-9 . _ -"))
    verification_keys = VerificationKeys(load_default=list)
    client_id_hash_salt = fields.String(required=True, validate=validate.Length(
        min=16, error="must be at least 16 characters"))
    client_secret_hash_cost = fields.Integer(load_default=10, validate=validate.Range(4, 16))
    jwt_issuer = fields.String(required=True, validate=validate.Length(min=1, max=512))
    jwt_expires_in = fields.Integer(load_default=3600, validate=validate.Range(30, 86400))
    public_url = fields.String(load_default=None, validate=_url({"http", "https"}))
    clock_skew_seconds = fields.Integer(load_default=30, validate=validate.Range(0, 300))
    max_assertion_lifetime_seconds = fields.Integer(load_default=300, validate=validate.Range(30, 3600))
    accepted_audiences = CommaList(load_default=list)
    required_audience_in_token_request = fields.Boolean(load_default=False)
    openid_config_path = fields.String(load_default=None)
    scopes_supported = CommaList(load_default=list)
    admin_token = fields.String(load_default=None, validate=validate.Length(
        min=32, error="must be at least 32 characters"))
    open_registration = fields.Boolean(load_default=False)
    # What a registrant without an admin token may ask for (never permissions or custom claims).
    open_registration_audiences = CommaList(load_default=list)
    open_registration_scopes = CommaList(load_default=list)
    open_registration_auth_methods = CommaList(load_default=lambda: list(AUTH_METHODS), validate=[
        validate.ContainsOnly(AUTH_METHODS, error="each entry must be one of " + ", ".join(AUTH_METHODS)),
        validate.Length(min=1)])
    auth_failure_limit = fields.Integer(load_default=10, validate=validate.Range(1, 100000))
    auth_failure_window_seconds = fields.Integer(load_default=300, validate=validate.Range(1, 86400))
    auth_failure_source_limit = fields.Integer(load_default=50, validate=validate.Range(1, 1000000))
    max_body_bytes = fields.Integer(load_default=16384, validate=validate.Range(1024, 10 * 1024 * 1024))
    metrics_dir = fields.String(load_default=None)
    trusted_proxy_count = fields.Integer(load_default=0, validate=validate.Range(0, 5))
    routes_file = fields.String(load_default=None)
    routes_watch_file = fields.String(load_default=None)
    routes_reload_interval_seconds = fields.Float(load_default=1.0, validate=validate.Range(0, 3600))
    strict_mode = fields.Boolean(load_default=True)
    user_properties_to_proxy = CommaList(load_default=list)
    api_product_scope_prefix = fields.String(load_default="", validate=validate.Length(max=256))
    max_header_value_bytes = fields.Integer(load_default=4096, validate=validate.Range(64, 65536))
    trust_mia_user_headers = fields.Boolean(load_default=False)
    credential_sources = CommaList(load_default=lambda: list(SOURCES), validate=[
        validate.ContainsOnly(SOURCES, error="each entry must be one of " + ", ".join(SOURCES)),
        validate.Length(min=1)])
    authorization_headers_to_proxy = CommaList(load_default=list)
    auth_dialects = CommaList(load_default=lambda: ["nginx"], validate=[
        validate.ContainsOnly(DIALECTS, error="each entry must be one of " + ", ".join(DIALECTS)),
        validate.Length(min=1)])
    trusted_proxy_cidrs = CommaList(load_default=list, validate=_cidrs)
    forward_auth_secret_header = fields.String(load_default=None, validate=validate.Regexp(
        r"^[A-Za-z0-9-]{1,64}$", error="must be a header name (1-64 of A-Z a-z 0-9 -)"))
    forward_auth_secret = fields.String(load_default=None, validate=validate.Length(min=16, max=512))
    forward_auth_hosts = CommaList(load_default=list, validate=_hosts)
    # Where the check sends a browser in the Traefik/Caddy/Envoy dialects (default: the login page
    # under SERVICE_PREFIX on the protected host itself).
    forward_auth_login_url = fields.String(load_default=None, validate=validate.Regexp(
        r"^(/(?![/\\])|https?://[A-Za-z0-9.\-\[\]:]+/)[\x21-\x7e]{0,2000}$",
        error="must be a path (/web-login) or an http(s) URL (https://login.example.com/web-login)"))
    issuers = fields.List(fields.Nested(IssuerSchema), load_default=list)
    jwks_cache_seconds = fields.Integer(load_default=300, validate=validate.Range(1, 86400))
    jwks_refetch_cooldown_seconds = fields.Integer(load_default=30, validate=validate.Range(0, 3600))
    outbound_timeout_seconds = fields.Float(load_default=5.0, validate=validate.Range(0.1, 60))
    # 0: no limit (gunicorn gevent: a waiting call holds a greenlet); `gatehouse serve-check` under
    # uWSGI sets CHECK_THREADS - 1 unless configured, so one thread per worker stays for other checks
    outbound_calls_per_worker = fields.Integer(load_default=0, validate=validate.Range(0, 10000))
    userinfo_url = fields.String(load_default=None, validate=_url({"http", "https"}))
    headers_to_proxy = CommaList(load_default=lambda: ["authorization"])
    custom_user_id_key = fields.String(load_default="userID", validate=validate.Length(min=1))
    custom_permissions_key = fields.String(load_default="permissions", validate=validate.Length(min=1))
    userinfo_timeout_seconds = fields.Float(load_default=5.0, validate=validate.Range(0.1, 60))
    userinfo_cache_seconds = fields.Integer(load_default=0, validate=validate.Range(0, 3600))
    api_keys = fields.List(fields.Nested(ApiKeySchema), load_default=list)
    introspection = fields.Nested(IntrospectionSchema, load_default=None)
    apps = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9._\-]{1,64}$",
                                                                   error="must be 1-64 of A-Z a-z 0-9 . _ -")),
                       values=fields.Nested(AppSchema), load_default=dict)
    default_app_id = fields.String(load_default=None)
    provider_token_key = fields.String(load_default=None, validate=_fernet_key)
    login_state_ttl_seconds = fields.Integer(load_default=120, validate=validate.Range(30, 900))
    bff = fields.Nested(BffSchema, load_default=None)
    verified_token_cache_size = fields.Integer(load_default=10000, validate=validate.Range(0, 1_000_000))
    verified_token_cache_seconds = fields.Integer(load_default=300, validate=validate.Range(0, 86400))
    revocation_check = fields.Boolean(load_default=True)
    revocation_sync_seconds = fields.Float(load_default=1.0, validate=validate.Range(0, 60))
    client_cache_seconds = fields.Float(load_default=10.0, validate=validate.Range(0, 300))

    @validates_schema
    def _login(self, data: dict[str, Any], **kwargs: Any) -> None:
        apps = data.get("apps") or {}
        if (apps or data.get("bff")) and not data.get("provider_token_key"):
            raise ValidationError("required when apps or bff are configured (provider tokens are sealed with it)",
                                  "provider_token_key")
        if data.get("default_app_id") and data["default_app_id"] not in apps:
            raise ValidationError("must name one of the configured apps", "default_app_id")

    @validates_schema
    def _dialects(self, data: dict[str, Any], **kwargs: Any) -> None:
        header, secret = data.get("forward_auth_secret_header"), data.get("forward_auth_secret")
        if header and not secret:
            raise ValidationError("required when FORWARD_AUTH_SECRET_HEADER is set", "forward_auth_secret")
        if secret and not header:
            raise ValidationError("required when FORWARD_AUTH_SECRET is set", "forward_auth_secret_header")
        others = [d for d in data.get("auth_dialects", ()) if d != "nginx"]
        if others and not (header or data.get("trusted_proxy_cidrs")):
            raise ValidationError(f"{', '.join(others)} believed only from a trusted proxy: set TRUSTED_PROXY_CIDRS "
                                  "and/or FORWARD_AUTH_SECRET_HEADER", "auth_dialects")

    @validates_schema
    def _redis(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("redis_url") and not data.get("redis_hosts"):
            raise ValidationError("set REDIS_URL or REDIS_HOSTS", "redis_hosts")
        bad = [h for h in data.get("redis_hosts", []) if not HOST_PORT.match(h)]
        if bad:
            raise ValidationError("each entry must be host:port", "redis_hosts")
        if data.get("redis_mode") == "sentinel":
            if not data.get("redis_master_name"):
                raise ValidationError("required when REDIS_MODE is sentinel", "redis_master_name")
            if not data.get("redis_hosts"):
                raise ValidationError("sentinel mode needs the sentinels' host:port list",
                                      "redis_hosts")


@dataclass(frozen=True)
class Settings:
    """Validated, frozen configuration plus what was loaded from files (keys, discovery)."""

    http_port: int
    log_level: str
    decision_log: str
    service_prefix: str
    delay_shutdown_seconds: int
    check_server: str
    check_threads: int
    mongodb_url: str = field(repr=False)
    mongodb_database: str | None
    mongodb_timeout_ms: int
    redis: RedisConfig = field(repr=False)
    keys: KeySet = field(repr=False)
    client_id_hash_salt: bytes = field(repr=False)
    client_secret_hash_cost: int
    jwt_issuer: str
    jwt_expires_in: int
    public_url: str
    clock_skew_seconds: int
    max_assertion_lifetime_seconds: int
    accepted_audiences: tuple[str, ...]
    required_audience_in_token_request: bool
    discovery_document: dict[str, Any] | None
    scopes_supported: tuple[str, ...]
    admin_token: str | None = field(repr=False)
    open_registration: bool
    open_registration_rules: RegistrationRules
    auth_failure_limit: int
    auth_failure_window_seconds: int
    auth_failure_source_limit: int
    max_body_bytes: int
    metrics_dir: str | None
    trusted_proxy_count: int
    routes: RouteTable = field(repr=False)
    routes_file: str | None
    routes_watch_file: str | None
    routes_reload_interval_seconds: float
    authorizer: AuthorizerConfig
    issuers: tuple[ExternalIssuer, ...]
    jwks_cache_seconds: int
    jwks_refetch_cooldown_seconds: int
    outbound_timeout_seconds: float
    outbound_calls_per_worker: int
    userinfo_url: str | None
    userinfo: UserinfoConfig
    userinfo_timeout_seconds: float
    api_keys: ApiKeys
    introspection: dict[str, Any] | None = field(repr=False)
    apps: dict[str, AppConfig] = field(default_factory=dict, repr=False)
    default_app_id: str | None = None
    provider_token_key: bytes | None = field(default=None, repr=False)
    login_state_ttl_seconds: int = 120
    bff: BffConfig | None = field(default=None, repr=False)
    verified_token_cache_size: int = 10000
    verified_token_cache_seconds: int = 300
    revocation_check: bool = True
    revocation_sync_seconds: float = 1.0
    client_cache_seconds: float = 10.0

    def url(self, path: str) -> str:
        """Public URL of one of our endpoints (under SERVICE_PREFIX)."""
        return f"{self.public_url}{self.service_prefix}{path}"

    @property
    def token_endpoint(self) -> str:
        return self.url("/oauth/token")

    def client_auth(self) -> ClientAuthConfig:
        return ClientAuthConfig(
            issuer=self.jwt_issuer, token_endpoint=self.token_endpoint,
            id_hash_salt=self.client_id_hash_salt, secret_hash_cost=self.client_secret_hash_cost,
            clock_skew=self.clock_skew_seconds,
            max_assertion_lifetime=self.max_assertion_lifetime_seconds,
            failure_limit=self.auth_failure_limit, failure_window=self.auth_failure_window_seconds,
            source_failure_limit=self.auth_failure_source_limit)

    def client_credentials(self) -> ClientCredentialsConfig:
        return ClientCredentialsConfig(
            issuer=self.jwt_issuer, expires_in=self.jwt_expires_in,
            accepted_audiences=self.accepted_audiences,
            require_audience=self.required_audience_in_token_request)


def _read_file(path: str) -> dict[str, Any]:
    label = f"{CONFIG_FILE_ENV} ({path})"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read the file ({exc.strerror})"]) from exc
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{label}: not valid JSON at line {exc.lineno} column {exc.colno}"]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{label}: not valid YAML{where}"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{label}: must hold a mapping of settings"])
    return data


# Settings that name files. In the config file a relative path is relative to the file's own
# directory (/etc/gatehouse/gatehouse.yaml may say `private_key_path: signing.pem`); in the
# environment, to the working directory.
FILE_PATH_KEYS = ("private_key_path", "routes_file", "routes_watch_file", "openid_config_path", "redis_tls_cacert")


def _beside(base: Path, value: Any) -> Any:
    if isinstance(value, str) and value and not Path(value).is_absolute():
        return str(base / value)
    return value


def read_config_file(path: str) -> dict[str, Any]:
    """A config file's settings, with relative file paths made absolute from its directory
    (ConfigError when it cannot be read or parsed)."""
    data = _read_file(path)
    base = Path(path).resolve().parent
    for key in FILE_PATH_KEYS:
        if key in data:
            data[key] = _beside(base, data[key])
    keys = data.get("verification_keys")
    if isinstance(keys, list):
        data["verification_keys"] = [{**k, "path": _beside(base, k["path"])} if isinstance(k, dict) and "path" in k
                                     else k for k in keys]
    elif isinstance(keys, str):
        data["verification_keys"] = ",".join(
            f"{kid}={_beside(base, where)}" if sep else item
            for item in keys.split(",") for kid, sep, where in [item.strip().partition("=")])
    return data


def _labels(file_path: str | None, file_data: Mapping[str, Any],
            env_used: Mapping[str, str]) -> dict[str, str]:
    labels = {}
    for key, names in ENV_NAMES.items():
        if key in env_used:
            labels[key] = env_used[key]
        elif key in file_data and file_path:
            labels[key] = f"{file_path}: {key}"
        else:
            labels[key] = f"{names[0]} ({key})" if names else f"{CONFIG_FILE_ENV}: {key}"
    return labels


def _flatten(messages: Any, where: str = "") -> list[str]:
    """marshmallow's nested messages as lines; nested keys keep their path (issuers[0].leeway)."""
    if isinstance(messages, dict):
        # marshmallow's Dict fields nest a value's errors under "value": keep the key's path only.
        return [m for k, v in messages.items()
                for m in _flatten(v, where if k == "value" else f"{where}[{k}]" if isinstance(k, int) else f"{where}.{k}")]
    if isinstance(messages, list):
        return [m for v in messages for m in _flatten(v, where)]
    return [f"{where}: {messages}" if where else str(messages)]


def _load_keys(data: dict[str, Any], labels: dict[str, str]) -> tuple[KeySet | None, list[str]]:
    problems: list[str] = []
    password = data.get("private_key_password")
    try:
        pem = Path(data["private_key_path"]).read_bytes()
        active = load_private_key(pem, password.encode() if password else None,
                                  data["private_key_id"])
    except OSError as exc:
        return None, [f"{labels['private_key_path']}: cannot read the key file ({exc.strerror})"]
    except KeyLoadError as exc:
        label = labels["private_key_password" if isinstance(exc, KeyPasswordError) else "private_key_path"]
        return None, [f"{label}: {exc}"]
    retired = []
    for kid, path in data.get("verification_keys", []):
        try:
            retired.append(load_verification_key(Path(path).read_bytes(), kid))
        except OSError as exc:
            problems.append(f"{labels['verification_keys']}: key {kid}: cannot read {path} ({exc.strerror})")
        except KeyLoadError as exc:
            problems.append(f"{labels['verification_keys']}: key {kid}: {exc}")
    if problems:
        return None, problems
    try:
        return KeySet(active, tuple(retired)), []
    except KeyLoadError as exc:
        return None, [f"{labels['verification_keys']}: {exc}"]


def _load_discovery(path: str | None, label: str) -> tuple[dict[str, Any] | None, list[str]]:
    if not path:
        return None, []
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [f"{label}: cannot read {path} ({exc.strerror})"]
    except json.JSONDecodeError as exc:
        return None, [f"{label}: {path} is not valid JSON (line {exc.lineno})"]
    if not isinstance(doc, dict):
        return None, [f"{label}: {path} must hold a JSON object"]
    missing = [f for f in REQUIRED_DISCOVERY_FIELDS if f not in doc]
    if missing:
        return None, [f"{label}: {path} lacks required fields: {', '.join(missing)}"]
    return doc, []


def process_environ() -> dict[str, str]:
    """A copy of the process environment, for the CLI and the dev runner."""
    return dict(os.environ)


def load_route_file(path: str) -> RouteTable:
    """Read and compile a route file; RouteFileError lists every problem (used for reloads)."""
    table, problems = _load_routes(path, "ROUTES_FILE")
    if problems:
        raise RouteFileError(problems)
    return table


def _load_routes(path: str | None, label: str) -> tuple[RouteTable, list[str]]:
    if not path:
        return RouteTable({}), []
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        return RouteTable({}), [f"{label}: cannot read {path} ({exc.strerror})"]
    except json.JSONDecodeError as exc:
        return RouteTable({}), [f"{label}: {path} is not valid JSON (line {exc.lineno} column {exc.colno})"]
    try:
        return RouteTable.load(document), []
    except RouteFileError as exc:
        return RouteTable({}), [f"{label}: {problem}" for problem in exc.problems]


def _raw(env: Mapping[str, str]) -> tuple[str | None, dict[str, Any], dict[str, Any], dict[str, str]]:
    """(config file path, its data, the values by key with the environment laid over the file,
    the environment variable each key came from)."""
    file_path = env.get(CONFIG_FILE_ENV) or None
    file_data = read_config_file(file_path) if file_path else {}
    raw: dict[str, Any] = dict(file_data)
    env_used: dict[str, str] = {}
    for key, names in ENV_NAMES.items():
        for name in names:
            if env.get(name, "") != "":
                raw[key], env_used[key] = env[name], name
                break
    return file_path, file_data, raw, env_used


def load_setting(key: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting, validated as load_settings does, for commands that need no stores
    (`gatehouse nginx-config`): ConfigError names its variable or file key."""
    env = os.environ if environ is None else environ
    file_path, file_data, raw, env_used = _raw(env)
    field_ = SettingsSchema().fields[key]
    if key not in raw:
        return field_.load_default
    try:
        return field_.deserialize(raw[key], key, raw)
    except ValidationError as exc:
        label = _labels(file_path, file_data, env_used).get(key, key)
        raise ConfigError([f"{label}: {m}" for m in _flatten(exc.messages)]) from None


def load_settings(environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build the settings from GATEHOUSE_CONFIG + environment (+ overrides, for tests)."""
    env = os.environ if environ is None else environ
    file_path, file_data, raw, env_used = _raw(env)
    unknown = sorted(k for k in file_data if k not in ENV_NAMES)
    raw.update(overrides or {})
    labels = _labels(file_path, file_data, env_used)
    problems = [f"{file_path}: {k}: unknown setting" for k in unknown]
    for k in unknown:
        raw.pop(k)
    try:
        data = SettingsSchema().load(raw)
    except ValidationError as exc:
        for key, messages in sorted(exc.normalized_messages().items()):
            label = labels.get(key, key)
            problems.extend(f"{label}{m if m[:1] in '[.' else ': ' + m}" for m in _flatten(messages))
        raise ConfigError(problems) from None
    keys, key_problems = _load_keys(data, labels)
    discovery, discovery_problems = _load_discovery(data["openid_config_path"],
                                                    labels["openid_config_path"])
    routes, route_problems = _load_routes(data["routes_file"], labels["routes_file"])
    problems += key_problems + discovery_problems + route_problems
    if data["redis_tls_cacert"] and not Path(data["redis_tls_cacert"]).is_file():
        problems.append(f"{labels['redis_tls_cacert']}: no such file")
    if problems:
        raise ConfigError(problems)
    assert keys is not None
    hosts = tuple((h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in data["redis_hosts"])
    public_url = data["public_url"] or (
        data["jwt_issuer"] if re.match(r"^https?://", data["jwt_issuer"])
        else f"http://127.0.0.1:{data['http_port']}")
    return Settings(
        http_port=data["http_port"], log_level=data["log_level"], decision_log=data["decision_log"],
        service_prefix=data["service_prefix"],
        delay_shutdown_seconds=data["delay_shutdown_seconds"],
        check_server=data["check_server"], check_threads=data["check_threads"],
        mongodb_url=data["mongodb_url"], mongodb_database=data["mongodb_database"],
        mongodb_timeout_ms=data["mongodb_timeout_ms"],
        redis=RedisConfig(mode=data["redis_mode"], url=data["redis_url"], hosts=hosts,
                          master_name=data["redis_master_name"],
                          username=data["redis_username"], password=data["redis_password"],
                          tls=data["redis_tls"], tls_cacert=data["redis_tls_cacert"],
                          timeout_seconds=data["redis_timeout_seconds"]),
        keys=keys,
        client_id_hash_salt=data["client_id_hash_salt"].encode("utf-8"),
        client_secret_hash_cost=data["client_secret_hash_cost"],
        jwt_issuer=data["jwt_issuer"], jwt_expires_in=data["jwt_expires_in"],
        public_url=public_url.rstrip("/"),
        clock_skew_seconds=data["clock_skew_seconds"],
        max_assertion_lifetime_seconds=data["max_assertion_lifetime_seconds"],
        accepted_audiences=tuple(data["accepted_audiences"]),
        required_audience_in_token_request=data["required_audience_in_token_request"],
        discovery_document=discovery,
        scopes_supported=tuple(data["scopes_supported"]),
        admin_token=data["admin_token"], open_registration=data["open_registration"],
        open_registration_rules=RegistrationRules(
            audiences=tuple(data["open_registration_audiences"]), scopes=tuple(data["open_registration_scopes"]),
            auth_methods=tuple(dict.fromkeys(data["open_registration_auth_methods"]))),
        auth_failure_limit=data["auth_failure_limit"],
        auth_failure_window_seconds=data["auth_failure_window_seconds"],
        auth_failure_source_limit=data["auth_failure_source_limit"],
        max_body_bytes=data["max_body_bytes"], metrics_dir=data["metrics_dir"],
        trusted_proxy_count=data["trusted_proxy_count"],
        routes=routes,
        routes_file=data["routes_file"],
        routes_watch_file=data["routes_watch_file"] or data["routes_file"],
        routes_reload_interval_seconds=data["routes_reload_interval_seconds"],
        authorizer=AuthorizerConfig(strict=data["strict_mode"],
                                    scope_prefix=data["api_product_scope_prefix"],
                                    user_properties=tuple(data["user_properties_to_proxy"]),
                                    header_limit=data["max_header_value_bytes"],
                                    trust_user_headers=data["trust_mia_user_headers"],
                                    credential_headers=tuple(data["authorization_headers_to_proxy"]),
                                    sources=tuple(dict.fromkeys(data["credential_sources"])),
                                    dialects=DialectConfig(
                                        dialects=tuple(dict.fromkeys(data["auth_dialects"])),
                                        trusted_proxies=tuple(ipaddress.ip_network(c, strict=False)
                                                              for c in data["trusted_proxy_cidrs"]),
                                        secret_header=data["forward_auth_secret_header"],
                                        secret=data["forward_auth_secret"],
                                        hosts=tuple(h.lower() for h in data["forward_auth_hosts"]),
                                        login_url=data["forward_auth_login_url"]
                                        or f"{data['service_prefix']}/web-login")),
        issuers=tuple(_issuer(i) for i in data["issuers"]),
        jwks_cache_seconds=data["jwks_cache_seconds"],
        jwks_refetch_cooldown_seconds=data["jwks_refetch_cooldown_seconds"],
        outbound_timeout_seconds=data["outbound_timeout_seconds"],
        outbound_calls_per_worker=data["outbound_calls_per_worker"],
        userinfo_url=data["userinfo_url"],
        userinfo=UserinfoConfig(headers_to_proxy=tuple(h.lower() for h in data["headers_to_proxy"]),
                                user_id_key=data["custom_user_id_key"],
                                permissions_key=data["custom_permissions_key"],
                                cache_seconds=data["userinfo_cache_seconds"]),
        userinfo_timeout_seconds=data["userinfo_timeout_seconds"],
        api_keys=ApiKeys({k["sha256"]: k["clientType"] for k in data["api_keys"]}),
        introspection=data["introspection"],
        apps={app_id: _app(app_id, app, data["jwt_issuer"], keys) for app_id, app in data["apps"].items()},
        default_app_id=data["default_app_id"] or (next(iter(data["apps"])) if len(data["apps"]) == 1 else None),
        provider_token_key=data["provider_token_key"].encode("ascii") if data["provider_token_key"] else None,
        login_state_ttl_seconds=data["login_state_ttl_seconds"],
        bff=_bff(data["bff"], keys, data["service_prefix"], data["login_state_ttl_seconds"],
                 data["outbound_timeout_seconds"]) if data["bff"] else None,
        verified_token_cache_size=data["verified_token_cache_size"],
        verified_token_cache_seconds=data["verified_token_cache_seconds"],
        revocation_check=data["revocation_check"],
        revocation_sync_seconds=data["revocation_sync_seconds"],
        client_cache_seconds=data["client_cache_seconds"],
    )


def _issuer(data: dict[str, Any]) -> ExternalIssuer:
    c = data["claims"]
    return ExternalIssuer(
        issuer=data["issuer"], audiences=tuple(data["audience"]), algorithms=tuple(data["algorithms"]),
        jwks_uri=data["jwks_uri"], discovery_url=data["discovery_url"], inline_jwks=data["jwks"],
        leeway=data["leeway"],
        claims=ClaimMapping(id=c["id"], groups=tuple(c["groups"]), scopes=tuple(c["scopes"]),
                            permissions=c["permissions"], client_type=c["clientType"]))


def _provider(pid: str, p: dict[str, Any], keys: KeySet) -> ProviderConfig:
    return ProviderConfig(
        id=pid, type=p["type"], client_id=p["clientId"], client_secret=p["clientSecret"],
        auth_url=p["authUrl"], token_url=p["tokenUrl"], userinfo_url=p["userInfoUrl"],
        logout_url=p["logoutUrl"], base_url=p["baseUrl"], discovery_url=p["discoveryUrl"],
        scope=tuple(p["scope"]), order=p["order"], label=p["label"],
        token_auth_method=p["tokenEndpointAuthMethod"], id_token_fallback=p["idTokenFallback"],
        assertion=assertion_signer(keys, p["clientId"]) if p["tokenEndpointAuthMethod"] == "private_key_jwt" else None)


def _bff(data: dict[str, Any], keys: KeySet, prefix: str, state_ttl: int, outbound_timeout: float) -> BffConfig:
    app_origin = origin(data["redirectUrl"])
    return BffConfig(
        mode=data["mode"], provider=_provider("bff", data["provider"], keys), redirect_url=data["redirectUrl"],
        post_logout_redirect_url=data["postLogoutRedirectUrl"] or f"{app_origin}{prefix}/bff/logout/callback",
        cookie_name=data["cookieName"], default_redirect=data["defaultRedirectUrl"],
        allowed_redirects=tuple(data["allowedRedirectUrls"]),
        allowed_origins=tuple(o.lower() for o in data["allowedOrigins"]), csrf_header=data["csrfHeader"],
        session_lifetime=data["sessionLifetimeSeconds"], refresh_margin=data["refreshMarginSeconds"],
        refresh_wait_seconds=data["refreshWaitSeconds"], state_ttl=state_ttl, groups_claim=data["groupsClaim"],
        # discovery + the token call, each up to connect and read timeouts, with room to spare
        refresh_lock_seconds=data["refreshWaitSeconds"] + 4 * outbound_timeout + 5)


def _app(app_id: str, data: dict[str, Any], default_issuer: str, keys: KeySet) -> AppConfig:
    cookie = data["cookie"]
    return AppConfig(
        id=app_id,
        providers={pid: _provider(pid, p, keys) for pid, p in data["providers"].items()},
        redirect_url=data["redirectUrl"], issuer=data["issuer"] or default_issuer, realm=data["realm"],
        default_groups=tuple(data["defaultGroups"]), is_website_app=data["isWebsiteApp"],
        allowed_redirects=tuple(data["allowedRedirectUrlsOnSuccessfulLogin"]),
        default_redirect=data["defaultRedirectUrlOnSuccessfulLogin"],
        cookie=CookieConfig(secure=cookie["secure"], same_site=cookie["sameSite"], domain=cookie["domain"]),
        session_expires_in=data["sessionExpiresIn"], refresh_expires_in=data["refreshTokenExpiresIn"])
