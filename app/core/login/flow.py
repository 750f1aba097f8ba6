"""Browser login through an external provider (Mia's Authentication Service; docs/login.md
"The flow").

/authorize: a random single-use `state` kept in Redis for a short TTL with the app, provider,
redirect, PKCE verifier and nonce, bound to the browser by a per-login cookie whose hash the
state holds (two tabs each get their own). Completion: the state is taken (GETDEL) once, the
binding checked, the code redeemed with the verifier, the ID token checked, the user merged
and a session opened. Any refusal happens before anything is written.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlencode, urljoin

from . import providers
from .backchannel import verify_logout_token
from ..errors import DependencyUnavailable, Forbidden, NotFound
from .attempts import LoginAttempts, LoginStart, required_param
from ..external_tokens import ExternalVerifier
from ..ports import DocumentStore, ReplayGuard, UserRepository
from ..redirects import origin, safe_redirect
from .sessions import AppConfig, IssuedSession, ProviderSession, SessionService
from .users import is_blocked

LOGIN = "login"
BINDING_COOKIE_PREFIX = "gatehouse_login_"


@dataclass(frozen=True)
class LoginResult:
    session: IssuedSession
    redirect: str
    binding_cookie: str


@dataclass(frozen=True)
class LogoutResult:
    location: str
    app: AppConfig


class LoginService:
    def __init__(self, apps: dict[str, AppConfig], default_app: str | None, directory: providers.ProviderDirectory,
                 http: providers.ProviderHttp, store: DocumentStore, users: UserRepository,
                 sessions: SessionService, replay: ReplayGuard, state_ttl: int = 120,
                 clock: Callable[[], float] = time.time, forward_hosts: tuple[str, ...] = ()) -> None:
        self.apps = apps
        # FORWARD_AUTH_HOSTS: a return target anywhere on these hosts is accepted (ingress-nginx's
        # `rd` and the check's login redirect name the original absolute URL).
        self.forward_hosts = forward_hosts
        self.replay = replay
        self.default_app = default_app
        self.directory = directory
        self.http = http
        self.store = store
        self.users = users
        self.sessions = sessions
        self.attempts = LoginAttempts(store, LOGIN, BINDING_COOKIE_PREFIX, state_ttl)
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
        return safe_redirect(redirect, app.allowed_redirects, app.default_redirect, hosts=self.forward_hosts)

    def start(self, app_id: str | None, provider_id: str | None, redirect: str | None) -> LoginStart:
        """GET /authorize: where to send the browser, and the cookie that binds the login to it."""
        app = self.app(app_id)
        provider = self._provider(app, provider_id)
        target = self.redirect_target(app, redirect)
        endpoints = self.directory.endpoints(app.id, provider)
        return self.attempts.begin(provider, endpoints, app.redirect_url,
                                   {"appId": app.id, "providerId": provider.id, "redirect": target})

    def complete(self, code: str | None, state: str | None, cookies: Mapping[str, str],
                 known: Callable[[str, str], None] | None = None) -> LoginResult:
        """POST /oauth/token {code, state}: the state is spent whatever happens next. `known`
        hears the login's app and validated return target as soon as the state is checked, so a
        refusal after it (a blocked account, the provider down) can offer to start over there."""
        code = required_param(code, "code")
        record, cookie_name = self.attempts.take(state, cookies)
        if known is not None:
            known(str(record["appId"]), str(record["redirect"]))
        app = self.app(record["appId"])
        provider = self._provider(app, record["providerId"])
        endpoints, verifier = self.directory.resolve(app.id, provider)
        answer = providers.redeem_code(self.http, provider, endpoints, code, app.redirect_url, record["verifier"])
        claims = providers.check_id_token(verifier, answer.get("id_token"), record["nonce"],
                                          answer["access_token"]) \
            if verifier is not None else {}
        user_doc = providers.fetch_user_doc(self.http, endpoints, answer["access_token"], provider, claims)
        profile = providers.profile(provider, claims, user_doc)
        user = self.users.merge_login(app.realm, provider.id, {
            "providerUserId": profile.provider_user_id, "name": profile.name, "email": profile.email,
            "username": profile.username, "emailVerified": profile.email_verified},
            list(app.default_groups), int(self.clock()))
        if is_blocked(user):
            raise Forbidden("this account is blocked")
        expires_in = answer.get("expires_in")
        provider_tokens = {k: answer[k] for k in ("access_token", "refresh_token", "id_token") if isinstance(answer.get(k), str)}
        if isinstance(expires_in, int):
            provider_tokens["expires_at"] = int(self.clock()) + expires_in
        at_provider = ProviderSession(str(claims["iss"]), str(claims["sub"]), provider.client_id,
                                      claims["sid"] if isinstance(claims.get("sid"), str) and claims["sid"] else None) \
            if claims else None
        session = self.sessions.open(app, provider.id, user, provider_tokens, at_provider)
        # Blocked while this login was under way: the block ends the sessions it finds, and this
        # one may have been opened just after it looked.
        if is_blocked(self.users.get(user["userId"])):
            self.sessions.end([session.sid])
            raise Forbidden("this account is blocked")
        return LoginResult(session, record["redirect"], cookie_name)

    def backchannel_logout(self, logout_token: str | None) -> int:
        """POST /web-login/backchannel-logout (OIDC Back-Channel Logout 1.0): the provider is the
        one whose issuer signed the token, for the client its `aud` names (any app's); the
        sessions logged in at that provider session `sid` (else as that `sub`) end."""
        request = verify_logout_token(logout_token, self._verifiers, self.replay, "login-logout-jti", self.clock)
        return self.sessions.end(self.sessions.at_provider(request.issuer, list(request.audiences), request.sid,
                                                           request.sub))

    def _verifiers(self, issuer: str) -> list[ExternalVerifier]:
        """The ID-token verifiers of every OIDC provider of every app whose issuer is `issuer`.
        A provider whose discovery fails is skipped, unless no other one matches (503)."""
        found: list[ExternalVerifier] = []
        unavailable: DependencyUnavailable | None = None
        for app in self.apps.values():
            for provider in app.providers.values():
                if not provider.oidc:
                    continue
                try:
                    _, verifier = self.directory.resolve(app.id, provider)
                except DependencyUnavailable as exc:
                    unavailable = unavailable or exc
                    continue
                if verifier is not None and verifier.knows(issuer):
                    found.append(verifier)
        if not found and unavailable is not None:
            raise unavailable
        return found

    def logout(self, token: str | None, redirect: str | None) -> LogoutResult:
        """End the session here, then (OIDC) at the provider with id_token_hint (RP-Initiated
        Logout 1.0 §2); the browser lands on the validated redirect either way. Redis down: the
        session is ended here all the same (once MongoDB has it), without the provider step,
        which needs the session's record."""
        try:
            found = self.sessions.session_of(token)
        except DependencyUnavailable:
            self.sessions.forget(token)
            app = self.app(None)
            return LogoutResult(self.redirect_target(app, redirect), app)
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
        base = origin(app.redirect_url)
        params = {"id_token_hint": provider_tokens["id_token"], "client_id": provider.client_id,
                  "post_logout_redirect_uri": urljoin(base + "/", target)}
        sep = "&" if "?" in endpoints.end_session else "?"
        return LogoutResult(f"{endpoints.end_session}{sep}{urlencode(params)}", app)

    def provider_list(self, app_id: str | None) -> list[dict[str, Any]]:
        return [p.public_view() for p in self.app(app_id).sorted_providers()]
