"""The one composition root: the core's configuration objects composed from the plain settings
(`compose`), and the per-process clients and core services built from them after the gunicorn
fork (preload_app = False), kept in app.extensions["gatehouse"] (`build_services`)."""
from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from flask import current_app

from .adapters import http_client, redis_store
from .adapters import mongo as mongo_store
from .adapters.bff_store import RedisBffTokens, RedisBrowserSessions
from .adapters.route_file import RouteFileWatcher
from .core.login.bff import BffConfig, BffCopy, BffService
from .core.issuer.client_auth import ClientAuthConfig, ClientAuthenticator, RecentClients
from .core.issuer.clients import ClientRegistry, RegistrationRules
from .core.issuer.grants.client_credentials import ClientCredentialsConfig
from .core.keys import KeySet
from .core.check.policy.routes import RouteTable
from .core.errors import DependencyUnavailable, NotFound
from .core.ports import BrowserSessionStore
from .core.login.flow import LoginService
from .core.records import OnIssue, ignore_issue
from .core.issuer.machine_tokens import TokenService
from .core.login.providers import ProviderConfig, ProviderDirectory, assertion_signer
from .core.redirects import origin
from .core.sealing import Sealer
from .core.revocation import ClientCutOff, RevocationMirror, Revocations, client_cut_at
from .core.login.sessions import AppConfig, SessionService
from .core.login.users import UserAdmin
from .core.check.authorizer import Authorizer, AuthorizerConfig
from .core.check.policy.dialects import DialectConfig
from .core.check.sources.api_key import ApiKey
from .core.check.sources.bearer_jwt import BearerJwt
from .core.check.sources.bff import BffCookie, BffSessions
from .core.check.sources.chain import ChainConfig, CredentialChain, CredentialSource, JwtIssuer
from .core.check.sources.external import ExternalIssuerJwt
from .core.check.sources.introspection import Introspection
from .core.check.sources.own import OwnAccessToken
from .core.check.sources.session import LoginSessions, SessionJwt
from .core.check.sources.trusted_headers import TrustedHeaders
from .core.check.sources.userinfo import Userinfo
from .core.check.verifiers.api_keys import ApiKeys
from .core.verified_cache import VerifiedCache
from .core.external_tokens import ExternalIssuer, ExternalVerifier
from .core.check.verifiers.introspection import Introspector
from .core.check.verifiers.own import OwnTokens
from .core.check.verifiers.userinfo import UserinfoConfig, UserinfoResolver
from .named_files import load_route_file, read_named_files
from .settings import Settings
from .settings.shapes import AppSchema, BffSchema, IssuerSchema, ProviderSchema

log = logging.getLogger("gatehouse.services")


@dataclass
class Lifecycle:
    """Set when SIGTERM arrives: /-/ready answers 503 during DELAY_SHUTDOWN_SECONDS."""

    shutting_down: threading.Event = field(default_factory=threading.Event)


@dataclass
class Services:
    """Everything a worker serves with, typed."""

    settings: Settings
    composition: Composition
    registry: ClientRegistry
    tokens: TokenService
    authorizer: Authorizer
    checks: dict[str, Callable[[], None]]
    lifecycle: Lifecycle
    # The per-process clients and the parts gunicorn's hooks and the tests reach.
    redis: redis_store.Client
    mongo: mongo_store.Database
    user_records: mongo_store.MongoUsers
    revocation_mirror: RevocationMirror
    login: LoginService | None = None
    sessions: SessionService | None = None
    bff: BffService | None = None
    # flask-session's store for the BFF views' browser sessions (app/blueprints/bff.py)
    bff_browser: BrowserSessionStore | None = None
    users: UserAdmin | None = None
    on_ready: Callable[[], None] = lambda: None
    route_watcher: RouteFileWatcher | None = None  # SIGHUP to a worker forces a look at the file

    def dependency_status(self) -> dict[str, str]:
        """Ping every store; 'up' or 'down' for each."""
        status = {}
        for name, check in self.checks.items():
            try:
                check()
                status[name] = "up"
            except DependencyUnavailable:
                status[name] = "down"
        return status


@dataclass(frozen=True)
class Composition:
    """The core's configuration objects, composed from the plain settings and the files they name
    (here only: app/settings/ validates values, named_files.py reads the files, this module builds
    what the core is given, each nested shape with its settings shape's `build`)."""

    client_auth: ClientAuthConfig
    client_credentials: ClientCredentialsConfig
    registration_rules: RegistrationRules
    authorizer: AuthorizerConfig
    credentials: ChainConfig
    userinfo: UserinfoConfig
    issuers: tuple[ExternalIssuer, ...]
    api_keys: ApiKeys
    keys: KeySet = field(repr=False)
    routes: RouteTable = field(repr=False)
    discovery_document: dict[str, Any] | None = field(repr=False)
    apps: dict[str, AppConfig] = field(repr=False)
    bff: BffConfig | None = field(repr=False)
    redis: redis_store.RedisConfig = field(repr=False)


def compose(settings: Settings) -> Composition:
    """Every core configuration object, from the settings and the files they name (read here;
    ConfigError names the setting of a refused file)."""
    s = settings
    named = read_named_files(settings)
    keys = named.keys
    return Composition(
        client_auth=ClientAuthConfig(
            issuer=s.jwt_issuer, token_endpoint=s.token_endpoint, id_hash_salt=s.client_id_hash_salt,
            secret_hash_cost=s.client_secret_hash_cost, clock_skew=s.clock_skew_seconds,
            max_assertion_lifetime=s.max_assertion_lifetime_seconds, failure_limit=s.auth_failure_limit,
            failure_window=s.auth_failure_window_seconds, source_failure_limit=s.auth_failure_source_limit),
        client_credentials=ClientCredentialsConfig(
            issuer=s.jwt_issuer, expires_in=s.jwt_expires_in, accepted_audiences=s.accepted_audiences,
            require_audience=s.required_audience_in_token_request),
        registration_rules=RegistrationRules(
            audiences=s.open_registration_audiences, scopes=s.open_registration_scopes,
            auth_methods=tuple(dict.fromkeys(s.open_registration_auth_methods))),
        authorizer=AuthorizerConfig(
            strict=s.strict_mode, scope_prefix=s.api_product_scope_prefix, user_properties=s.user_properties_to_proxy,
            header_limit=s.max_header_value_bytes, credential_headers=s.authorization_headers_to_proxy,
            dialects=DialectConfig(
                dialects=tuple(dict.fromkeys(s.auth_dialects)),
                trusted_proxies=tuple(ipaddress.ip_network(c, strict=False) for c in s.trusted_proxy_cidrs),
                secret_header=s.forward_auth_secret_header, secret=s.forward_auth_secret,
                hosts=tuple(h.lower() for h in s.forward_auth_hosts),
                login_url=s.forward_auth_login_url or f"{s.service_prefix}/web-login")),
        credentials=ChainConfig(order=tuple(dict.fromkeys(s.credential_sources)),
                                trust_user_headers=s.trust_mia_user_headers),
        userinfo=UserinfoConfig(headers_to_proxy=tuple(h.lower() for h in s.headers_to_proxy),
                                user_id_key=s.custom_user_id_key, permissions_key=s.custom_permissions_key,
                                cache_seconds=s.userinfo_cache_seconds),
        issuers=tuple(IssuerSchema.build(i) for i in s.issuers),
        api_keys=ApiKeys({k["sha256"]: k["clientType"] for k in s.api_keys}),
        keys=keys, routes=named.routes, discovery_document=named.discovery_document,
        apps={app_id: _app(app_id, app, s.jwt_issuer, keys) for app_id, app in s.apps.items()},
        bff=_bff(s.bff, keys, s.service_prefix, s.login_state_ttl_seconds,
                 s.outbound_timeout_seconds) if s.bff else None,
        redis=redis_config_of(s))


def _provider(pid: str, p: dict[str, Any], keys: KeySet) -> ProviderConfig:
    signer = assertion_signer(keys, p["client_id"]) if p["token_auth_method"] == "private_key_jwt" else None
    return ProviderSchema.build(p, id=pid, assertion=signer)


def _bff(data: dict[str, Any], keys: KeySet, prefix: str, state_ttl: int, outbound_timeout: float) -> BffConfig:
    return BffSchema.build(
        data, provider=_provider("bff", data["provider"], keys),
        post_logout_redirect_url=data["post_logout_redirect_url"]
        or f"{origin(data['redirect_url'])}{prefix}/bff/logout/callback",
        allowed_origins=tuple(o.lower() for o in data["allowed_origins"]), state_ttl=state_ttl,
        # discovery + the token call, each up to connect and read timeouts, with room to spare
        refresh_lock_seconds=data["refresh_wait_seconds"] + 4 * outbound_timeout + 5)


def _app(app_id: str, data: dict[str, Any], default_issuer: str, keys: KeySet) -> AppConfig:
    return AppSchema.build(
        data, id=app_id, issuer=data["issuer"] or default_issuer,
        providers={pid: _provider(pid, p, keys) for pid, p in data["providers"].items()})


def credential_chain(cfg: ChainConfig, verified: VerifiedCache, own: OwnTokens,
                     external: ExternalVerifier | None = None, sessions: LoginSessions | None = None,
                     bff: BffSessions | None = None, introspector: Introspector | None = None,
                     userinfo: UserinfoResolver | None = None, api_keys: ApiKeys | None = None) -> CredentialChain:
    """The check's credential sources in CREDENTIAL_SOURCES' order, each registered when what it
    reads is configured (a source left out, or with nothing to ask, is not walked). A login
    session's JWT is one source twice: its cookie (`session`) and a bearer token (`jwt`)."""
    session = SessionJwt(sessions, verified) if sessions is not None else None
    issuers: list[JwtIssuer] = [session] if session is not None else []
    if external is not None:
        issuers.append(ExternalIssuerJwt(external, verified))
    issuers.append(OwnAccessToken(own, verified))
    bff_cookie = BffCookie(bff) if bff is not None else None
    registered: dict[str, CredentialSource | None] = {
        "session": session,
        "bff": bff_cookie,
        "jwt": BearerJwt(tuple(issuers), verified),
        "introspection": Introspection(introspector) if introspector is not None else None,
        "userinfo": Userinfo(userinfo) if userinfo is not None else None,
        "trusted-headers": TrustedHeaders() if cfg.trust_user_headers else None,
    }
    walked = tuple(source for name in cfg.order if (source := registered[name]) is not None)
    return CredentialChain(walked, verified, client_type=ApiKey(api_keys) if api_keys is not None else None,
                           bff=bff_cookie)


def redis_config_of(settings: Settings) -> redis_store.RedisConfig:
    """The Redis client's configuration from the REDIS_* settings."""
    hosts = tuple((h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in settings.redis_hosts)
    return redis_store.RedisConfig(mode=settings.redis_mode, url=settings.redis_url, hosts=hosts,
                                   master_name=settings.redis_master_name, username=settings.redis_username,
                                   password=settings.redis_password, tls=settings.redis_tls,
                                   tls_cacert=settings.redis_tls_cacert, timeout_seconds=settings.redis_timeout_seconds)


def reconcile_bound(settings: Settings) -> float:
    """Within this, every running worker honours a revocation MongoDB has, whatever the feed did:
    one reconcile period, and two MongoDB reads (the one under way may have just missed it)."""
    return settings.revocation_reconcile_seconds + 2 * settings.mongodb_timeout_ms / 1000


def build_services(settings: Settings,
                   on_auth_failure: Callable[[str], None] | None = None,
                   on_issue: OnIssue = ignore_issue) -> Services:
    c = compose(settings)
    db = mongo_store.connect(settings.mongodb_url, settings.mongodb_database, settings.mongodb_timeout_ms)
    clients = mongo_store.MongoClients(db)
    secrets = mongo_store.MongoCredentials(db)
    redis_client = redis_store.connect(c.redis)
    revocation_store = mongo_store.MongoRevocations(db)
    revocations = Revocations(revocation_store, redis_store.RedisRevocationFeed(redis_client))
    # The worker's copy of every revocation; a check waits at most for one pull (Redis, and
    # MongoDB when the feed started again) before it fails closed.
    mirror = RevocationMirror(revocations.feed, revocation_store, settings.revocation_sync_seconds,
                              wait_seconds=2 * c.redis.timeout_seconds + settings.mongodb_timeout_ms / 1000 + 0.5,
                              reconcile_seconds=settings.revocation_reconcile_seconds)
    limiter = redis_store.RedisRateLimiter(redis_client, settings.auth_failure_window_seconds)
    authenticator = ClientAuthenticator(
        c.client_auth, clients, secrets, redis_store.RedisReplayGuard(redis_client),
        limiter, on_failure=on_auth_failure,
        recent=RecentClients(settings.client_cache_seconds, cut_at=lambda client_id: client_cut_at(mirror, client_id)))
    tokens = TokenService(c.client_credentials, c.keys, authenticator, revocations,
                          settings.admin_token, on_issue=on_issue)
    registry = ClientRegistry(clients, secrets, settings.client_id_hash_salt, settings.client_secret_hash_cost,
                              cut_off=ClientCutOff(revocations, settings.jwt_expires_in,
                                                   settle_seconds=settings.revocation_sync_seconds,
                                                   reconcile_seconds=reconcile_bound(settings)),
                              open_rules=c.registration_rules)
    users, session_log = mongo_store.MongoUsers(db), mongo_store.MongoSessions(db)
    indexes = {"done": False}

    def ensure_indexes() -> None:
        # Retried from /-/ready when MongoDB was down at start-up.
        if not indexes["done"]:
            clients.ensure_indexes()
            revocation_store.ensure_indexes()
            if settings.apps:
                users.ensure_indexes()
                session_log.ensure_indexes()
            indexes["done"] = True

    try:
        ensure_indexes()
    except DependencyUnavailable:
        log.error("MongoDB unreachable at start-up; indexes will be created when it is back")
    gate = http_client.call_gate(settings.outbound_calls_per_worker, settings.outbound_gate_dir,
                                 settings.outbound_calls_per_group)  # one per worker: all its outbound calls
    external = ExternalVerifier(
        c.issuers, http_client.JsonFetcher(settings.outbound_timeout_seconds, gate),
        cache_seconds=settings.jwks_cache_seconds,
        refetch_cooldown=settings.jwks_refetch_cooldown_seconds,
        wait_seconds=2 * settings.outbound_timeout_seconds + 0.5, slots=gate) if settings.issuers else None
    userinfo = UserinfoResolver(c.userinfo, http_client.UserinfoCaller(
        settings.userinfo_url, settings.userinfo_timeout_seconds, gate)) if settings.userinfo_url else None
    spec = settings.introspection
    introspector = Introspector(http_client.IntrospectionCaller(
        spec["endpoint"], spec["client_id"], spec["client_secret"], settings.outbound_timeout_seconds, gate),
        spec["max_cache_seconds"]) if spec else None
    routes = RouteFileWatcher(settings.routes_watch_file, c.routes, load_route_file,
                              settings.routes_reload_interval_seconds) if settings.routes_watch_file else None
    login = sessions = bff = None
    bff_copy: BffCopy | None = None
    admin: UserAdmin | None = None
    documents = redis_store.RedisDocuments(redis_client)
    provider_http = http_client.ProviderClient(settings.outbound_timeout_seconds, gate)
    directory = ProviderDirectory(provider_http)
    if settings.apps:
        assert settings.provider_token_key is not None  # required with apps (settings schema)
        sessions = SessionService(c.apps, c.keys, documents, session_log, users,
                                  Sealer(settings.provider_token_key), revocations, ended=mirror,
                                  on_issue=on_issue)
        login = LoginService(c.apps, settings.default_app_id, directory,
                             provider_http, documents, users, sessions, redis_store.RedisReplayGuard(redis_client),
                             settings.login_state_ttl_seconds,
                             forward_hosts=c.authorizer.dialects.hosts)
    if c.bff:
        assert settings.provider_token_key is not None  # required with bff (settings schema)
        bff = BffService(c.bff, directory, provider_http, documents, RedisBffTokens(redis_client),
                         redis_store.RedisReplayGuard(redis_client), Sealer(settings.provider_token_key),
                         revocations=revocations, ended=mirror)
        # /auth's per-worker copy of active BFF sessions, bounded like the verified-token memory
        bff_copy = BffCopy(bff, mirror, VerifiedCache(settings.verified_token_cache_size,
                                                      settings.verified_token_cache_seconds))
    if sessions is not None:
        # Offboarding ends the user's BFF sessions too (their provider identity's).
        admin = UserAdmin(users, sessions, c.apps, settings.default_app_id, directory=directory, bff=bff)
        if bff is not None:  # and a blocked user cannot log back in through the BFF
            bff.blocked = admin.identity_blocked
    verified = VerifiedCache(settings.verified_token_cache_size, settings.verified_token_cache_seconds)
    own = OwnTokens(settings.jwt_issuer, tokens.verify_signature, mirror.ensure_token_active) \
        if settings.revocation_check else OwnTokens(settings.jwt_issuer, tokens.verify_signature)
    chain = credential_chain(c.credentials, verified, own, external, sessions=sessions, bff=bff_copy,
                             introspector=introspector, userinfo=userinfo,
                             api_keys=c.api_keys if c.api_keys.by_hash else None)
    authorizer = Authorizer(routes or c.routes, c.authorizer, chain)
    return Services(settings=settings, composition=c, registry=registry, tokens=tokens, authorizer=authorizer,
                    checks={"mongodb": clients.ping, "redis": limiter.ping},
                    lifecycle=Lifecycle(), on_ready=ensure_indexes, login=login, sessions=sessions, bff=bff,
                    bff_browser=RedisBrowserSessions(redis_client) if bff is not None else None,
                    users=admin, redis=redis_client, mongo=db, route_watcher=routes, user_records=users,
                    revocation_mirror=mirror)


def services() -> Services:
    """The current process's services (inside a request or app context)."""
    return current_app.extensions["gatehouse"]


# One typed accessor per service for the views (none hands out a tuple to index); each answers
# 404 where its part of Gatehouse is not configured.
NO_LOGIN_APPS = "no login apps are configured"
S = TypeVar("S")


def _configured(svc: S | None, missing: str) -> S:
    if svc is None:
        raise NotFound(missing)
    return svc


def login_service() -> LoginService:
    """The browser login."""
    return _configured(services().login, NO_LOGIN_APPS)


def session_service() -> SessionService:
    """The login sessions."""
    return _configured(services().sessions, NO_LOGIN_APPS)


def user_admin() -> UserAdmin:
    """The user administration (users belong to login apps' realms)."""
    return _configured(services().users, NO_LOGIN_APPS)


def bff_service() -> BffService:
    """The Backend-for-Frontend."""
    return _configured(services().bff, "the BFF is not configured")
