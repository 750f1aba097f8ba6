"""Configuration: one config file (JSON or YAML) plus environment variables, validated once
into frozen settings. The only module that reads os.environ or the config file.

Each setting is declared once, as a field of `Settings` (see "The declarations" below); the
environment map, the schema and the configuration reference (docs/configuration.md) derive from
the declarations. Settings are plain values and this module builds no core objects: the files
the settings name are read by app/named_files.py, and app/services.py composes the core's objects.

Environment variables override the file. Mia-Platform's variable names are accepted too.
A bad configuration raises ConfigError with one line per problem, naming the key; values of
secret keys never appear in messages.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .core.records import AUTH_METHODS
from .core.check.authorizer import SOURCES
from .core.check.policy.dialects import DIALECTS
from .core.errors import BadRequest
from .core.login.bff import MODES as BFF_MODES
from .core.login.providers import OIDC_TYPES, PROVIDER_TYPES
from .core.redirects import safe_redirect
from .core.tokens import ALLOWED_ALGORITHMS

CONFIG_FILE_ENV = "GATEHOUSE_CONFIG"
# The server of the /auth process group (`gatehouse serve-check`): uWSGI (nginx `uwsgi_pass`) unless
# switched back to gunicorn (HTTP). bench/RESULTS.md "Servers of the /auth group" has the measurements.
CHECK_SERVERS = ("uwsgi", "gunicorn")
# Threads per uWSGI worker: a check waiting on a hung provider holds one thread, not the worker.
DEFAULT_CHECK_THREADS = 4

HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class ConfigError(Exception):
    """Start-up refused; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
    """The Backend-for-Frontend client (docs/bff.md): one OIDC provider, Gatehouse as a
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


# ---------------------------------------------------------------------------------------------
# The declarations. Each setting is stated once, as a field of `Settings`: its key (the field's
# name, also the config-file key), environment names (the first is the documented one; Mia's
# names follow), value type (the annotation), validation (the marshmallow field), default and
# a one-line doc. ENV_NAMES, SECRET_KEYS, FILE_PATH_KEYS, SettingsSchema and the configuration
# reference (docs/configuration.md, `gatehouse settings-doc`) are all derived from them.
# ---------------------------------------------------------------------------------------------

REQUIRED: Any = object()  # a setting without a default: start-up refused without it
DECLARATION = "gatehouse.setting"


@dataclass(frozen=True)
class Declaration:
    """One setting as declared (the key is filled in from the Settings field's name)."""

    env: tuple[str, ...]
    kind: fields.Field
    default: Any
    doc: str
    shown: str | None = None  # the default as the docs read it, when not the value itself
    secret: bool = False  # the value never appears in a message or a repr
    path: bool = False  # names a file: relative to the config file's directory there
    key: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def default_text(self) -> str:
        """The default as the configuration reference shows it."""
        if self.shown is not None:
            return self.shown
        if self.required:
            return "required"
        value = self.default() if callable(self.default) else self.default
        if value is None or (isinstance(value, (str, tuple, list, dict)) and not value):
            return "—"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (tuple, list)):
            return ",".join(str(v) for v in value)
        return str(value)


def setting(env: str | tuple[str, ...] | None, kind: fields.Field, default: Any, doc: str, *,
            shown: str | None = None, secret: bool = False, path: bool = False) -> Any:
    """Declare one setting as a field of Settings (see the block comment above)."""
    names = (env,) if isinstance(env, str) else tuple(env or ())
    if default is REQUIRED:
        kind.required = True
    else:
        kind.load_default = default
        if default is None:
            kind.allow_none = True
    declaration = Declaration(names, kind, default, doc, shown, secret, path)
    return field(repr=not secret, metadata={DECLARATION: declaration})


def loaded(*, repr: bool = True) -> Any:  # noqa: A002 - dataclasses' own name
    """A field of Settings that start-up derives from the declared ones, not a setting of its own."""
    return field(repr=repr)


def _int(lo: int, hi: int) -> fields.Field:
    return fields.Integer(validate=validate.Range(lo, hi))


def _float(lo: float, hi: float) -> fields.Field:
    return fields.Float(validate=validate.Range(lo, hi))


def _pattern(regex: str, error: str) -> fields.Field:
    return fields.String(validate=validate.Regexp(regex, error=error))


def _choice(*options: str) -> fields.Field:
    return fields.String(validate=validate.OneOf(options))


def _subset(options: tuple[str, ...]) -> fields.Field:
    return CommaList(validate=[validate.ContainsOnly(options, error="each entry must be one of " + ", ".join(options)),
                               validate.Length(min=1)])


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


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Validated, frozen configuration: the declared settings as plain values. The files they name
    (keys, routes, discovery) are read by app/named_files.py; app/services.py composes the core's
    objects."""

    # -- server and processes (gunicorn.conf.py, `gatehouse serve-check`) --
    http_port: int = setting("HTTP_PORT", _int(1, 65535), 3000,
                             "port the app binds (GATEHOUSE_BIND: the address)")
    bind_address: str = setting("GATEHOUSE_BIND", _pattern(r"^[A-Za-z0-9.\-\[\]:]{1,255}$", "must be an address"),
                                "127.0.0.1", "address gunicorn and `gatehouse serve-check` bind")
    role: str = setting("GATEHOUSE_ROLE", _choice("all", "check"), "all",
                        "process group: `check` answers nginx's /auth, `all` serves everything")
    worker_class: str | None = setting("GUNICORN_WORKER_CLASS", fields.String(validate=validate.Length(min=1, max=200)),
                                None, "gunicorn worker class", shown="gevent for role check, else sync")
    workers: int | None = setting("GUNICORN_WORKERS", _int(1, 1024), None,
                           "worker processes (gunicorn; uWSGI processes of `serve-check`)",
                           shown="one per core for role check, else two per core")
    threads: int = setting("GUNICORN_THREADS", _int(1, 1024), 1, "threads per gunicorn worker (gthread)")
    worker_timeout_seconds: int = setting(
        "GUNICORN_TIMEOUT", _int(1, 3600), 30,
        "a worker silent this long is killed and replaced (gunicorn `timeout`, uWSGI `--harakiri`)")
    keepalive_seconds: int = setting("GUNICORN_KEEPALIVE", _int(0, 3600), 5,
                                     "how long gunicorn keeps an idle keep-alive connection")
    delay_shutdown_seconds: int = setting(
        "DELAY_SHUTDOWN_SECONDS", _int(0, 300), 10,
        "after SIGTERM, `/-/ready` answers 503 this long while requests are still served; then in-flight "
        "requests finish (graceful timeout: this + 30 s)")
    metrics_dir: str | None = setting("PROMETHEUS_MULTIPROC_DIR", fields.String(), None,
                                      "where workers share metric samples (emptied at start)",
                                      shown="a new directory under the temp dir")
    check_server: str = setting("CHECK_SERVER", _choice(*CHECK_SERVERS), "uwsgi",
                                "server of the `/auth` group: `uwsgi` or `gunicorn`; what `gatehouse serve-check` "
                                "runs, `gatehouse nginx-config` renders and `gatehouse dev` starts")
    check_threads: int = setting("CHECK_THREADS", _int(1, 64), DEFAULT_CHECK_THREADS,
                                 "threads per uWSGI worker of the `/auth` group (1–64)")
    check_socket: str | None = setting("GATEHOUSE_CHECK_SOCKET", fields.String(validate=validate.Length(min=1)),
                                       None, "`serve-check`'s uwsgi-protocol socket for nginx's uwsgi_pass "
                                       "(`host:port` or a unix socket path; `none`: no uwsgi socket)",
                                       shown="127.0.0.1 and the HTTP port + 1")
    uwsgi_max_requests: int = setting("UWSGI_MAX_REQUESTS", _int(1, 100_000_000), 100000,
                                      "`serve-check`: a uWSGI worker is recycled after this many requests")
    uwsgi_min_worker_lifetime: int = setting(
        "UWSGI_MIN_WORKER_LIFETIME", _int(0, 86400), 10,
        "`serve-check`: ... but only once it has lived this many seconds")
    drain_file: str | None = setting("GATEHOUSE_DRAIN_FILE", fields.String(), None,
                                     "internal: set by `serve-check` for its workers (/-/ready answers 503 once "
                                     "this file exists)")
    log_level: str = setting("LOG_LEVEL", _choice("trace", "debug", "info", "warn", "warning", "error", "fatal",
                                                  "silent"), "info", "trace, debug, info, warn, error, fatal, silent")
    decision_log: str = setting("DECISION_LOG", _choice("all", "refusals", "off"), "refusals",
                                "which `/auth` decisions are logged: all, refusals, off")
    service_prefix: str = setting("SERVICE_PREFIX", _pattern(
        r"^(/[A-Za-z0-9._~\-]+)*$", "must be empty or like /path/segment, no trailing slash"), "",
        "path prefix of every endpoint except `/-/…`")
    max_body_bytes: int = setting("MAX_BODY_BYTES", _int(1024, 10 * 1024 * 1024), 16384,
                                  "request body limit (413 beyond)")
    trusted_proxy_count: int = setting("TRUSTED_PROXY_COUNT", _int(0, 5), 0,
                                       "proxies whose `X-Forwarded-For` is trusted for the source address")

    # -- stores --
    mongodb_url: str = setting(("MONGODB_URL", "CREDENTIALS_MONGODB_URL"), _pattern(
        r"^mongodb(\+srv)?://", "must start with mongodb:// or mongodb+srv://"), REQUIRED,
        "`mongodb://` or `mongodb+srv://`", secret=True)
    mongodb_database: str | None = setting(("MONGODB_DATABASE", "MONGODB_CREDENTIALS_DATABASE_NAME"), _pattern(
        r"^[A-Za-z0-9_\-]{1,63}$", "must be a database name"), None, "database name",
        shown="from the URL, else `gatehouse`")
    mongodb_timeout_ms: int = setting("MONGODB_TIMEOUT_MS", _int(100, 60000), 2000,
                                      "server selection, connect and socket timeouts")
    redis_url: str | None = setting("REDIS_URL", _pattern(
        r"^(redis|rediss|unix)://", "must start with redis://, rediss:// or unix://"), None,
        "`redis://`, `rediss://` (TLS) or `unix://`; or use `redis_hosts`", secret=True)
    redis_hosts: tuple[str, ...] = setting("REDIS_HOSTS", CommaList(), (),
                                           "`host:port` (normal) or the sentinels' `host:port,host:port`")
    redis_mode: str = setting("REDIS_MODE", _choice("normal", "sentinel"), "normal", "`normal` or `sentinel`")
    redis_master_name: str | None = setting("REDIS_MASTER_NAME", fields.String(), None, "required in sentinel mode")
    redis_username: str | None = setting("REDIS_USERNAME", fields.String(), None, "Redis ACL user")
    redis_password: str | None = setting("REDIS_PASSWORD", fields.String(), None, "Redis ACL password",
                                         secret=True)
    redis_tls: bool = setting("REDIS_TLS", fields.Boolean(), False, "TLS to Redis")
    redis_tls_cacert: str | None = setting("REDIS_TLS_CACERT", fields.String(), None,
                                           "a private CA file for Redis's TLS", path=True)
    redis_timeout_seconds: float = setting("REDIS_TIMEOUT_SECONDS", _float(0.05, 30), 1.0,
                                           "connect and command timeout")

    # -- keys and tokens --
    private_key_path: str | None = setting(("PRIVATE_RSA_KEY_FILE_PATH", "PRIVATE_KEY_FILE_PATH"), fields.String(),
                                           None, "PEM signing key (RSA or EC P-256)", path=True,
                                           shown="required, but in the /auth group (`GATEHOUSE_ROLE=check`), which "
                                                 "verifies and never signs: there VERIFICATION_KEYS (public PEMs) alone "
                                                 "will do")
    private_key_password: str | None = setting("PRIVATE_KEY_PASSWORD", fields.String(), None,
                                               "password of an encrypted key", secret=True)
    private_key_id: str | None = setting(("PRIVATE_RSA_KEY_ID", "PRIVATE_KEY_ID"), _pattern(
        r"^[A-Za-z0-9._\-]{1,128}$", "must be 1-128 characters of A-Z a-z 0-9 . _ -"), None, "the `kid`",
        shown="required with private_key_path")
    verification_keys: tuple[tuple[str, str], ...] = setting(
        "VERIFICATION_KEYS", VerificationKeys(), (), "retired keys: `[{kid, path}]` / `kid=path,kid=path`", path=True)
    client_id_hash_salt: bytes = setting("CLIENT_ID_HASH_SALT", SecretBytes(min_length=16), REQUIRED, "≥ 16 characters; HMAC key for client ids",
        secret=True)
    client_secret_hash_cost: int = setting("CLIENT_SECRET_HASH_COST", _int(4, 16), 10, "bcrypt cost, 4–16")
    jwt_issuer: str = setting(("JWT_ISSUER", "MIA_JWT_ISSUER"), fields.String(validate=validate.Length(min=1, max=512)),
                              REQUIRED, "`iss` of issued tokens")
    jwt_expires_in: int = setting(("JWT_EXPIRES_IN", "MIA_JWT_EXPIRES_IN"), _int(30, 86400), 3600,
                                  "token lifetime, seconds")
    public_url: str = setting("PUBLIC_URL", fields.String(validate=_url({"http", "https"})), None,
                              "base of the URLs in discovery, and the token endpoint URL accepted as assertion `aud`",
                              shown="the issuer if it is a URL, else http://127.0.0.1:HTTP_PORT")
    clock_skew_seconds: int = setting("CLOCK_SKEW_SECONDS", _int(0, 300), 30,
                                      "tolerance for assertion `exp`/`nbf`/`iat`")
    max_assertion_lifetime_seconds: int = setting("MAX_ASSERTION_LIFETIME_SECONDS", _int(30, 3600), 300,
                                                  "how far ahead an assertion's `exp` may be")
    accepted_audiences: tuple[str, ...] = setting("ACCEPTED_AUDIENCES", CommaList(), (),
                                                  "audiences a client may ask for (list / comma-separated)")
    required_audience_in_token_request: bool = setting("REQUIRED_AUDIENCE_IN_TOKEN_REQUEST", fields.Boolean(), False,
                                                       "a token request must name an audience")
    openid_config_path: str | None = setting("OPENID_CONFIG_PATH", fields.String(), None,
                                             "discovery document to serve", path=True)
    scopes_supported: tuple[str, ...] = setting("SCOPES_SUPPORTED", CommaList(), (), "listed in discovery")
    admin_token: str | None = setting("ADMIN_TOKEN", fields.String(validate=validate.Length(
        min=32, error="must be at least 32 characters")), None, "bootstrap admin bearer token, ≥ 32 characters",
        secret=True)
    open_registration: bool = setting("OPEN_REGISTRATION", fields.Boolean(), False,
                                      "`POST /register` without admin token (no privileges)")
    # What a registrant without an admin token may ask for (never permissions or custom claims).
    open_registration_audiences: tuple[str, ...] = setting("OPEN_REGISTRATION_AUDIENCES", CommaList(), (),
                                                           "audiences an open registrant may ask for")
    open_registration_scopes: tuple[str, ...] = setting("OPEN_REGISTRATION_SCOPES", CommaList(), (),
                                                        "scopes an open registrant may ask for")
    open_registration_auth_methods: tuple[str, ...] = setting(
        "OPEN_REGISTRATION_AUTH_METHODS", _subset(AUTH_METHODS), tuple(AUTH_METHODS),
        "authentication methods an open registrant may choose")
    auth_failure_limit: int = setting("AUTH_FAILURE_LIMIT", _int(1, 100000), 10,
                                      "failed client authentications per (client, address) and window")
    auth_failure_window_seconds: int = setting("AUTH_FAILURE_WINDOW_SECONDS", _int(1, 86400), 300,
                                               "the window of those limits")
    auth_failure_source_limit: int = setting("AUTH_FAILURE_SOURCE_LIMIT", _int(1, 1000000), 50,
                                             "failed client authentications per address (any client) and window")
    revocation_check: bool = setting("REVOCATION_CHECK", fields.Boolean(), True,
                                     "whether `/auth` refuses revoked client-credentials tokens")
    revocation_sync_seconds: float = setting(
        "REVOCATION_SYNC_SECONDS", _float(0, 60), 1.0,
        "how often each worker pulls new revocations, ended sessions and client cut-offs (0: at every check)")
    revocation_reconcile_seconds: float = setting(
        "REVOCATION_RECONCILE_SECONDS", _float(0.1, 60), 5.0,
        "how often each worker reads from MongoDB the revocations recorded since its last read, in the "
        "background: the bound for one the Redis feed missed")
    verified_token_cache_size: int = setting("VERIFIED_TOKEN_CACHE_SIZE", _int(0, 1_000_000), 10000,
                                             "verified tokens remembered per worker (0: off)")
    verified_token_cache_seconds: int = setting("VERIFIED_TOKEN_CACHE_SECONDS", _int(0, 86400), 300,
                                                "the longest a verified token is remembered (never past its `exp`)")
    client_cache_seconds: float = setting("CLIENT_CACHE_SECONDS", _float(0, 300), 10.0,
                                          "how long a worker remembers a client that authenticated (0: off)")

    # -- the /auth check --
    routes_file: str | None = setting("ROUTES_FILE", fields.String(), None, "route file for `/auth`",
                                      shown="— (no routes: every check is 401)", path=True)
    routes_watch_file: str | None = setting("ROUTES_WATCH_FILE", fields.String(), None,
                                            "the file workers watch for changes", shown="`routes_file`", path=True)
    routes_reload_interval_seconds: float = setting("ROUTES_RELOAD_INTERVAL_SECONDS", _float(0, 3600), 1.0,
                                                    "how often workers look for a changed route file")
    strict_mode: bool = setting("STRICT_MODE", fields.Boolean(), True,
                                "false: `/auth` always 200 with `mia-allowed` 0/1")
    user_properties_to_proxy: tuple[str, ...] = setting("USER_PROPERTIES_TO_PROXY", CommaList(), (),
                                                        "claims copied into `mia-userproperties`")
    api_product_scope_prefix: str = setting("API_PRODUCT_SCOPE_PREFIX", fields.String(
        validate=validate.Length(max=256)), "", "scope prefix for URI-shaped product scopes")
    max_header_value_bytes: int = setting("MAX_HEADER_VALUE_BYTES", _int(64, 65536), 16384,
                                          "longest identity header value forwarded, left out past it "
                                          "(16 KB: 200 groups of 80 characters)")
    trust_mia_user_headers: bool = setting("TRUST_MIA_USER_HEADERS", fields.Boolean(), False,
                                           "accept identity headers set by a trusted upstream")
    credential_sources: tuple[str, ...] = setting("CREDENTIAL_SOURCES", _subset(SOURCES), tuple(SOURCES),
                                                  "order in which identity sources are tried")
    authorization_headers_to_proxy: tuple[str, ...] = setting(
        "AUTHORIZATION_HEADERS_TO_PROXY", CommaList(), (), "headers that carry credentials; none present = anonymous")
    auth_dialects: tuple[str, ...] = setting("AUTH_DIALECTS", _subset(DIALECTS), ("nginx",),
                                             "forward-auth dialects believed at `/auth`")
    trusted_proxy_cidrs: tuple[str, ...] = setting("TRUSTED_PROXY_CIDRS", CommaList(validate=_cidrs), (),
                                                   "proxies whose dialect headers are believed")
    forward_auth_secret_header: str | None = setting("FORWARD_AUTH_SECRET_HEADER", _pattern(
        r"^[A-Za-z0-9-]{1,64}$", "must be a header name (1-64 of A-Z a-z 0-9 -)"), None,
        "header carrying the proxy's shared secret")
    forward_auth_secret: str | None = setting("FORWARD_AUTH_SECRET", fields.String(validate=validate.Length(
        min=16, max=512)), None, "the proxy's shared secret", secret=True)
    forward_auth_hosts: tuple[str, ...] = setting("FORWARD_AUTH_HOSTS", CommaList(validate=_hosts), (),
                                                  "hosts a dialect's original URL may name")
    forward_auth_login_url: str | None = setting("FORWARD_AUTH_LOGIN_URL", _pattern(
        r"^(/(?![/\\])|https?://[A-Za-z0-9.\-\[\]:]+/)[\x21-\x7e]{0,2000}$",
        "must be a path (/web-login) or an http(s) URL (https://login.example.com/web-login)"), None,
        "where the check sends a browser in the Traefik/Caddy/Envoy dialects",
        shown="the login page under `service_prefix` on the protected host")
    issuers: list[dict[str, Any]] = setting(None, fields.List(fields.Nested(IssuerSchema)), list,
                                                  "trusted external JWT issuers")
    jwks_cache_seconds: int = setting("JWKS_CACHE_SECONDS", _int(1, 86400), 300, "external issuer key cache")
    jwks_refetch_cooldown_seconds: int = setting("JWKS_REFETCH_COOLDOWN_SECONDS", _int(0, 3600), 30,
                                                 "least time between two fetches of an issuer's keys")
    outbound_timeout_seconds: float = setting("OUTBOUND_TIMEOUT_SECONDS", _float(0.1, 60), 5.0,
                                              "timeout of JWKS, discovery, introspection and provider calls")
    outbound_calls_per_worker: int = setting(
        "OUTBOUND_CALLS_PER_WORKER", _int(0, 10000), 0,
        "checks one worker may have waiting on a provider at once (a JWKS, introspection, userinfo or provider "
        "call, or a wait for a JWKS fetch another check started); past it such a check fails at once (503)", shown="0 (no limit); under uWSGI `CHECK_THREADS` − 1")
    userinfo_url: str | None = setting("USERINFO_URL", fields.String(validate=_url({"http", "https"})), None,
                                       "userinfo resolver")
    headers_to_proxy: tuple[str, ...] = setting("HEADERS_TO_PROXY", CommaList(), ("authorization",),
                                                "headers forwarded to the userinfo resolver")
    custom_user_id_key: str = setting("CUSTOM_USER_ID_KEY", fields.String(validate=validate.Length(min=1)),
                                      "userID", "user id field of the userinfo answer")
    custom_permissions_key: str = setting("CUSTOM_PERMISSIONS_KEY", fields.String(validate=validate.Length(min=1)),
                                          "permissions", "permissions field of the userinfo answer")
    userinfo_timeout_seconds: float = setting("USERINFO_TIMEOUT_SECONDS", _float(0.1, 60), 5.0,
                                              "timeout of the userinfo call")
    userinfo_cache_seconds: int = setting("USERINFO_CACHE_SECONDS", _int(0, 3600), 0,
                                          "how long a userinfo answer is remembered")
    api_keys: list[dict[str, str]] = setting(None, fields.List(fields.Nested(ApiKeySchema)), list,
                                             "`[{sha256, clientType}]`")
    introspection: dict[str, Any] | None = setting(
        None, fields.Nested(IntrospectionSchema), None, "`{endpoint, client_id, client_secret, max_cache_seconds}`",
        secret=True)

    # -- browser login and the BFF --
    apps: dict[str, dict[str, Any]] = setting(None, fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9._\-]{1,64}$", error="must be 1-64 of A-Z a-z 0-9 . _ -")),
        values=fields.Nested(AppSchema)), dict, "login apps and their providers (Browser login)", secret=True)
    default_app_id: str | None = setting("DEFAULT_APP_ID", fields.String(), None,
                                         "app of `/web-login` without `appId` (nginx's login redirect)",
                                         shown="the only app, when there is one")
    provider_token_key: bytes | None = setting("PROVIDER_TOKEN_KEY", fields.String(validate=_fernet_key), None,
                                               "Fernet key sealing provider tokens in Redis "
                                               "(`gatehouse keys provider-token-key`)",
                                               shown="required with `apps` or `bff`", secret=True)
    login_state_ttl_seconds: int = setting("LOGIN_STATE_TTL_SECONDS", _int(30, 900), 120,
                                           "how long a login may take at the provider")
    bff: dict[str, Any] | None = setting(None, fields.Nested(BffSchema), None,
                                    "the Backend-for-Frontend client (Backend-for-Frontend)", secret=True)

    # -- where each setting came from, for the problems start-up reports about the files they name
    # (app/named_files.py): `HTTP_PORT`, `/etc/gatehouse.yaml: http_port` or `HTTP_PORT (http_port)`.
    sources: Mapping[str, str] = loaded(repr=False)

    def url(self, path: str) -> str:
        """Public URL of one of our endpoints (under SERVICE_PREFIX)."""
        return f"{self.public_url}{self.service_prefix}{path}"

    @property
    def token_endpoint(self) -> str:
        return self.url("/oauth/token")


DECLARATIONS: tuple[Declaration, ...] = tuple(
    replace(f.metadata[DECLARATION], key=f.name) for f in dataclass_fields(Settings) if DECLARATION in f.metadata)
DECLARED: dict[str, Declaration] = {d.key: d for d in DECLARATIONS}
# key in the config file -> environment variable names (first is the documented one; () = file only).
ENV_NAMES: dict[str, tuple[str, ...]] = {d.key: d.env for d in DECLARATIONS}
SECRET_KEYS = frozenset(d.key for d in DECLARATIONS if d.secret)
# Settings that name files. In the config file a relative path is relative to the file's own
# directory (/etc/gatehouse/gatehouse.yaml may say `private_key_path: signing.pem`); in the
# environment, to the working directory.
FILE_PATH_KEYS = tuple(d.key for d in DECLARATIONS if d.path and d.key != "verification_keys")
# The configuration reference's sections: (title, first key of the section), in declaration order.
SECTIONS = (("Server and processes", "http_port"), ("Stores", "mongodb_url"), ("Keys and tokens", "private_key_path"),
            ("The /auth check", "routes_file"), ("Browser login and the BFF", "apps"))


def _key_rules(data: dict[str, Any]) -> tuple[str, str] | None:
    if data.get("private_key_path"):
        return None if data.get("private_key_id") else ("private_key_id", "required with PRIVATE_RSA_KEY_FILE_PATH")
    # The /auth group verifies and never signs: the public halves (VERIFICATION_KEYS) are enough,
    # unless it refreshes BFF sessions' tokens at a provider it authenticates to with a signed
    # assertion (private_key_jwt).
    bff_provider = (data.get("bff") or {}).get("provider") or {}
    if bff_provider.get("tokenEndpointAuthMethod") == "private_key_jwt":
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


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), from the declarations."""
    starts = {key: title for title, key in SECTIONS}
    out = ["# Configuration reference", "",
           "<!-- Generated from the declarations in app/settings.py by `gatehouse settings-doc --out "
           "docs/configuration.md`; a test fails when it differs. Do not edit by hand. -->", "",
           "One config file (JSON or YAML) named by `GATEHOUSE_CONFIG`, plus environment variables, which win "
           "over the file. The file uses the lower-case keys; the environment the upper-case names (the first "
           "is the documented one; Mia-Platform's names are accepted too). A bad configuration stops start-up "
           "with one line per problem naming the key, never printing a secret value; `gatehouse check-config` "
           "runs the same validation. A valid configuration that leaves a feature dead (no `routes_file`: every "
           "/auth check is refused; a configured `apps`, `bff`, `introspection`, `issuers`, `USERINFO_URL` "
           "or `TRUST_MIA_USER_HEADERS` that "
           "`CREDENTIAL_SOURCES` leaves out) gets one `warning:` line each from `gatehouse check-config` "
           "(which still exits 0: `configuration OK (...; 2 warnings)`) and in the start-up log of both process "
           "groups; it still starts. The CLI reads `--config FILE` (before or after the command), else "
           "`GATEHOUSE_CONFIG`, else `./var/gatehouse.yaml` (what `gatehouse dev` writes). "
           "A relative file path in the config file is relative to the file's "
           "directory; in the environment, to the working directory. The process settings (the first section) "
           "are usually given per process group in the environment (`GATEHOUSE_ROLE=check` for the /auth group). "
           "A value marked (secret) never appears in a message or a log line.", ""]
    for d in DECLARATIONS:
        if d.key in starts:
            out += ["", f"## {starts[d.key]}", "", "| file key | environment | default | meaning |",
                    "|---|---|---|---|"]
        env = ", ".join(f"`{n}`" for n in d.env) or "(file only)"
        flags = " (secret)" if d.secret else ""
        cells = (f"`{d.key}`", env, d.default_text(), d.doc + flags)
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"


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


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def configured_file(environ: Mapping[str, str] | None = None) -> str | None:
    """The config file GATEHOUSE_CONFIG names, if any."""
    return _environ(environ).get(CONFIG_FILE_ENV) or None


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings the environment gives, unvalidated, by key (the first of a key's names that is set)."""
    env = _environ(environ)
    given = {}
    for key, names in ENV_NAMES.items():
        name = next((n for n in names if env.get(n, "") != ""), None)
        if name is not None:
            given[key] = env[name]
    return given


def child_environment(changes: Mapping[str, Any], config_file: str | None = None) -> dict[str, str]:
    """The environment of a Gatehouse process this one starts: this process's, with settings changed by
    key (None removes every name of the key) and, when given, another config file."""
    env = dict(os.environ)
    for key, value in changes.items():
        names = ENV_NAMES[key]
        for name in names:
            env.pop(name, None)
        if value is not None:
            env[names[0]] = str(value)
    if config_file is not None:
        env[CONFIG_FILE_ENV] = config_file
    return env


def export(key: str, value: str) -> None:
    """Set a setting for the processes this one forks or starts (gunicorn's workers)."""
    for name in ENV_NAMES[key][1:]:
        os.environ.pop(name, None)
    os.environ[ENV_NAMES[key][0]] = value


def named_variable(name: str) -> str:
    """The value of an environment variable an operator names on the command line (e.g. a key
    password for `gatehouse keys generate --password-env`); empty when unset."""
    return os.environ.get(name, "")


def load_setting(key: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting, validated as load_settings does, for commands that need no stores
    (`gatehouse nginx-config`): ConfigError names its variable or file key."""
    env = _environ(environ)
    file_path = configured_file(env)
    file_data = read_config_file(file_path) if file_path else {}
    given = from_environment(env)
    env_used = {k: next(n for n in ENV_NAMES[k] if env.get(n, "") != "") for k in given}
    raw = {**file_data, **given}
    kind = SettingsSchema().fields[key]
    if key not in raw:
        return kind.load_default() if callable(kind.load_default) else kind.load_default
    try:
        return kind.deserialize(raw[key], key, raw)
    except ValidationError as exc:
        label = _labels(file_path, file_data, env_used).get(key, key)
        raise ConfigError([f"{label}: {m}" for m in _flatten(exc.messages)]) from None


def load_settings(environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None, config_file: str | None = None) -> Settings:
    """Build the settings from GATEHOUSE_CONFIG (or `config_file`) + environment (+ overrides, by key)."""
    env = _environ(environ)
    file_path = config_file or configured_file(env)
    file_data = read_config_file(file_path) if file_path else {}
    unknown = sorted(k for k in file_data if k not in DECLARED)
    raw: dict[str, Any] = dict(file_data)
    given = from_environment(env)
    env_used = {key: next(n for n in ENV_NAMES[key] if env.get(n, "") != "") for key in given}
    raw.update(given)
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
    if data["redis_tls_cacert"] and not Path(data["redis_tls_cacert"]).is_file():
        problems.append(f"{labels['redis_tls_cacert']}: no such file")
    if problems:
        raise ConfigError(problems)
    return Settings(**_resolved(data), sources=labels)


def _resolved(data: dict[str, Any]) -> dict[str, Any]:
    """The declared settings' values, with the defaults that depend on other settings filled in."""
    values = dict(data)
    public_url = data["public_url"] or (
        data["jwt_issuer"] if re.match(r"^https?://", data["jwt_issuer"])
        else f"http://127.0.0.1:{data['http_port']}")
    values["public_url"] = public_url.rstrip("/")
    values["routes_watch_file"] = data["routes_watch_file"] or data["routes_file"]
    values["default_app_id"] = data["default_app_id"] or (next(iter(data["apps"])) if len(data["apps"]) == 1
                                                          else None)
    values["provider_token_key"] = data["provider_token_key"].encode("ascii") if data["provider_token_key"] else None
    return values
