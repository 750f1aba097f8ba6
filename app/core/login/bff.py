"""Backend-for-Frontend (docs/bff.md): Gatehouse is the SPA's confidential OIDC client, keeps the
provider's tokens server-side and gives the browser one opaque cookie.

Login state and completion as for the browser login, bound by a short-lived Lax cookie (the Strict
session cookie does not come back on the provider's cross-site redirect). On every use the access
token is refreshed near its expiry, one refresh per session at a time (a Redis lock); a refused
refresh ends the session. Back-channel logout ends the sessions of a provider `sid` or `sub`.
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

from . import providers
from .backchannel import verify_logout_token
from ..errors import BadRequest, DependencyUnavailable, Forbidden, InvalidToken, LoginFailed
from ..limits import ensure_identity_fits
from .attempts import MAX_PARAM_LENGTH, LoginAttempts, LoginStart, required_param
from ..principal import Principal
from ..external_tokens import ExternalVerifier
from ..ports import BffTokenStore, DocumentStore, ReplayGuard
from ..redirects import origin, safe_redirect
from ..revocation import ENDED_BFF_SESSION as ENDED, MirroredView, Revocations, RevocationView
from ..sealing import Sealer
from .sessions import digest
from ..verified_cache import VerifiedCache

MODES = ("bff", "tokenExchange")
LOGIN_STATE = "bff-login"
LOGOUT_STATE = "bff-logout"
BINDING_COOKIE_PREFIX = "gatehouse_bff_"
SESSION_VERSION = 1
# flask-session's ids: secrets.token_urlsafe(32) -> 43 URL-safe characters.
SESSION_ID = re.compile(r"^[A-Za-z0-9_\-]{32,64}$")
USER_CLAIMS = ("sub", "name", "given_name", "family_name", "preferred_username", "email", "email_verified",
               "picture", "locale")


@dataclass(frozen=True)
class BffConfig:
    mode: str
    provider: providers.ProviderConfig
    redirect_url: str  # our /bff/oauth/callback, as registered at the provider
    post_logout_redirect_url: str  # our /bff/logout/callback, as registered at the provider
    cookie_name: str = "__Host-gatehouse"
    default_redirect: str = "/"
    allowed_redirects: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()  # for the CSRF check of POST /bff/*
    csrf_header: str = "X-CSRF"
    session_lifetime: int = 8 * 3600
    refresh_margin: int = 30
    refresh_wait_seconds: float = 10.0  # how long a request waits for another one's refresh
    # how long a refresh may hold the lock: longer than the worst-case provider calls it covers
    refresh_lock_seconds: float = 30.0
    state_ttl: int = 120
    groups_claim: str = "groups"

    @property
    def token_exchange(self) -> bool:
        return self.mode == "tokenExchange"


@dataclass(frozen=True)
class BffLogin:
    document: dict[str, Any] = field(repr=False)
    redirect: str
    binding_cookie: str


@dataclass(frozen=True)
class Active:
    """A live session and its current access token."""

    sid: str
    document: dict[str, Any] = field(repr=False)
    access_token: str = field(repr=False)
    access_expires_at: int = 0


def index_keys(issuer: str, sub: str | None, provider_sid: str | None) -> list[str]:
    """Where back-channel logout finds a session: by the provider's session id and by subject."""
    keys = []
    if provider_sid:
        keys.append("sid:" + digest(f"{issuer}|{provider_sid}"))
    if sub:
        keys.append("sub:" + digest(f"{issuer}|{sub}"))
    return keys


class BffService:
    def __init__(self, cfg: BffConfig, directory: providers.ProviderDirectory, http: providers.ProviderHttp,
                 states: DocumentStore, records: BffTokenStore, replay: ReplayGuard, sealer: Sealer,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 revocations: Revocations | None = None, ended: RevocationView | None = None) -> None:
        self.cfg = cfg
        # Ended BFF sessions are recorded for good (durably, then to every worker), so a session
        # store restored from an older copy cannot bring one back.
        self.revocations = revocations
        self.ended = ended if ended is not None else revocations
        self.directory = directory
        self.http = http
        self.states = states
        self.attempts = LoginAttempts(states, LOGIN_STATE, BINDING_COOKIE_PREFIX, cfg.state_ttl)
        self.records = records
        self.replay = replay
        self.sealer = sealer
        self.clock = clock
        self.sleep = sleep
        # POST /bff/* and state-changing /auth calls must come from here (CSRF)
        self.origins = frozenset({*cfg.allowed_origins, origin(cfg.redirect_url).lower()})
        # (issuer, sub) -> is a blocked Gatehouse user linked to this provider identity? Set
        # where login apps (and so users) exist: an offboarded user cannot log back in here.
        self.blocked: Callable[[str, str], bool] | None = None

    # -- login -------------------------------------------------------------------------------

    def redirect_target(self, redirect: str | None) -> str:
        return safe_redirect(redirect, self.cfg.allowed_redirects, self.cfg.default_redirect)

    def _resolve(self) -> tuple[providers.Endpoints, Any]:
        return self.directory.resolve("bff", self.cfg.provider)

    def start(self, redirect: str | None) -> LoginStart:
        """GET /bff/login: authorization code + PKCE S256 + nonce as a confidential client."""
        target = self.redirect_target(redirect)
        endpoints, _ = self._resolve()
        return self.attempts.begin(self.cfg.provider, endpoints, self.cfg.redirect_url, {"redirect": target})

    def complete(self, code: str | None, state: str | None, cookies: Mapping[str, str]) -> BffLogin:
        """GET /bff/oauth/callback: the state is spent whatever happens next; nothing is stored
        before every check has passed."""
        code = required_param(code, "code")
        record, cookie_name = self.attempts.take(state, cookies)
        endpoints, verifier = self._resolve()
        answer = providers.redeem_code(self.http, self.cfg.provider, endpoints, code, self.cfg.redirect_url,
                                       record["verifier"])
        claims = providers.check_id_token(verifier, answer.get("id_token"), record["nonce"], answer["access_token"])
        self._refuse_blocked(str(claims["iss"]), str(claims["sub"]))
        now = int(self.clock())
        user = {k: claims[k] for k in USER_CLAIMS if k in claims}
        groups = claims.get(self.cfg.groups_claim)
        user["groups"] = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []
        ensure_identity_fits(user)  # before anything is stored
        document = {
            "v": SESSION_VERSION, "iss": claims["iss"], "sub": claims["sub"],
            "psid": claims.get("sid") if isinstance(claims.get("sid"), str) else None,
            "user": user, "createdAt": now, "expiresAt": now + self.cfg.session_lifetime,
            "atExp": self._access_expiry(answer, now),
            "tokens": self.sealer.seal({k: answer[k] for k in ("access_token", "refresh_token", "id_token")
                                        if isinstance(answer.get(k), str)}),
        }
        return BffLogin(document, record["redirect"], cookie_name)

    @staticmethod
    def _access_expiry(answer: dict[str, Any], now: int) -> int:
        expires_in = answer.get("expires_in")
        if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0:
            return now + expires_in
        return now + 300  # the provider did not say: treat the token as short-lived

    def open(self, sid: str, document: dict[str, Any], replaced: str | None = None) -> None:
        """Store a new session's record under `sid`, the browser session's newly generated id,
        indexed for back-channel logout; the session this browser held before (`replaced`) ends."""
        if replaced and replaced != sid and self.valid_id(replaced):
            self.end([replaced])
        self.records.create(sid, document, self.cfg.session_lifetime,
                            index_keys(document["iss"], document["sub"], document.get("psid")))
        # Blocked while this login was under way: the block ends the sessions it finds, and this
        # one may have been stored just after it looked.
        try:
            self._refuse_blocked(document["iss"], document["sub"])
        except Forbidden:
            self.end([sid])
            raise

    def _refuse_blocked(self, issuer: str, sub: str) -> None:
        if self.blocked is not None and self.blocked(issuer, sub):
            raise Forbidden("this account is blocked")

    @property
    def cookie_name(self) -> str:
        return self.cfg.cookie_name

    # -- use ---------------------------------------------------------------------------------

    @staticmethod
    def valid_id(sid: str | None) -> bool:
        return bool(sid) and SESSION_ID.match(sid or "") is not None

    def _usable(self, document: dict[str, Any] | None) -> dict[str, Any] | None:
        if not isinstance(document, dict) or document.get("v") != SESSION_VERSION:
            return None
        if not isinstance(document.get("expiresAt"), int) or document["expiresAt"] <= self.clock():
            return None
        return document

    def _tokens(self, document: dict[str, Any]) -> dict[str, Any]:
        return self.sealer.open(document.get("tokens")) or {}

    def active(self, sid: str | None) -> Active | None:
        """The session and a valid access token, refreshed first when it is within the margin
        of expiry. None: no such session, or it has ended (a refused refresh ends it)."""
        if not self.valid_id(sid):
            return None
        assert sid is not None
        doc = self._usable(self.records.load(sid))
        if doc is None or (self.ended is not None and self.ended.find(((ENDED, sid),))):
            return None
        now = self.clock()
        sealed = self._tokens(doc)
        if not sealed.get("access_token"):
            return None
        if doc["atExp"] - self.cfg.refresh_margin > now:
            return Active(sid, doc, sealed["access_token"], doc["atExp"])
        if not sealed.get("refresh_token"):
            if doc["atExp"] > now:
                return Active(sid, doc, sealed["access_token"], doc["atExp"])
            self.end([sid], final=False)
            return None
        return self._refresh(sid, doc, sealed)

    def _refresh(self, sid: str, doc: dict[str, Any], sealed: dict[str, Any]) -> Active | None:
        """Refresh under the session's lock. Without the lock: use the current token while it is
        still valid, else wait for the holder's result (or take over if the holder gave up)."""
        lock_ms = int(self.cfg.refresh_lock_seconds * 1000)
        deadline = self.clock() + self.cfg.refresh_wait_seconds
        while True:
            lock = self.records.lock(sid, lock_ms)
            if lock is not None:
                break
            if doc["atExp"] > self.clock():
                return Active(sid, doc, sealed["access_token"], doc["atExp"])
            if self.clock() >= deadline:
                raise DependencyUnavailable("the session's token refresh did not finish in time")
            self.sleep(0.05)
            latest = self._usable(self.records.load(sid))
            if latest is None:
                return None  # ended meanwhile (a refused refresh, a logout)
            if latest["atExp"] != doc["atExp"]:
                current = self._tokens(latest)
                return Active(sid, latest, current["access_token"], latest["atExp"]) \
                    if current.get("access_token") else None
        try:
            return self._refresh_locked(sid)
        finally:
            self.records.unlock(sid, lock)

    def _refresh_locked(self, sid: str) -> Active | None:
        fresh = self._usable(self.records.load(sid))  # another worker may have just refreshed
        if fresh is None:
            return None
        current = self._tokens(fresh)
        if not current.get("access_token") or not current.get("refresh_token"):
            return None
        if fresh["atExp"] - self.cfg.refresh_margin > self.clock():
            return Active(sid, fresh, current["access_token"], fresh["atExp"])
        endpoints, _ = self._resolve()
        try:
            answer = providers.refresh_tokens(self.http, self.cfg.provider, endpoints, current["refresh_token"])
        except LoginFailed:
            self.end([sid], final=False)  # refused (expired, revoked, reused): the session is over
            return None
        except DependencyUnavailable:  # the provider is down or answered nonsense (502/503)
            if fresh["atExp"] > self.clock():
                return Active(sid, fresh, current["access_token"], fresh["atExp"])  # retry next time
            raise
        now = int(self.clock())
        rotated = {**current, "access_token": answer["access_token"]}
        for name in ("refresh_token", "id_token"):  # a rotated refresh token; a newer ID token
            if isinstance(answer.get(name), str):
                rotated[name] = answer[name]
        updated = {**fresh, "atExp": self._access_expiry(answer, now), "tokens": self.sealer.seal(rotated)}
        if not self.records.update(sid, updated):
            return None  # logged out meanwhile
        return Active(sid, updated, rotated["access_token"], updated["atExp"])

    def csrf_problem(self, headers: Any) -> str | None:
        """Why a state-changing request carrying the session cookie is not the app's own, or
        None: it must send the custom header (a cross-origin page cannot without a CORS
        preflight, never granted) and come from the app's origin (Origin) or say so
        (Sec-Fetch-Site: same-origin); SameSite=Strict alone still lets sibling origins of the
        same site through."""
        cfg = self.cfg
        if not headers.get(cfg.csrf_header):
            return f"the {cfg.csrf_header} header is required"
        site = headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            return "cross-site request refused"
        origin = headers.get("Origin")
        if origin is not None and origin.lower() not in self.origins:
            return "cross-origin request refused"
        if origin is None and site is None:
            return "the request must carry Origin or Sec-Fetch-Site"
        return None

    def principal(self, sid: str) -> Principal:
        """/auth with the BFF cookie: the user, and the access token for the upstream."""
        return self.principal_until(sid)[0]

    def principal_until(self, sid: str) -> tuple[Principal, float]:
        """The principal, and until when it may be remembered: never past the moment its access
        token is due for a refresh (so a refresh, and a refused one, always goes through the
        record) nor past the session's end."""
        active = self.active(sid)
        if active is None:
            raise InvalidToken("the BFF session is unknown or has ended")
        doc = active.document
        user = doc["user"]
        principal = Principal(kind="user", id=str(doc["sub"]), groups=frozenset(user.get("groups") or ()),
                              claims=dict(user), source="bff", bearer=active.access_token)
        return principal, min(active.access_expires_at - self.cfg.refresh_margin, doc["expiresAt"])

    def session_view(self, active: Active | None) -> dict[str, Any] | None:
        """GET /bff/session body; None when there is no session (401)."""
        if active is None:
            return None
        body: dict[str, Any] = {"authenticated": True, "user": active.document["user"],
                                "expiresAt": active.document["expiresAt"]}
        if self.cfg.token_exchange:  # the short-lived access token only, never the refresh token
            body["accessToken"] = active.access_token
            body["expiresIn"] = max(0, active.access_expires_at - int(self.clock()))
        return body

    # -- logout ------------------------------------------------------------------------------

    def end(self, sids: list[str], final: bool = True) -> int:
        """End sessions. `final`: recorded for good (a logout, the provider's back-channel
        logout); a session that ran out of tokens needs no record: a copy restored later holds
        the same spent tokens."""
        if final and self.revocations is not None:
            until = self.clock() + self.cfg.session_lifetime
            for sid in sids:
                self.revocations.revoke(ENDED, sid, until)
        return self.records.delete(sids)

    def logout(self, sid: str | None, redirect: str | None) -> str:
        """POST /bff/logout: end the session (first: whatever happens at the provider, it is over
        here) and answer where the browser goes: the provider's end_session_endpoint
        (RP-Initiated Logout 1.0), which comes back to /bff/logout/callback; or straight to the
        redirect when the provider has none."""
        target = self.redirect_target(redirect)
        record = self.records.load(sid) if sid is not None and self.valid_id(sid) else None
        if record is None:
            return target
        assert sid is not None
        self.end([sid])
        doc = self._usable(record)
        if doc is None:
            return target
        try:
            endpoints, _ = self._resolve()
        except DependencyUnavailable:
            return target  # the provider is unreachable: the session here has ended all the same
        id_token = self._tokens(doc).get("id_token")
        if not endpoints.end_session:
            return target
        state = secrets.token_urlsafe(24)
        self.states.put(LOGOUT_STATE, digest(state), {"redirect": target}, self.cfg.state_ttl * 5)
        params = {"client_id": self.cfg.provider.client_id, "post_logout_redirect_uri": self.cfg.post_logout_redirect_url,
                  "state": state}
        if id_token:
            params["id_token_hint"] = id_token
        sep = "&" if "?" in endpoints.end_session else "?"
        return f"{endpoints.end_session}{sep}{urlencode(params)}"

    def logout_landing(self, state: str | None) -> str:
        """GET /bff/logout/callback: back to where the logout asked to go (default otherwise)."""
        record = self.states.take(LOGOUT_STATE, digest(state)) if state and len(state) <= MAX_PARAM_LENGTH else None
        return str(record["redirect"]) if record else self.cfg.default_redirect

    def backchannel_logout(self, logout_token: str | None) -> int:
        """POST /bff/backchannel-logout (OIDC Back-Channel Logout 1.0 §2.6): verify the provider's
        logout token (core/login/backchannel.py); end the sessions of its `sid` (or else of its `sub`).
        Any flaw is a 400 and ends nothing."""
        def verifiers(issuer: str) -> list[ExternalVerifier]:
            _, verifier = self._resolve()
            return [verifier] if verifier is not None else []

        request = verify_logout_token(logout_token, verifiers, self.replay, "bff-logout-jti", self.clock)
        key = index_keys(request.issuer, None, request.sid)[0] if request.sid else \
            index_keys(request.issuer, request.sub, None)[0]
        return self.end(self.records.indexed(key))

    def end_subject(self, sub: str) -> int:
        """DELETE /bff/sessions/<sub> (admin API): end every session of the provider's subject
        `sub`, as a back-channel logout naming it would; how many were still stored."""
        if not sub or len(sub) > MAX_PARAM_LENGTH:
            raise BadRequest(f"sub must be 1 to {MAX_PARAM_LENGTH} characters")
        endpoints, _ = self._resolve()  # the provider's issuer, from its (cached) discovery document
        if not endpoints.issuer:
            return 0
        return self.end_identity(endpoints.issuer, sub)

    def end_identity(self, issuer: str, sub: str) -> int:
        """End every session of the subject `sub` at the provider `issuer` (none when it is not
        this BFF's provider), recorded for good; how many were still stored. Offboarding a user
        ends the sessions of their provider identity this way."""
        return self.end(self.records.indexed(index_keys(issuer, sub, None)[0]))


class BffCopy:
    """Each worker's copy of active BFF sessions' principals, so a BFF check costs what a cached
    JWT does: no Redis read, no decryption. A copy is kept (in a VerifiedCache: bounded in
    entries and in time) never past its access token's refresh point nor its session's end, and
    is ended like every other final fact, by the worker's revocation mirror:

    * an ended session (logout, back-channel logout, a login that replaced it) is recorded as an
      `ENDED` revocation; every use of a copy asks the mirror, so it is refused within the
      mirror's bound. A refresh (and a refused one, which ends the session) only happens once
      the access token is within the refresh margin, when no copy is held any more; a session
      that reaches its end outlives no copy either;
    * the records live in Redis, so losing Redis's data ends the sessions: a copy is taken under
      the mirror's `generation` and is worthless once the mirror has reloaded (a feed it was not
      reading: expired, restarted, restored), which it notices within the same bound;
    * a mirror that cannot pull fails the check closed (503), as for a JWT.
    """

    def __init__(self, service: BffService, ended: MirroredView, copies: VerifiedCache) -> None:
        self.service = service
        self.ended = ended
        self.copies = copies

    @property
    def cookie_name(self) -> str:
        return self.service.cookie_name

    def csrf_problem(self, headers: Any) -> str | None:
        return self.service.csrf_problem(headers)

    def held(self, sid: str) -> Any:
        """This worker's copy of the session as the check's sources/chain.py `Held`: what
        `principal` asks each time (not held past the copy's bound or once the mirror reloaded:
        the record is read again; refused when ended), and the principal."""
        found = self.copies.entry(sid)
        if found is None:
            return None
        until, (generation, principal) = found
        ended, clock = self.ended, self.copies.clock

        def recheck() -> bool:
            if not clock() < until:
                return False
            if ended.find(((ENDED, sid),)):
                raise InvalidToken("the BFF session is unknown or has ended")
            return bool(ended.generation == generation)
        return recheck, principal

    def principal(self, sid: str) -> Principal:
        """The session's principal, from this worker's copy while it holds."""
        # Asked every time, of the mirror: it may pull the feed (bounded) or fail closed.
        if self.ended.find(((ENDED, sid),)):
            raise InvalidToken("the BFF session is unknown or has ended")
        # Read before the record is: a reload that happens meanwhile makes the new copy stale.
        generation = self.ended.generation
        hit = self.copies.get(sid)
        if hit is not None and hit[0] == generation:
            return hit[1]  # type: ignore[no-any-return]
        principal, until = self.service.principal_until(sid)
        if until > self.service.clock():
            self.copies.put(sid, (generation, principal), until)
        return principal
