"""The settings' declarations: each setting is declared once, as a field of `Settings` (see "The
declarations" below); the environment map, the schema (app/settings/rules.py) and the configuration
reference (docs/configuration.md, app/settings/reference.py) derive from them. Settings are plain
values: the files they name are read by app/named_files.py, and app/services.py composes the core's
objects (the nested shapes, app/settings/shapes.py, declare the ones built from the file).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any, Mapping

from marshmallow import fields, validate

from ..core.check.authorizer import SOURCES
from ..core.check.policy.dialects import DIALECTS
from ..core.records import AUTH_METHODS
from .kinds import CommaList, SecretBytes, VerificationKeys, cidrs, fernet_key, hosts, url
from .shapes import ApiKeySchema, AppSchema, BffSchema, IntrospectionSchema, IssuerSchema

CONFIG_FILE_ENV = "GATEHOUSE_CONFIG"
# The server of the /auth process group (`gatehouse serve-check`): uWSGI (nginx `uwsgi_pass`) unless
# switched back to gunicorn (HTTP). bench/RESULTS.md "Servers of the /auth group" has the measurements.
CHECK_SERVERS = ("uwsgi", "gunicorn")
# After the drain (DELAY_SHUTDOWN_SECONDS), how long in-flight requests may take to finish before a
# worker is killed: gunicorn's graceful timeout and uWSGI's reload mercy are the delay plus this.
GRACEFUL_STOP_SECONDS = 30
# Threads per uWSGI worker: one (docs/performance.md "Which layout"); a check waiting on a provider
# then holds its worker, and OUTBOUND_CALLS_PER_GROUP bounds how many workers may.
DEFAULT_CHECK_THREADS = 1

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
        f"requests finish (graceful timeout: this + {GRACEFUL_STOP_SECONDS} s)")
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
    outbound_gate_dir: str | None = setting(
        "GATEHOUSE_OUTBOUND_GATE_DIR", fields.String(), None,
        "internal: set by `serve-check` for its workers (the lock files of `OUTBOUND_CALLS_PER_GROUP`)")
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
    public_url: str = setting("PUBLIC_URL", fields.String(validate=url({"http", "https"})), None,
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
    answer_memo_size: int = setting("ANSWER_MEMO_SIZE", _int(0, 100_000), 2048,
                                    "/auth allows remembered per worker, each served again only while its "
                                    "credential and route table still give it (0: off)")
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
    trusted_proxy_cidrs: tuple[str, ...] = setting("TRUSTED_PROXY_CIDRS", CommaList(validate=cidrs), (),
                                                   "proxies whose dialect headers are believed")
    forward_auth_secret_header: str | None = setting("FORWARD_AUTH_SECRET_HEADER", _pattern(
        r"^[A-Za-z0-9-]{1,64}$", "must be a header name (1-64 of A-Z a-z 0-9 -)"), None,
        "header carrying the proxy's shared secret")
    forward_auth_secret: str | None = setting("FORWARD_AUTH_SECRET", fields.String(validate=validate.Length(
        min=16, max=512)), None, "the proxy's shared secret", secret=True)
    forward_auth_hosts: tuple[str, ...] = setting("FORWARD_AUTH_HOSTS", CommaList(validate=hosts), (),
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
    outbound_calls_per_group: int | None = setting(
        "OUTBOUND_CALLS_PER_GROUP", _int(1, 10000), None,
        "`serve-check` under uWSGI: checks the whole `/auth` group may have waiting on a provider at once, "
        "across its workers; past it such a check fails at once (503)",
        shown="half the group's workers (at least 1); none with several threads per worker")
    userinfo_url: str | None = setting("USERINFO_URL", fields.String(validate=url({"http", "https"})), None,
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
    provider_token_key: bytes | None = setting("PROVIDER_TOKEN_KEY", fields.String(validate=fernet_key), None,
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
