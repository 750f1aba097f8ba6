"""The /auth check: original request -> principal -> decision. It stands above
the rules (core.policy) and the credential verifiers (core.verifiers) and asks the login and
BFF sessions; nothing below imports it.

Credential sources, tried in the configured order (docs/auth.md "Who is calling"): the Gatehouse session (cookie
`sid`, or a bearer session JWT), the BFF session (its `__Host-` cookie; the answer then carries
the access token for the upstream), Gatehouse's and external issuers' bearer JWTs, RFC 7662
introspection, the userinfo resolver and trusted headers; API keys add a clientType.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from .. import tokens
from ..errors import InvalidToken
from ..records import SESSION_COOKIE
from .verifiers.api_keys import ApiKeys
from ..verified_cache import VerifiedCache
from ..external_tokens import ExternalVerifier
from .verifiers.introspection import Introspector
from .verifiers.own import OwnTokens
from .verifiers.userinfo import UserinfoResolver
from ..principal import ANONYMOUS, Principal, principal_from_claims
from .policy.decision import FORBIDDEN, Decision, HeaderNames, decide, decode_value, refusal_code
from .policy.dialects import CheckRequest, DialectConfig, Headers, Original, Refused, login_location, nginx, resolve
from .policy.routes import METHODS, RouteTable

TRUTHY = frozenset({"1", "true", "yes", "on"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SOURCES = ("session", "bff", "jwt", "introspection", "userinfo", "trusted-headers")
# Cookie sessions: a stale or foreign cookie must not hide another credential.
COOKIE_SOURCES = ("session", "bff")
MAX_OPAQUE_TOKEN = 8192
LOGIN_REDIRECT = 302


class LoginSessions(Protocol):
    """The login-session credential source (core/login/sessions.py): a session JWT's verified
    claims, and whether its session is still open."""

    def verify_signature(self, token: str, unverified: dict[str, Any] | None = None) -> dict[str, Any]:
        """Signature, type and claims, with the session's user under "user"; InvalidToken if not."""
        ...

    def ensure_open(self, verified: dict[str, Any]) -> None:
        """InvalidToken when the session has ended."""
        ...

    def is_session_token(self, claims: dict[str, Any]) -> bool: ...


class BffSessions(Protocol):
    """The BFF credential source (core/login/bff.py): the principal of a BFF session id, and why a
    state-changing call carrying its cookie is not the app's own (CSRF), if it is not."""

    @property
    def cookie_name(self) -> str: ...

    def principal(self, sid: str) -> Principal:
        """The session's user, with its access token as `bearer`; InvalidToken when it has ended."""
        ...

    def csrf_problem(self, headers: Headers) -> str | None: ...


@dataclass(frozen=True)
class AuthorizerConfig:
    strict: bool = True
    scope_prefix: str = ""
    backoffice_header: str = "isbackoffice"
    user_properties: tuple[str, ...] = ()
    header_limit: int = 16384
    names: HeaderNames = HeaderNames()
    # TRUST_MIA_USER_HEADERS: accept miauserid/miausergroups/miauserproperties (multi-gateway only).
    trust_user_headers: bool = False
    # AUTHORIZATION_HEADERS_TO_PROXY: with none of these present the caller is anonymous, no lookup.
    credential_headers: tuple[str, ...] = ()
    # CREDENTIAL_SOURCES: the order in which sources are tried; API keys add a clientType.
    sources: tuple[str, ...] = SOURCES
    # AUTH_DIALECTS and the trust settings: which proxies' words on the original request are believed.
    dialects: DialectConfig = DialectConfig()


@dataclass(frozen=True)
class Refusal:
    """A presented credential that was refused: the source that refused it, and why."""

    source: str
    reason: str
    # The reason may be given to the caller (WWW-Authenticate's error_description): a token over
    # the length limit, which says nothing about whether it would have been valid.
    told: bool = False


class Authorizer:
    def __init__(self, table: RouteTable | Callable[[], RouteTable], cfg: AuthorizerConfig,
                 own: OwnTokens | None = None, external: ExternalVerifier | None = None,
                 userinfo: UserinfoResolver | None = None, api_keys: ApiKeys | None = None,
                 introspector: Introspector | None = None, sessions: LoginSessions | None = None,
                 bff: BffSessions | None = None,
                 verified: VerifiedCache | None = None) -> None:
        # A table, or a callable answering the current one (the route file watcher).
        self.routes: Callable[[], RouteTable] = table if callable(table) else (lambda: table)
        self.cfg = cfg
        # Our access tokens: signature (cacheable), then revocation (every time, when on).
        self.own = own
        self.verified = verified if verified is not None else VerifiedCache(max_entries=0)
        self.external = external
        self.userinfo = userinfo
        self.api_keys = api_keys
        self.introspector = introspector
        self.sessions = sessions
        self.bff = bff

    def _recheck(self, hit: tuple[str, dict[str, Any], Principal]) -> Principal:
        """A token verified before: only what can change while it is valid is asked again —
        whether its session is still open, whether it was revoked (external JWTs: nothing)."""
        kind, claims, principal = hit
        if kind == "session":
            assert self.sessions is not None
            self.sessions.ensure_open(claims)
        elif kind == "own":
            assert self.own is not None
            self.own.ensure_active(claims)
        return principal

    def _session(self, token: str, unverified: dict[str, Any] | None = None) -> Principal:
        """A Gatehouse login session: signature, issuer (cached per token), and the session
        still open (asked every time)."""
        assert self.sessions is not None
        tokens.check_length(token)
        if not tokens.canonical(token):
            raise InvalidToken("malformed token")
        hit = self.verified.get(token)
        if hit is not None and hit[0] == "session":
            return self._recheck(hit)
        claims = self.sessions.verify_signature(token, unverified)
        self.sessions.ensure_open(claims)
        # The user's fields (groups, email, ...) are what expressions and properties look at.
        principal = principal_from_claims({**claims, **claims["user"], "sub": claims["sub"]}, source="session",
                                          kind="user")
        self.verified.put(token, ("session", claims, principal), claims.get("exp"))
        return principal

    def _jwt(self, token: str) -> Principal | None:
        """Our own JWT, or one from a configured external issuer, chosen by its `iss`.
        None: not a JWT of an issuer this source knows. A token verified before skips its
        signature check; revocation and session state are still asked every time."""
        if not tokens.canonical(token):
            return None  # not a JWT (an opaque token is introspection's), or not in canonical form
        hit = self.verified.get(token)
        if hit is not None:
            return self._recheck(hit)
        try:
            claims = tokens.unverified_claims(token)
        except InvalidToken:
            return None
        issuer = claims.get("iss")
        if self.sessions is not None and self.sessions.is_session_token(claims):
            return self._session(token, claims)
        if self.external is not None and self.external.knows(issuer):
            principal = self.external.verify(token, tokens.unverified_header(token), claims)
            self.verified.put(token, ("external", principal.claims, principal), principal.claims.get("exp"))
            return principal
        if self.own is not None and self.own.knows(issuer):
            verified, principal = self.own.verify(token)
            self.verified.put(token, ("own", verified, principal), verified.get("exp"))
            return principal
        return None

    def _introspect(self, token: str) -> Principal | None:
        if self.introspector is None or len(token) > MAX_OPAQUE_TOKEN:
            return None
        principal = self.introspector.resolve(token)
        if principal is None:
            raise InvalidToken("token is not active")
        return principal

    def _source(self, name: str, token: str | None, headers: Headers, cookies: Any) -> Principal | None:
        if name == "session":
            cookie = cookies.get(SESSION_COOKIE) if cookies is not None and self.sessions is not None else None
            return self._session(cookie) if cookie else None
        if name == "bff":
            cookie = cookies.get(self.bff.cookie_name) if cookies is not None and self.bff is not None else None
            return self.bff.principal(cookie) if cookie and self.bff is not None else None
        if name == "jwt":
            return self._jwt(token) if token else None
        if name == "introspection":
            return self._introspect(token) if token else None
        if name == "userinfo":
            return self.userinfo.resolve(headers) if self.userinfo is not None else None
        if self.cfg.trust_user_headers and headers.get("miauserid"):  # trusted-headers
            return self._trusted(headers)
        return None

    def principal(self, headers: Headers, cookies: Any = None) -> tuple[Principal, Refusal | None]:
        """The first credential found, sources tried in the configured order; and, when a
        credential was presented but refused (the caller is then anonymous), which and why."""
        if self.cfg.credential_headers and not any(headers.get(h) for h in self.cfg.credential_headers):
            return ANONYMOUS, None
        scheme, _, value = (headers.get("Authorization") or "").strip().partition(" ")
        token = value.strip() if scheme.lower() == "bearer" and value.strip() else None
        refused: Refusal | None = None
        for name in self.cfg.sources:
            try:
                found = self._source(name, token, headers, cookies)
            except InvalidToken as exc:
                told = isinstance(exc, tokens.TokenTooLong)
                if name not in COOKIE_SOURCES:
                    return ANONYMOUS, Refusal(name, exc.description, told)
                # A stale or foreign session cookie must not hide a valid bearer token.
                refused = refused or Refusal(name, exc.description, told)
                continue
            if found is not None:
                return found, None
        if refused is None and token is not None:
            refused = _unknown(token)
        return ANONYMOUS, refused

    @staticmethod
    def _trusted(headers: Headers) -> Principal:
        """Identity set by an upstream Gatehouse/gateway (TRUST_MIA_USER_HEADERS)."""
        try:
            properties = json.loads(headers.get("miauserproperties") or "{}")
        except ValueError:
            properties = {}
        groups = frozenset(decode_value(g.strip()) for g in (headers.get("miausergroups") or "").split(",")
                           if g.strip())
        return Principal(kind="user", id=decode_value(str(headers.get("miauserid"))), groups=groups,
                         claims=properties if isinstance(properties, dict) else {},
                         source="trusted-headers")

    def original(self, headers: Headers, request: CheckRequest) -> Original | Refused:
        """The original request of a check as the configured, believed dialect names it."""
        return resolve(headers, request, self.cfg.dialects)

    def check(self, headers: Headers, cookies: Any = None, original: Original | Refused | None = None,
              identity: tuple[Principal, Refusal | None] | None = None) -> Decision:
        """The decision on the original request (`original`: as `Authorizer.original` resolved it;
        without one, the plain nginx headers, as explain and the CLI give them). `identity`: the
        caller as explain is asked about it (core/explain.py) instead of the request's credential."""
        deny = {self.cfg.names.allowed: "0"}
        if original is None:
            original = nginx(headers)
        if isinstance(original, Refused):
            return Decision(FORBIDDEN, original.reason, ANONYMOUS, headers=deny, code="bad_request")
        uri, method = original.uri, original.method
        if uri is None or method is None:
            missing = ("X-Original-URI and X-Original-Method are required" if original.dialect == "nginx"
                       else f"{original.dialect}: the original method is required")
            return Decision(FORBIDDEN, missing, ANONYMOUS, headers=deny, code="bad_request")
        method = method.upper()
        if method not in METHODS or method == "ALL":
            return Decision(FORBIDDEN, "unknown method", ANONYMOUS, headers=deny, code="bad_request")
        principal, refused = identity if identity is not None else self.principal(headers, cookies)
        if self.api_keys is not None and principal.client_type is None:
            client_type = self.api_keys.client_type(headers, cookies)
            if client_type is not None:
                principal = replace(principal, client_type=client_type)
        source = refused.source if refused is not None else (
            principal.source if not principal.anonymous else "api-key" if principal.client_type else None)
        decision = decide(self.routes(), method, uri, principal,
                          is_backoffice=self.is_backoffice(headers),
                          scope_prefix=self.cfg.scope_prefix, names=self.cfg.names,
                          properties=self.cfg.user_properties, header_limit=self.cfg.header_limit,
                          source=source, allow=original.allow_status)
        if principal.source == "bff" and method not in SAFE_METHODS and self.bff is not None:
            problem = self.bff.csrf_problem(headers)
            if problem:  # a cookie the browser attached to another site's form or request
                return Decision(FORBIDDEN, f"BFF session on a state-changing request: {problem}", principal,
                                decision.rule, dict(deny), code="csrf", source=source)
        if decision.status == original.allow_status and principal.bearer:
            decision.headers["Authorization"] = f"Bearer {principal.bearer}"  # BFF: for nginx to pass upstream
        if decision.status == 401:
            error = ', error="invalid_token"' if refused else ""
            if refused is not None and refused.told:
                error += f', error_description="{refused.reason}"'
            decision.headers["WWW-Authenticate"] = f'Bearer realm="gatehouse"{error}'
            if refused is not None and decision.code != "no_route":
                # The words /auth/explain and the decision log give: which credential, and why.
                decision = replace(decision, reason=f"{refused.source} credential refused: {refused.reason}",
                                   code=refusal_code(refused.reason), source=source)
            return self._login_redirect(decision, original, headers)
        return decision

    def is_backoffice(self, headers: Headers) -> bool:
        """The request came through the backoffice listener (its rule's backoffice block judges it)."""
        return (headers.get(self.cfg.backoffice_header) or "").lower() in TRUTHY

    def _login_redirect(self, decision: Decision, original: Original, headers: Headers) -> Decision:
        """A 401 for a browser, in a dialect whose proxy passes the check's answer to the client
        (Traefik, Caddy, Envoy): 302 to the login page, the original URL as the return target.
        Non-strict mode (Mia's nginx) always answers 200, so it never redirects."""
        location = login_location(original, headers, self.cfg.dialects) if self.cfg.strict else None
        if location is None:
            return decision
        moved = {k: v for k, v in decision.headers.items() if k != "WWW-Authenticate"}
        return replace(decision, status=LOGIN_REDIRECT, headers={**moved, "Location": location,
                                                                 "Cache-Control": "no-store"})


def _unknown(token: str) -> Refusal:
    """A bearer token no configured source took: a JWT of an issuer nobody trusts, or not a JWT
    (or one too long to be read: the refusal names the limit)."""
    too_long = tokens.length_problem(token)
    if too_long:
        return Refusal("bearer", too_long, told=True)
    if tokens.canonical(token):
        try:
            issuer = tokens.unverified_claims(token).get("iss")
        except InvalidToken:
            issuer = None
        if isinstance(issuer, str):
            return Refusal("jwt", "unknown issuer")
    return Refusal("bearer", "no configured source knows this token")
