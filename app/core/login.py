"""Browser login through an external provider (SPEC §2.2, §4; Mia's Authentication Service).

/authorize: a random single-use `state` kept in Redis for a short TTL with the app, provider,
redirect, PKCE verifier and nonce, bound to the browser by a per-login cookie whose hash the
state holds (two tabs each get their own). Completion: the state is taken (GETDEL) once, the
binding checked, the code redeemed with the verifier, the ID token checked, the user merged
and a session opened. Any refusal happens before anything is written.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlencode, urljoin, urlsplit

from . import providers
from .errors import BadRequest, LoginFailed, NotFound
from .ports import DocumentStore, UserRepository
from .redirects import safe_redirect
from .sessions import AppConfig, IssuedSession, SessionService, digest

LOGIN = "login"
BINDING_COOKIE_PREFIX = "gatehouse_login_"
MAX_PARAM_LENGTH = 2048


@dataclass(frozen=True)
class LoginStart:
    url: str
    cookie_name: str
    cookie_value: str
    ttl: int


@dataclass(frozen=True)
class LoginResult:
    session: IssuedSession
    redirect: str
    binding_cookie: str


@dataclass(frozen=True)
class LogoutResult:
    location: str
    app: AppConfig


def binding_cookie_name(state: str) -> str:
    """One cookie per login in flight, so two tabs logging in at once do not collide."""
    return BINDING_COOKIE_PREFIX + digest(state)[:16]


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2, S256."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def required_param(value: str | None, name: str) -> str:
    if not value:
        raise BadRequest(f"parameter {name} is required")
    if len(value) > MAX_PARAM_LENGTH:
        raise BadRequest(f"parameter {name} is too long")
    return value


class LoginService:
    def __init__(self, apps: dict[str, AppConfig], default_app: str | None, directory: providers.ProviderDirectory,
                 http: providers.ProviderHttp, store: DocumentStore, users: UserRepository,
                 sessions: SessionService, state_ttl: int = 120, clock: Callable[[], float] = time.time) -> None:
        self.apps = apps
        self.default_app = default_app
        self.directory = directory
        self.http = http
        self.store = store
        self.users = users
        self.sessions = sessions
        self.state_ttl = state_ttl
        self.clock = clock

    def app(self, app_id: str | None) -> AppConfig:
        """The app named, or the default app (nginx's login redirect names none)."""
        app_id = app_id or self.default_app
        if not app_id or app_id not in self.apps:
            raise NotFound("unknown appId")
        return self.apps[app_id]

    def _provider(self, app: AppConfig, provider_id: str | None) -> providers.ProviderConfig:
        if not provider_id or provider_id not in app.providers:
            raise NotFound("unknown providerId for this app")
        provider: providers.ProviderConfig = app.providers[provider_id]
        return provider

    def redirect_target(self, app: AppConfig, redirect: str | None) -> str:
        return safe_redirect(redirect, app.allowed_redirects, app.default_redirect)

    def start(self, app_id: str | None, provider_id: str | None, redirect: str | None) -> LoginStart:
        """GET /authorize: where to send the browser, and the cookie that binds the login to it."""
        app = self.app(app_id)
        provider = self._provider(app, provider_id)
        target = self.redirect_target(app, redirect)
        endpoints = self.directory.endpoints(app.id, provider)
        state, verifier, nonce, binding = (secrets.token_urlsafe(32), secrets.token_urlsafe(48),
                                           secrets.token_urlsafe(24), secrets.token_urlsafe(32))
        self.store.put(LOGIN, digest(state), {
            "appId": app.id, "providerId": provider.id, "redirect": target, "verifier": verifier,
            "nonce": nonce, "binding": digest(binding)}, self.state_ttl)
        url = providers.authorization_url(provider, endpoints, app.redirect_url, state,
                                          pkce_challenge(verifier), nonce)
        return LoginStart(url, binding_cookie_name(state), binding, self.state_ttl)

    def complete(self, code: str | None, state: str | None, cookies: Mapping[str, str]) -> LoginResult:
        """POST /oauth/token {code, state}: the state is spent whatever happens next."""
        code, state = required_param(code, "code"), required_param(state, "state")
        record = self.store.take(LOGIN, digest(state))
        if record is None:
            raise LoginFailed("the login state is unknown, expired or already used")
        cookie_name = binding_cookie_name(state)
        binding = cookies.get(cookie_name) or ""
        if not hmac.compare_digest(digest(binding), record["binding"]):
            raise LoginFailed("the login was started in another browser")
        app = self.app(record["appId"])
        provider = self._provider(app, record["providerId"])
        endpoints, verifier = self.directory.resolve(app.id, provider)
        answer = providers.redeem_code(self.http, provider, endpoints, code, app.redirect_url, record["verifier"])
        claims = providers.check_id_token(verifier, answer.get("id_token"), record["nonce"],
                                          answer["access_token"]) \
            if verifier is not None else {}
        user_doc = providers.fetch_user_doc(self.http, endpoints, answer["access_token"])
        profile = providers.profile(provider, claims, user_doc)
        user = self.users.merge_login(app.realm, provider.id, {
            "providerUserId": profile.provider_user_id, "name": profile.name, "email": profile.email,
            "username": profile.username}, list(app.default_groups), int(self.clock()))
        expires_in = answer.get("expires_in")
        provider_tokens = {k: answer[k] for k in ("access_token", "refresh_token", "id_token") if isinstance(answer.get(k), str)}
        if isinstance(expires_in, int):
            provider_tokens["expires_at"] = int(self.clock()) + expires_in
        session = self.sessions.open(app, provider.id, user, provider_tokens)
        return LoginResult(session, record["redirect"], cookie_name)

    def logout(self, token: str | None, redirect: str | None) -> LogoutResult:
        """End the session here, then (OIDC) at the provider with id_token_hint (RP-Initiated
        Logout 1.0 §2); the browser lands on the validated redirect either way."""
        found = self.sessions.session_of(token)
        app = self.app(found[1]["appId"] if found else None)
        target = self.redirect_target(app, redirect)
        if found is None:
            self.sessions.forget(token)
            return LogoutResult(target, app)
        sid, record = found
        provider_tokens = self.sessions.provider_tokens(record) or {}
        self.sessions.end([sid])
        provider = app.providers.get(record["providerId"])
        if provider is None or not provider.oidc or not provider_tokens.get("id_token"):
            return LogoutResult(target, app)
        endpoints = self.directory.endpoints(app.id, provider)
        if not endpoints.end_session:
            return LogoutResult(target, app)
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(app.redirect_url))
        params = {"id_token_hint": provider_tokens["id_token"], "client_id": provider.client_id,
                  "post_logout_redirect_uri": urljoin(origin + "/", target)}
        sep = "&" if "?" in endpoints.end_session else "?"
        return LogoutResult(f"{endpoints.end_session}{sep}{urlencode(params)}", app)

    def provider_list(self, app_id: str | None) -> list[dict[str, Any]]:
        return [p.public_view() for p in self.app(app_id).sorted_providers()]
