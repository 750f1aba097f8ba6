"""Per-process clients and core services, built after the gunicorn fork (preload_app = False)
and kept in app.extensions["gatehouse"]."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import current_app

from .adapters import http_client, mongo, redis_store
from .adapters.bff_store import RedisBffTokens, RedisBrowserSessions
from .adapters.route_file import RouteFileWatcher
from .core.bff import BffCopy, BffService
from .core.client_auth import ClientAuthenticator, RecentClients
from .core.clients import ClientRegistry
from .core.errors import DependencyUnavailable, NotFound
from .core.ports import BrowserSessionStore
from .core.login import LoginService
from .core.records import OnIssue, ignore_issue
from .core.machine_tokens import TokenService
from .core.providers import ProviderDirectory
from .core.sealing import Sealer
from .core.revocation import ClientCutOff, RevocationMirror, Revocations, client_cut_at
from .core.sessions import SessionService
from .core.tokens import VerifiedCache
from .core.users import UserAdmin
from .core.policy.authorizer import Authorizer
from .core.policy.external import ExternalVerifier
from .core.policy.resolvers import Introspector, UserinfoResolver
from .settings import Settings, load_route_file

log = logging.getLogger("gatehouse.services")


@dataclass
class Lifecycle:
    """Set when SIGTERM arrives: /-/ready answers 503 during DELAY_SHUTDOWN_SECONDS."""

    shutting_down: threading.Event = field(default_factory=threading.Event)


@dataclass
class Services:
    settings: Settings
    registry: ClientRegistry
    tokens: TokenService
    authorizer: Authorizer
    checks: dict[str, Callable[[], None]]
    lifecycle: Lifecycle
    login: LoginService | None = None
    sessions: SessionService | None = None
    bff: BffService | None = None
    # flask-session's store for the BFF views' browser sessions (app/blueprints/bff.py)
    bff_browser: BrowserSessionStore | None = None
    users: UserAdmin | None = None
    on_ready: Callable[[], None] = lambda: None
    extra: dict[str, Any] = field(default_factory=dict)

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


def build_services(settings: Settings,
                   on_auth_failure: Callable[[str], None] | None = None,
                   on_issue: OnIssue = ignore_issue) -> Services:
    db = mongo.connect(settings.mongodb_url, settings.mongodb_database, settings.mongodb_timeout_ms)
    clients = mongo.MongoClients(db)
    secrets = mongo.MongoCredentials(db)
    redis_client = redis_store.connect(settings.redis)
    revocation_store = mongo.MongoRevocations(db)
    revocations = Revocations(revocation_store, redis_store.RedisRevocationFeed(redis_client))
    # The worker's copy of every revocation; a check waits at most for one pull (Redis, and
    # MongoDB when the feed started again) before it fails closed.
    mirror = RevocationMirror(revocations.feed, revocation_store, settings.revocation_sync_seconds,
                              wait_seconds=2 * settings.redis.timeout_seconds + settings.mongodb_timeout_ms / 1000 + 0.5)
    limiter = redis_store.RedisRateLimiter(redis_client, settings.auth_failure_window_seconds)
    authenticator = ClientAuthenticator(
        settings.client_auth(), clients, secrets, redis_store.RedisReplayGuard(redis_client),
        limiter, on_failure=on_auth_failure,
        recent=RecentClients(settings.client_cache_seconds, cut_at=lambda client_id: client_cut_at(mirror, client_id)))
    tokens = TokenService(settings.client_credentials(), settings.keys, authenticator, revocations,
                          settings.admin_token, on_issue=on_issue)
    registry = ClientRegistry(clients, secrets, settings.client_id_hash_salt, settings.client_secret_hash_cost,
                              cut_off=ClientCutOff(revocations, settings.jwt_expires_in,
                                                   settle_seconds=settings.revocation_sync_seconds),
                              open_rules=settings.open_registration_rules)
    users, session_log = mongo.MongoUsers(db), mongo.MongoSessions(db)
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
    gate = http_client.CallGate(settings.outbound_calls_per_worker)  # one per worker: all its outbound calls
    external = ExternalVerifier(
        settings.issuers, http_client.JsonFetcher(settings.outbound_timeout_seconds, gate),
        cache_seconds=settings.jwks_cache_seconds,
        refetch_cooldown=settings.jwks_refetch_cooldown_seconds,
        wait_seconds=2 * settings.outbound_timeout_seconds + 0.5) if settings.issuers else None
    userinfo = UserinfoResolver(settings.userinfo, http_client.UserinfoCaller(
        settings.userinfo_url, settings.userinfo_timeout_seconds, gate)) if settings.userinfo_url else None
    spec = settings.introspection
    introspector = Introspector(http_client.IntrospectionCaller(
        spec["endpoint"], spec["client_id"], spec["client_secret"], settings.outbound_timeout_seconds, gate),
        spec["max_cache_seconds"]) if spec else None
    routes = RouteFileWatcher(settings.routes_watch_file, settings.routes, load_route_file,
                              settings.routes_reload_interval_seconds) if settings.routes_watch_file else None
    login = sessions = bff = None
    bff_copy: BffCopy | None = None
    admin: UserAdmin | None = None
    documents = redis_store.RedisDocuments(redis_client)
    provider_http = http_client.ProviderClient(settings.outbound_timeout_seconds, gate)
    directory = ProviderDirectory(provider_http)
    if settings.apps:
        assert settings.provider_token_key is not None  # required with apps (settings schema)
        sessions = SessionService(settings.apps, settings.keys, documents, session_log, users,
                                  Sealer(settings.provider_token_key), revocations, ended=mirror,
                                  on_issue=on_issue)
        login = LoginService(settings.apps, settings.default_app_id, directory,
                             provider_http, documents, users, sessions, redis_store.RedisReplayGuard(redis_client),
                             settings.login_state_ttl_seconds,
                             forward_hosts=settings.authorizer.dialects.hosts)
        admin = UserAdmin(users, sessions, settings.apps, settings.default_app_id)
    if settings.bff:
        assert settings.provider_token_key is not None  # required with bff (settings schema)
        bff = BffService(settings.bff, directory, provider_http, documents, RedisBffTokens(redis_client),
                         redis_store.RedisReplayGuard(redis_client), Sealer(settings.provider_token_key),
                         revocations=revocations, ended=mirror)
        # /auth's per-worker copy of active BFF sessions, bounded like the verified-token memory
        bff_copy = BffCopy(bff, mirror, VerifiedCache(settings.verified_token_cache_size,
                                                      settings.verified_token_cache_seconds))
    verified = VerifiedCache(settings.verified_token_cache_size, settings.verified_token_cache_seconds)
    authorizer = Authorizer(routes or settings.routes, settings.authorizer, tokens.verify_signature, external,
                            own_issuer=settings.jwt_issuer, userinfo=userinfo,
                            api_keys=settings.api_keys if settings.api_keys.by_hash else None,
                            introspector=introspector, sessions=sessions, bff=bff_copy,
                            own_token_active=mirror.ensure_token_active if settings.revocation_check else None,
                            verified=verified)
    return Services(settings=settings, registry=registry, tokens=tokens, authorizer=authorizer,
                    checks={"mongodb": clients.ping, "redis": limiter.ping},
                    lifecycle=Lifecycle(), on_ready=ensure_indexes, login=login, sessions=sessions, bff=bff,
                    bff_browser=RedisBrowserSessions(redis_client) if bff is not None else None,
                    users=admin,
                    extra={"redis": redis_client, "mongo": db, "routes": routes, "users": users,
                           "revocations": mirror})


def services() -> Services:
    """The current process's services (inside a request or app context)."""
    return current_app.extensions["gatehouse"]  # type: ignore[no-any-return]


def user_admin() -> UserAdmin:
    """The user administration; 404 where no login app is configured (users belong to apps'
    realms)."""
    svc = services().users
    if svc is None:
        raise NotFound("no login apps are configured")
    return svc


def login_services() -> tuple[LoginService, SessionService]:
    """The login and session services; 404 where no login app is configured."""
    svc = services()
    if svc.login is None or svc.sessions is None:
        raise NotFound("no login apps are configured")
    return svc.login, svc.sessions
