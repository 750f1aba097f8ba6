"""The /auth check: original request -> principal -> decision. It walks the chain of
credential sources the composition root registered (core/check/sources, in CREDENTIAL_SOURCES'
order), then decides by the rules (core/check/policy); nothing below imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from .. import tokens
from ..errors import InvalidToken
from ..principal import ANONYMOUS, Principal
from .policy.decision import FORBIDDEN, Decision, HeaderNames, decide, refusal_code
from .policy.dialects import CheckRequest, DialectConfig, Headers, Original, Refused, login_location, nginx, resolve
from .policy.routes import METHODS, RouteTable
# SOURCES: the words CREDENTIAL_SOURCES accepts (the settings validate against them)
from .sources.chain import SOURCES as SOURCES, CredentialChain, CredentialSource, Presented
from ..verified_cache import VerifiedCache

TRUTHY = frozenset({"1", "true", "yes", "on"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_REDIRECT = 302
CHALLENGE = 'Bearer realm="gatehouse"'


@dataclass(frozen=True)
class AuthorizerConfig:
    strict: bool = True
    scope_prefix: str = ""
    backoffice_header: str = "isbackoffice"
    user_properties: tuple[str, ...] = ()
    header_limit: int = 16384
    names: HeaderNames = HeaderNames()
    # AUTHORIZATION_HEADERS_TO_PROXY: with none of these present the caller is anonymous, no lookup.
    credential_headers: tuple[str, ...] = ()
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


@dataclass(frozen=True)
class Basis:
    """What an allow rested on that can change while the same request comes again: the route
    table it was decided by, and the one credential source that named the caller, with the
    credential and the principal it named (no source: nobody presented anything). `revisit` asks
    them again; an answer kept beside its basis (app/answer_memo.py) is served only while it holds."""

    table: RouteTable
    source: CredentialSource | None
    credential: Any
    principal: Principal
    # A source keeping its principal in a per-worker cache (sources/chain.py `Held`): what its
    # cache's hit asks each time, instead of asking the source.
    recheck: Callable[[], bool] | None = None


@dataclass(frozen=True)
class Revisit:
    """A basis asked again: whether it holds, and what its source answered (the principal, None
    for nobody, or what it raised: a refusal, a dependency down), for the check that follows when
    it does not, so that nothing a source asks (a provider refresh, an introspection call) is asked
    twice. `answer` is None when the source was not asked."""

    holds: bool
    answer: "tuple[CredentialSource, Any, Principal | None | Exception] | None" = None


HELD = Revisit(True)

# The walk's outcome: who, which refusal, and what named the caller: (source, credential) when one
# source alone did, () when no source found a credential at all, None for anything else (another
# credential passed over or refused on the way).
Identified = tuple[Principal, "Refusal | None", "tuple[CredentialSource, Any] | tuple[()] | None"]


class Authorizer:
    def __init__(self, table: RouteTable | Callable[[], RouteTable], cfg: AuthorizerConfig,
                 chain: CredentialChain) -> None:
        # A table, or a callable answering the current one (the route file watcher).
        self.routes: Callable[[], RouteTable] = table if callable(table) else (lambda: table)
        self.cfg = cfg
        self.chain = chain
        self.sources = chain.sources
        self.api_keys = chain.client_type
        self.bff = chain.bff

    @property
    def verified(self) -> VerifiedCache:
        return self.chain.verified

    def principal(self, headers: Headers, cookies: Any = None) -> tuple[Principal, Refusal | None]:
        """The first credential found, sources tried in the configured order; and, when a
        credential was presented but refused (the caller is then anonymous), which and why."""
        principal, refused, _ = self._identify(Presented(headers, cookies))
        return principal, refused

    def _identify(self, request: Presented, known: Revisit | None = None) -> Identified:
        headers = request.headers
        if self.cfg.credential_headers and not any(headers.get(h) for h in self.cfg.credential_headers):
            return ANONYMOUS, None, ()
        refused: Refusal | None = None
        passed_over = False
        for source in self.sources:
            try:
                credential = source.match(request)
                if credential is None:
                    continue
                answer = known.answer if known is not None else None
                if answer is not None and answer[0] is source and answer[1] == credential:
                    if isinstance(answer[2], Exception):
                        raise answer[2]  # a refusal is the walk's; anything else, the check's (a 503)
                    found: Principal | None = answer[2]  # asked a moment ago by `revisit`: not again
                else:
                    found = source.verify(credential)
            except InvalidToken as exc:
                told = isinstance(exc, tokens.TokenTooLong)
                if not source.cookie:
                    return ANONYMOUS, Refusal(source.name, exc.description, told), None
                # A stale or foreign session cookie must not hide a valid bearer token.
                refused = refused or Refusal(source.name, exc.description, told)
                continue
            if found is not None:
                return found, None, None if passed_over or refused is not None else (source, credential)
            passed_over = True
        if refused is None and request.bearer is not None:
            refused = _unknown(request.bearer)
        return ANONYMOUS, refused, None if passed_over or refused is not None else ()

    def original(self, headers: Headers, request: CheckRequest) -> Original | Refused:
        """The original request of a check as the configured, believed dialect names it."""
        return resolve(headers, request, self.cfg.dialects)

    def check(self, headers: Headers, cookies: Any = None, original: Original | Refused | None = None,
              identity: tuple[Principal, Refusal | None] | None = None) -> Decision:
        """The decision on the original request (`original`: as `Authorizer.original` resolved it;
        without one, the plain nginx headers, as explain and the CLI give them). `identity`: the
        caller as explain is asked about it (core/explain.py) instead of the request's credential."""
        return self.check_with_basis(headers, cookies, original, identity, keep=False)[0]

    def revisit(self, basis: Basis) -> Revisit:
        """Whether an allow's basis still stands: the same route table, and its source names the
        same principal for the credential again (the source's own caches and rechecks answer:
        revocation, an ended session, a blocked user, expiry, a withdrawn key)."""
        if self.routes() is not basis.table:
            return Revisit(False)
        source = basis.source
        if source is None:
            return HELD
        try:
            if basis.recheck is not None:  # the source's cache entry, asked as its hit would be
                return HELD if basis.recheck() else Revisit(False)
            found = source.verify(basis.credential)
        except Exception as exc:  # noqa: BLE001 - refused, or a store down: the check that follows answers it
            return Revisit(False, (source, basis.credential, exc))
        if found is basis.principal:
            return HELD
        return Revisit(False, (source, basis.credential, found))

    def check_with_basis(self, headers: Headers, cookies: Any = None, original: Original | Refused | None = None,
                         identity: tuple[Principal, Refusal | None] | None = None,
                         known: Revisit | None = None, keep: bool = True) -> tuple[Decision, Basis | None]:
        """`check`, and (`keep`: for an answer to be kept) the basis of an allow that rested on
        nothing but its route table and one credential source (None for any other decision).
        `known`: a kept allow's basis that did not hold, whose source's answer the walk takes
        instead of asking it again."""
        if original is None:
            original = nginx(headers)
        if isinstance(original, Refused):
            return Decision(FORBIDDEN, original.reason, ANONYMOUS, headers=self._deny(), code="bad_request"), None
        uri, method = original.uri, original.method
        if uri is None or method is None:
            missing = ("X-Original-URI and X-Original-Method are required" if original.dialect == "nginx"
                       else f"{original.dialect}: the original method is required")
            return Decision(FORBIDDEN, missing, ANONYMOUS, headers=self._deny(), code="bad_request"), None
        method = method.upper()
        if method not in METHODS or method == "ALL":
            return Decision(FORBIDDEN, "unknown method", ANONYMOUS, headers=self._deny(), code="bad_request"), None
        request = Presented(headers, cookies)
        if identity is not None:
            principal, refused = identity
            named_by = None
        else:
            principal, refused, named_by = self._identify(request, known)
        named = principal
        keys = self.api_keys
        if keys is not None and principal.client_type is None:
            key = keys.match(request)
            client_type = keys.verify(key) if key is not None else None
            if client_type is not None:
                principal = replace(principal, client_type=client_type)
        source = refused.source if refused is not None else (
            principal.source if not principal.anonymous else "api-key" if principal.client_type else None)
        table = self.routes()
        decision = decide(table, method, uri, principal,
                          is_backoffice=self.is_backoffice(headers),
                          scope_prefix=self.cfg.scope_prefix, names=self.cfg.names,
                          properties=self.cfg.user_properties, header_limit=self.cfg.header_limit,
                          source=source, allow=original.allow_status,
                          challenge=CHALLENGE if refused is None else _challenge(refused))
        bff = self.bff
        if principal.source == "bff" and method not in SAFE_METHODS and bff is not None:
            problem = bff.csrf_problem(headers)
            if problem:  # a cookie the browser attached to another site's form or request
                return Decision(FORBIDDEN, f"BFF session on a state-changing request: {problem}", principal,
                                decision.rule, self._deny(), code="csrf", source=source), None
        if decision.status == 401:
            if refused is not None and decision.code != "no_route":
                # The words /auth/explain and the decision log give: which credential, and why.
                decision = replace(decision, reason=f"{refused.source} credential refused: {refused.reason}",
                                   code=refusal_code(refused.reason), source=source)
            return self._login_redirect(decision, original, headers), None
        if not keep or decision.code != "allowed" or named_by is None:
            return decision, None
        if not named_by:
            return decision, Basis(table, None, None, named)
        by, credential = named_by
        # A source whose principal is new each time (trusted headers) never names the same one again.
        if not getattr(by, "repeatable", True):
            return decision, None
        held = getattr(by, "held", None)
        found = held(credential) if held is not None else None
        if found is not None and found[1] is named:
            return decision, Basis(table, by, credential, named, found[0])
        return decision, Basis(table, by, credential, named)

    def _deny(self) -> dict[str, str]:
        return {self.cfg.names.allowed: "0"}

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


def _challenge(refused: Refusal) -> str:
    """The WWW-Authenticate of a 401 after a refusal: and why, when it may be told."""
    if refused.told:
        return f'{CHALLENGE}, error="invalid_token", error_description="{refused.reason}"'
    return f'{CHALLENGE}, error="invalid_token"'


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
