"""Client authentication at the token, introspection and revocation endpoints.

RFC 6749 §2.3 (client_secret_basic / client_secret_post) and RFC 7523 §3 (private_key_jwt).
Exactly one method per request; failed attempts are counted per client and per source.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as secrets_module
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import unquote_plus

from jose import jwt
from jose.exceptions import JOSEError

from .. import credentials, tokens
from .assertions import KeySelectionError, select_key
from ..errors import DependencyUnavailable, InvalidClient, InvalidRequest, InvalidToken, TooManyRequests
from ..ports import ClientRepository, CredentialRepository, RateLimiter, ReplayGuard
from ..records import AUTH_PRIVATE_KEY_JWT, AUTH_SECRET_BASIC, AUTH_SECRET_POST, SECRET_METHODS, Client

MAX_CLIENT_ID_LENGTH = 256
MAX_JTI_LENGTH = 256
MAX_ASSERTION_LENGTH = 8192


@dataclass(frozen=True)
class ClientAuthConfig:
    issuer: str
    token_endpoint: str
    id_hash_salt: bytes
    secret_hash_cost: int
    clock_skew: int
    max_assertion_lifetime: int
    failure_limit: int  # failed authentications per (client, address) and window
    failure_window: int
    source_failure_limit: int = 50  # failed authentications per address and window, any client


@dataclass(frozen=True)
class PresentedCredentials:
    method: str
    client_id: str
    secret: str | None = None
    assertion: str | None = None

    @property
    def basic(self) -> bool:
        return self.method == AUTH_SECRET_BASIC


def _single(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name) or []
    if len(values) > 1:
        raise InvalidRequest(f"parameter {name} given more than once")
    return values[0] if values else None


def _parse_basic(header: str) -> tuple[str, str]:
    try:
        raw = base64.b64decode(header.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidRequest("Authorization: Basic credentials are not valid base64") from exc
    if ":" not in raw:
        raise InvalidRequest("Authorization: Basic credentials must be client_id:client_secret")
    client_id, secret = raw.split(":", 1)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


def presented_credentials(authorization: str | None,
                          form: Mapping[str, list[str]]) -> PresentedCredentials:
    """Which method the client used; malformed or several methods is invalid_request."""
    found: list[PresentedCredentials] = []
    form_client_id = _single(form, "client_id")
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() == "basic":
        client_id, secret = _parse_basic(value.strip())
        if form_client_id is not None and form_client_id != client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials")
        found.append(PresentedCredentials(AUTH_SECRET_BASIC, client_id, secret=secret))
    posted_secret = _single(form, "client_secret")
    if posted_secret is not None:
        found.append(PresentedCredentials(AUTH_SECRET_POST, form_client_id or "", secret=posted_secret))
    assertion_type = _single(form, "client_assertion_type")
    assertion = _single(form, "client_assertion")
    if assertion_type is not None or assertion is not None:
        if assertion_type != tokens.ASSERTION_TYPE:
            raise InvalidRequest(f"client_assertion_type must be {tokens.ASSERTION_TYPE}")
        if not assertion:
            raise InvalidRequest("client_assertion is missing")
        found.append(PresentedCredentials(AUTH_PRIVATE_KEY_JWT, form_client_id or "",
                                          assertion=assertion))
    if len(found) > 1:
        raise InvalidRequest("use exactly one client authentication method")
    if not found:
        raise InvalidClient("client authentication required")
    creds = found[0]
    if creds.method == AUTH_SECRET_POST and not creds.client_id:
        raise InvalidRequest("client_id is required with client_secret")
    if len(creds.client_id) > MAX_CLIENT_ID_LENGTH:
        raise InvalidRequest("client_id is too long")
    return creds


class RecentClients:
    """Per-worker memory of clients that authenticated lately, bounded in entries and in time
    (`seconds`): the client record, and for secret methods a keyed hash — HMAC-SHA256 under a
    random key of this process — of the client id and the secret that bcrypt accepted; never
    the secret itself. A hit skips MongoDB and bcrypt, so a hot client costs no 50-200 ms
    hash. A disabled client, a rotated secret or new permissions take effect within `seconds`;
    failures are never remembered."""

    def __init__(self, seconds: float, max_entries: int = 1000, clock: Callable[[], float] = time.time,
                 cut_at: Callable[[str], float | None] = lambda client_id: None) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self.clock = clock
        # A client cut off (disabled, tokens revoked) after it was remembered is looked up again:
        # the worker learns of the cut-off through its revocation mirror.
        self.cut_at = cut_at
        self._key = secrets_module.token_bytes(32)
        self._entries: dict[str, tuple[float, bytes | None, Client]] = {}
        self._touched: dict[str, float] = {}

    def _mac(self, client_id: str, secret: str) -> bytes:
        return hmac.new(self._key, f"{client_id}\0{secret}".encode(), hashlib.sha256).digest()

    def client(self, client_id: str, secret: str | None = None) -> Client | None:
        entry = self._entries.get(client_id)
        if entry is None or entry[0] <= self.clock():
            return None
        if secret is not None and (entry[1] is None or not hmac.compare_digest(entry[1], self._mac(client_id, secret))):
            return None
        cut = self.cut_at(client_id)
        if cut is not None and cut >= entry[0] - self.seconds:
            self._entries.pop(client_id, None)
            return None
        return entry[2]

    def remember(self, client: Client, secret: str | None = None) -> None:
        if self.seconds <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)), None)
        mac = self._mac(client.client_id, secret) if secret is not None else None
        self._entries[client.client_id] = (self.clock() + self.seconds, mac, client)

    def due_for_touch(self, client_id: str) -> bool:
        """lastLogin is written at most once per `seconds` per client and worker."""
        now = self.clock()
        if self.seconds > 0 and now - self._touched.get(client_id, float("-inf")) < self.seconds:
            return False
        if len(self._touched) >= self.max_entries:
            self._touched.clear()
        self._touched[client_id] = now
        return True


class ClientAuthenticator:
    """Authenticates a client and keeps the failure counters."""

    def __init__(self, cfg: ClientAuthConfig, clients: ClientRepository,
                 secrets: CredentialRepository, replay: ReplayGuard, limiter: RateLimiter,
                 clock: Callable[[], float] = time.time,
                 on_failure: Callable[[str], None] | None = None,
                 recent: RecentClients | None = None) -> None:
        self.cfg = cfg
        self.clients = clients
        self.secrets = secrets
        self.replay = replay
        self.limiter = limiter
        self.clock = clock
        self.on_failure = on_failure or (lambda reason: None)
        self.recent = recent or RecentClients(0, clock=clock)

    def authenticate(self, creds: PresentedCredentials, source: str, revoking: bool = False) -> Client:
        """The authenticated, enabled client, or invalid_client (401).

        Failures are counted per (client, address) and per address, never per client alone:
        wrong secrets sent from one address lock out that address (for that client, and for
        every client once it fails too often), not the client itself, so nobody who merely
        knows a client id can deny it service from elsewhere."""
        limits = {"source:" + source: self.cfg.source_failure_limit}
        try:
            client_id = (self._assertion_subject(creds) if creds.method == AUTH_PRIVATE_KEY_JWT
                         else creds.client_id)
            client_key = credentials.client_id_hash(self.cfg.id_hash_salt, client_id)[:32]
            limits[f"client-source:{client_key}:{source}"] = self.cfg.failure_limit
            # One Redis round trip for both counters.
            try:
                wait = self.limiter.retry_after(limits)
            except DependencyUnavailable:
                if not revoking or creds.method not in SECRET_METHODS:
                    raise
                # A revocation only takes away, and a client secret is 256 random bits: with the
                # counters out of reach (Redis down) the secret is still checked against MongoDB,
                # uncounted (a wrong one fails closed: its failure cannot be counted), and nothing
                # is taken from this worker's memory of the client (that needs the feed).
                return self._enabled(self._stored_secret_client(creds, client_id))
            if wait is not None:
                raise TooManyRequests("too many failed client authentications from this address; retry later",
                                      wait)
            client = self._verify(creds, client_id)
        except InvalidClient as exc:
            self.limiter.hit(limits)
            self.on_failure(exc.description)
            if creds.basic:
                exc.headers["WWW-Authenticate"] = 'Basic realm="gatehouse"'
            raise
        return client

    def record_login(self, client: Client) -> None:
        """lastLogin: set only once a token was actually issued (at most once per
        CLIENT_CACHE_SECONDS per client and worker)."""
        if self.recent.due_for_touch(client.client_id):
            self.clients.touch_last_login(client.client_id, int(self.clock()))

    def _verify(self, creds: PresentedCredentials, client_id: str) -> Client:
        if creds.method in SECRET_METHODS:
            assert creds.secret is not None
            known = self.recent.client(client_id, creds.secret)
            if known is not None and known.auth_method in SECRET_METHODS:
                return known  # this secret was verified moments ago (keyed-hash match)
            client = self._stored_secret_client(creds, client_id)
            if client.enabled:
                self.recent.remember(client, creds.secret)
        else:
            client = self._verify_assertion(creds, client_id)
        return self._enabled(client)

    def _stored_secret_client(self, creds: PresentedCredentials, client_id: str) -> Client:
        assert creds.secret is not None
        client = self.clients.get(client_id)
        stored = self.secrets.get(credentials.client_id_hash(self.cfg.id_hash_salt, client_id))
        ok = credentials.check_secret(creds.secret, stored, self.cfg.secret_hash_cost)
        if not ok or client is None or client.auth_method not in SECRET_METHODS:
            raise InvalidClient("client authentication failed")
        return client

    @staticmethod
    def _enabled(client: Client) -> Client:
        if not client.enabled:
            raise InvalidClient("client is disabled")
        return client

    def _assertion_subject(self, creds: PresentedCredentials) -> str:
        assert creds.assertion is not None
        if len(creds.assertion) > MAX_ASSERTION_LENGTH:
            raise InvalidRequest("client_assertion is too long")
        try:
            claims = tokens.unverified_claims(creds.assertion)
        except InvalidToken as exc:
            raise InvalidClient("client_assertion is not a JWT") from exc
        iss, sub = claims.get("iss"), claims.get("sub")
        # RFC 7523 §3: iss and sub are both the client id.
        if not isinstance(iss, str) or not iss or iss != sub:
            raise InvalidClient("client_assertion iss and sub must both be the client id")
        if creds.client_id and creds.client_id != iss:
            raise InvalidClient("client_id differs from the assertion's iss")
        if len(iss) > MAX_CLIENT_ID_LENGTH:
            raise InvalidClient("client_assertion iss is too long")
        return iss

    def _verify_assertion(self, creds: PresentedCredentials, client_id: str) -> Client:
        assert creds.assertion is not None
        client = self.recent.client(client_id)  # the record (and its keys) only; the assertion is always checked
        if client is None:
            client = self.clients.get(client_id)
            if client is not None and client.enabled:
                self.recent.remember(client)
        if client is None or client.auth_method != AUTH_PRIVATE_KEY_JWT:
            raise InvalidClient("client authentication failed")
        header = tokens.unverified_header(creds.assertion)
        if tokens.crit_problem(header):
            raise InvalidClient("client_assertion has critical header parameters that are not understood")
        problem = tokens.time_claims_problem(tokens.unverified_claims(creds.assertion), self.clock(),
                                             self.cfg.clock_skew)
        if problem:
            raise InvalidClient("client_assertion " + problem)
        try:
            key = select_key(header.get("alg"), header.get("kid"), client.jwks, client.public_key)
        except KeySelectionError as exc:
            raise InvalidClient(str(exc)) from exc
        claims = self._decode(creds.assertion, key, header["alg"])
        self._check_times(claims)
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not {self.cfg.issuer, self.cfg.token_endpoint} & {a for a in audiences if isinstance(a, str)}:
            raise InvalidClient("client_assertion aud must be the issuer or the token endpoint")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise InvalidClient("client_assertion needs a jti")
        ttl = int(claims["exp"] - self.clock()) + self.cfg.clock_skew + 1
        if not self.replay.first_use("assertion", f"{client_id}:{jti}", max(ttl, 1)):
            raise InvalidClient("client_assertion was already used")
        return client

    def _decode(self, assertion: str, key: Any, alg: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                assertion, key, algorithms=[alg],
                options={"verify_aud": False, "require_exp": True, "leeway": self.cfg.clock_skew},
            )
        except JOSEError as exc:
            raise InvalidClient("client_assertion signature or times are not valid") from exc
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self.clock()
        skew = self.cfg.clock_skew
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise InvalidClient("client_assertion exp must be a number")
        if exp <= now - skew:
            raise InvalidClient("client_assertion has expired")
        if exp > now + self.cfg.max_assertion_lifetime + skew:
            raise InvalidClient("client_assertion exp is too far in the future")
        for name, value in (("iat", iat), ("nbf", nbf)):
            if value is None:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise InvalidClient(f"client_assertion {name} must be a number")
            if value > now + skew:
                raise InvalidClient(f"client_assertion {name} is in the future")
        if isinstance(iat, (int, float)) and iat < now - self.cfg.max_assertion_lifetime - skew:
            raise InvalidClient("client_assertion iat is too old")
