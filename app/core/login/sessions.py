"""Gatehouse login sessions (docs/login.md "The flow"): a signed session JWT, an opaque refresh token stored
hashed and rotated on every use (reuse of a spent one ends the session), provider tokens
sealed server-side, and the session record that makes every JWT of a session revocable."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import tokens
from ..credentials import sha256_hex
from ..errors import DependencyUnavailable, InvalidToken, Unauthenticated
from ..keys import KeySet
from ..limits import ensure_identity_fits
from ..ports import DocumentStore, SessionLog, UserRepository
from ..records import OnIssue, ignore_issue
from ..revocation import ENDED_SESSION as ENDED, Revocations, RevocationView
from ..sealing import Sealer

SESSION = "session"
REFRESH = "refresh"
SPENT = "refresh-spent"
SESSION_TOKEN_TYPE = "JWT"
USER_FIELDS = ("userId", "groups", "email", "name", "username")
# Two tabs refreshing with the same cookie at once: the slower one gets a plain 401 instead of
# ending the session as a replay would. Only a reuse after this long counts as theft.
CONCURRENT_REFRESH_GRACE_SECONDS = 10
# Browsers keep a cookie of at most 4,096 bytes (name=value). A session JWT longer than this
# (many groups, a long name) names its session instead, whose record holds the user: the `sid`
# cookie stays this small whatever the identity.
SESSION_JWT_BUDGET = 3500
USER_IN = "user_in"  # claim of such a JWT: the `user` claim is the session record's


@dataclass(frozen=True)
class CookieConfig:
    secure: bool = True
    same_site: str = "Lax"
    domain: str | None = None


@dataclass(frozen=True)
class AppConfig:
    """One entry of `apps` (Mia's Authentication Service shape)."""

    id: str
    providers: dict[str, Any]  # providerId -> providers.ProviderConfig
    redirect_url: str  # our callback, as registered at the providers
    issuer: str
    realm: str = ""
    default_groups: tuple[str, ...] = ()
    is_website_app: bool = False  # Mia's default: cookies only for website apps
    allowed_redirects: tuple[str, ...] = ()
    default_redirect: str = "/"
    cookie: CookieConfig = CookieConfig()
    session_expires_in: int = 3600
    refresh_expires_in: int = 30 * 86400

    def sorted_providers(self) -> list[Any]:
        return sorted(self.providers.values(), key=lambda p: (p.order, p.id))


@dataclass(frozen=True)
class ProviderSession:
    """Who the provider said the user is at login, to which of our clients, and in which of its
    sessions (ID token `iss`, `sub`, `aud`, `sid`)."""

    issuer: str
    sub: str
    client_id: str
    sid: str | None = None

    def fields(self) -> dict[str, Any]:
        return {"providerIss": self.issuer, "providerSub": self.sub, "providerClient": self.client_id,
                "providerSid": self.sid}


@dataclass(frozen=True)
class IssuedSession:
    access_token: str
    refresh_token: str
    expires_at: int
    sid: str
    app: AppConfig = field(repr=False)

    def body(self) -> dict[str, Any]:
        """Mia's answer shape."""
        return {"accessToken": self.access_token, "refreshToken": self.refresh_token,
                "expireAt": self.expires_at}

    def refresh_body(self) -> dict[str, Any]:
        """POST /refreshtoken: Mia's shape, except for website apps, whose tokens travel only in
        the HttpOnly cookies (a script on the page must not read what the cookies hide)."""
        return {"expireAt": self.expires_at} if self.app.is_website_app else self.body()


digest = sha256_hex  # state, binding and refresh tokens are stored only as their digests


def user_claim(user: dict[str, Any]) -> dict[str, Any]:
    """The `user` claim: identity from the provider, groups from MongoDB. A user past the
    identity limits (core.limits) gets no session: IdentityTooLarge."""
    ensure_identity_fits(user)
    claim = {k: user[k] for k in USER_FIELDS if user.get(k) is not None}
    claim["groups"] = list(user.get("groups") or [])
    if user.get("metadata"):
        claim["metadata"] = user["metadata"]
    return claim


def _user_of(verified: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The whole user claim of a verified session JWT: its own (the groups at its top level, or
    inside it as JWTs signed before the groups travelled once), or its session record's. No
    readable groups: refused, never decided as a user without groups."""
    user = verified.get("user")
    if isinstance(user, dict):
        groups = user.get("groups", verified.get("groups"))
        if isinstance(groups, list):
            return {**user, "groups": groups}
    elif verified.get(USER_IN) == "session":
        held = record.get("user")
        if isinstance(held, dict) and isinstance(held.get("groups"), list):
            return held
        raise InvalidToken("the session record holds no user")
    raise InvalidToken("session token has no user")


class SessionService:
    def __init__(self, apps: dict[str, AppConfig], keys: KeySet, store: DocumentStore, log: SessionLog,
                 users: UserRepository, sealer: Sealer, revocations: Revocations,
                 ended: RevocationView | None = None, clock: Callable[[], float] = time.time,
                 on_issue: OnIssue = ignore_issue) -> None:
        self.apps = apps
        self.on_issue = on_issue
        self.keys = keys
        self.store = store
        self.log = log
        self.users = users
        self.sealer = sealer
        self.clock = clock
        self.issuers = frozenset(a.issuer for a in apps.values())
        # Ended sessions are recorded for good (`revocations`: MongoDB, then the feed); /auth asks
        # the worker's mirror of them (`ended`), or the durable store when there is none.
        self.revocations = revocations
        self.ended: RevocationView = ended if ended is not None else revocations
        self.longest_jwt = max((a.session_expires_in for a in apps.values()), default=3600)

    def _sign(self, app: AppConfig, claim: dict[str, Any], sid: str, remaining: int) -> tuple[str, int]:
        """The session JWT for the user claim `claim`; it never outlives the session (`remaining`
        seconds from now). The groups travel once, at the top level, where resource servers
        (mod_auth_openidc's `Require claim groups:...`, most JWT middlewares) look for them, and
        only while the token fits SESSION_JWT_BUDGET; past it the token carries neither groups nor
        user, and whoever verifies it reads them from the session record (`USER_IN`)."""
        now = int(self.clock())
        exp = now + min(app.session_expires_in, remaining)
        base = {"iss": app.issuer, "sub": claim["userId"], "jti": tokens.new_jti(), "iat": now, "exp": exp, "sid": sid}
        # Groups whose JSON alone, base64url-encoded (4/3), passes the budget cannot fit: not signed
        # with them (such a token may be past the length Gatehouse signs at all).
        if sum(len(group) + 3 for group in claim["groups"]) * 4 // 3 < SESSION_JWT_BUDGET:
            identity = {k: v for k, v in claim.items() if k != "groups"}
            token = tokens.sign(self.keys, {**base, "groups": claim["groups"], "user": identity},
                                typ=SESSION_TOKEN_TYPE)
            if len(token) <= SESSION_JWT_BUDGET:
                return token, exp
        return tokens.sign(self.keys, {**base, USER_IN: "session"}, typ=SESSION_TOKEN_TYPE), exp

    def _new_refresh(self, sid: str, ttl: int) -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        hashed = digest(token)
        self.store.put(REFRESH, hashed, {"sid": sid}, ttl)
        return token, hashed

    def open(self, app: AppConfig, provider_id: str, user: dict[str, Any],
             provider_tokens: dict[str, Any], at_provider: ProviderSession | None = None) -> IssuedSession:
        """A new session (a new sid: never reuse one from before the login). `at_provider`: the
        provider's issuer, subject and session id from the ID token, recorded so that the
        provider's back-channel logout can end the session."""
        claim = user_claim(user)
        sid = secrets.token_urlsafe(24)
        now = int(self.clock())
        refresh, hashed = self._new_refresh(sid, app.refresh_expires_in)
        origin = at_provider.fields() if at_provider is not None else {}
        # The record holds the user claim: /auth reads it (it fetches the record anyway) when the
        # session JWT is too large to carry it, and /userinfo answers it.
        self.store.put(SESSION, sid, {"userId": user["userId"], "appId": app.id, "providerId": provider_id,
                                      "refresh": hashed, "provider": self.sealer.seal(provider_tokens),
                                      "createdAt": now, "user": claim, **origin}, app.refresh_expires_in)
        self.log.opened({"sid": sid, "userId": user["userId"], "appId": app.id, "providerId": provider_id,
                         "createdAt": now, "expiresAt": now + app.refresh_expires_in, **origin})
        access, exp = self._sign(app, claim, sid, app.refresh_expires_in)
        self.on_issue("login", f"provider:{provider_id}", app.id, {"user_id": user["userId"], "exp": exp})
        return IssuedSession(access, refresh, exp, sid, app)

    def verify(self, token: str, unverified: dict[str, Any] | None = None) -> dict[str, Any]:
        """Claims of a valid session JWT whose session is still open (`unverified`: its claims
        as already parsed by the caller, so the hot path decodes the payload once)."""
        verified = self.verify_signature(token, unverified)
        self.ensure_open(verified)
        return verified

    def verify_signature(self, token: str, unverified: dict[str, Any] | None = None) -> dict[str, Any]:
        """The session JWT's signature, type and claims, and that its session was opened here
        (the record exists); whether it has ended since is `ensure_open`'s question, asked on
        every use, while this answer may be cached with the token."""
        tokens.check_length(token)
        claims = unverified if unverified is not None else tokens.unverified_claims(token)
        if not self.is_session_token(claims):
            raise InvalidToken("not a Gatehouse session token")
        verified = tokens.verify_own(token, self.keys, str(claims["iss"]), typ=SESSION_TOKEN_TYPE, now=self.clock())
        record = self.store.get(SESSION, verified["sid"])
        if record is None:
            raise InvalidToken("session has ended or never existed")
        return {**verified, "user": _user_of(verified, record)}

    def ensure_open(self, verified: dict[str, Any]) -> None:
        """Not ended by a logout, a refresh-token replay or an admin revocation (asked of the
        worker's mirror of ended sessions; a session that reaches its fixed end needs nothing:
        its JWTs expire with it)."""
        if self.ended.find(((ENDED, verified["sid"]),)):
            raise InvalidToken("session has ended")

    def is_session_token(self, claims: dict[str, Any]) -> bool:
        issuer = claims.get("iss")
        return isinstance(issuer, str) and issuer in self.issuers and isinstance(claims.get("sid"), str)

    def refresh(self, refresh_token: str) -> IssuedSession:
        """Rotate: the presented token is spent and a new one issued in one atomic step, only
        once everything needed for the new pair was read (a MongoDB outage leaves the token
        usable for a retry); reuse of a spent token ends the session."""
        hashed = digest(refresh_token)
        now = self.clock()
        record = self.store.get(REFRESH, hashed)
        if record is None:
            spent = self.store.get(SPENT, hashed)
            if spent is not None and now - spent.get("spentAt", 0) > CONCURRENT_REFRESH_GRACE_SECONDS:
                self.end([spent["sid"]])
                raise Unauthenticated("refresh token was already used; the session has been ended")
            raise Unauthenticated("refresh token is invalid, expired or already used")
        sid = record["sid"]
        session = self.store.get(SESSION, sid)
        app = self.apps.get(session["appId"]) if session else None
        # An ended session stays ended even if its records come back (Redis restored from an
        # older copy): the durable record of ended sessions is asked too.
        if session is None or app is None or self.ended.find(((ENDED, sid),)):
            raise Unauthenticated("the session has ended")
        # A session ends at a fixed time (the MongoDB record expires then too); refreshes
        # never extend it.
        remaining = int(session["createdAt"] + app.refresh_expires_in - now)
        if remaining <= 0:
            self.end([sid])
            raise Unauthenticated("the session has expired")
        user = self.users.get(session["userId"])
        if user is None or user.get("blocked") is True:
            self.end([sid])
            raise Unauthenticated("the user no longer exists or is blocked")
        claim = user_claim(user)
        refresh = secrets.token_urlsafe(32)
        new_hash = digest(refresh)
        access, exp = self._sign(app, claim, sid, remaining)
        outcome = self.store.swap(
            take=(REFRESH, hashed),
            puts=[(SPENT, hashed, {"sid": sid, "spentAt": now}, remaining),
                  (REFRESH, new_hash, {"sid": sid}, remaining)],
            replace=(SESSION, sid, {**session, "refresh": new_hash, "user": claim}, remaining))
        if outcome == "taken":  # another request spent it a moment ago (two tabs): not theft
            raise Unauthenticated("refresh token is invalid, expired or already used")
        if outcome == "gone":  # a logout or revocation that ran meanwhile wins
            raise Unauthenticated("the session has ended")
        self.on_issue("refresh_token", "refresh_token", app.id, {"user_id": session["userId"], "exp": exp})
        return IssuedSession(access, refresh, exp, sid, app)

    def session_of(self, token: str | None) -> tuple[str, dict[str, Any]] | None:
        """The sid and record named by a session JWT, even an expired one (logout)."""
        if not token:
            return None
        try:
            claims = tokens.unverified_claims(token)
            if not self.is_session_token(claims):
                return None
            # Logout must work with an expired session token; the signature still has to hold.
            verified = tokens.verify_own(token, self.keys, str(claims["iss"]), verify_exp=False,
                                         typ=SESSION_TOKEN_TYPE)
        except InvalidToken:
            return None
        record = self.store.get(SESSION, verified["sid"])
        return (verified["sid"], record) if record is not None else None

    def end(self, sids: list[str]) -> int:
        """End sessions: their records and current refresh tokens go; counts those still open.
        Recorded for good first (MongoDB, then the workers' mirrors): if a later step fails,
        the session's JWTs and refresh token are refused all the same. So with Redis down the
        session is ended once MongoDB has it; its records in Redis are left to their TTL (every
        one of them counted as open: nothing tells otherwise)."""
        self.publish_ended(sids)
        open_count = 0
        try:
            for sid in sids:
                record = self.store.take(SESSION, sid)
                if record is not None:
                    open_count += 1
                    self.store.delete(REFRESH, [record["refresh"]])
        except DependencyUnavailable:
            open_count = len(sids)
        if sids:
            self.log.ended(sids, int(self.clock()))
        return open_count

    def publish_ended(self, sids: list[str]) -> None:
        """Record the sessions as ended for good: durably, then to every worker."""
        until = self.clock() + self.longest_jwt + tokens.OWN_TOKEN_LEEWAY_SECONDS
        for sid in sids:
            self.revocations.revoke(ENDED, sid, until)

    def forget(self, token: str | None) -> None:
        """Logout with a validly signed session JWT whose record is already gone (an earlier
        logout that failed half-way) or out of reach (Redis down): end it all the same."""
        if not token:
            return
        try:
            claims = tokens.unverified_claims(token)
            if self.is_session_token(claims):
                verified = tokens.verify_own(token, self.keys, str(claims["iss"]), verify_exp=False,
                                             typ=SESSION_TOKEN_TYPE)
                self.end([verified["sid"]])
        except InvalidToken:
            return

    def revoke_user(self, user_id: str) -> int:
        """DELETE /sessions/<userId>: every session of the user; the number that were open."""
        return self.end(self.log.active_sids(user_id))

    def at_provider(self, issuer: str, client_ids: list[str], provider_sid: str | None,
                    provider_sub: str | None) -> list[str]:
        """The open sessions logged in through one of our clients at a provider, in its session
        `provider_sid`, or else as its subject `provider_sub` (back-channel logout)."""
        return self.log.active_at_provider(issuer, client_ids, provider_sid, provider_sub)

    def provider_tokens(self, record: dict[str, Any]) -> dict[str, Any] | None:
        return self.sealer.open(record.get("provider"))
