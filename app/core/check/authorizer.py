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
from .sources.chain import SOURCES as SOURCES, CredentialChain, Presented
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
        return self._identify(Presented(headers, cookies))

    def _identify(self, request: Presented) -> tuple[Principal, Refusal | None]:
        headers = request.headers
        if self.cfg.credential_headers and not any(headers.get(h) for h in self.cfg.credential_headers):
            return ANONYMOUS, None
        refused: Refusal | None = None
        for source in self.sources:
            try:
                credential = source.match(request)
                if credential is None:
                    continue
                found = source.verify(credential)
            except InvalidToken as exc:
                told = isinstance(exc, tokens.TokenTooLong)
                if not source.cookie:
                    return ANONYMOUS, Refusal(source.name, exc.description, told)
                # A stale or foreign session cookie must not hide a valid bearer token.
                refused = refused or Refusal(source.name, exc.description, told)
                continue
            if found is not None:
                return found, None
        if refused is None and request.bearer is not None:
            refused = _unknown(request.bearer)
        return ANONYMOUS, refused

    def original(self, headers: Headers, request: CheckRequest) -> Original | Refused:
        """The original request of a check as the configured, believed dialect names it."""
        return resolve(headers, request, self.cfg.dialects)

    def check(self, headers: Headers, cookies: Any = None, original: Original | Refused | None = None,
              identity: tuple[Principal, Refusal | None] | None = None) -> Decision:
        """The decision on the original request (`original`: as `Authorizer.original` resolved it;
        without one, the plain nginx headers, as explain and the CLI give them). `identity`: the
        caller as explain is asked about it (core/explain.py) instead of the request's credential."""
        if original is None:
            original = nginx(headers)
        if isinstance(original, Refused):
            return Decision(FORBIDDEN, original.reason, ANONYMOUS, headers=self._deny(), code="bad_request")
        uri, method = original.uri, original.method
        if uri is None or method is None:
            missing = ("X-Original-URI and X-Original-Method are required" if original.dialect == "nginx"
                       else f"{original.dialect}: the original method is required")
            return Decision(FORBIDDEN, missing, ANONYMOUS, headers=self._deny(), code="bad_request")
        method = method.upper()
        if method not in METHODS or method == "ALL":
            return Decision(FORBIDDEN, "unknown method", ANONYMOUS, headers=self._deny(), code="bad_request")
        request = Presented(headers, cookies)
        principal, refused = identity if identity is not None else self._identify(request)
        keys = self.api_keys
        if keys is not None and principal.client_type is None:
            key = keys.match(request)
            client_type = keys.verify(key) if key is not None else None
            if client_type is not None:
                principal = replace(principal, client_type=client_type)
        source = refused.source if refused is not None else (
            principal.source if not principal.anonymous else "api-key" if principal.client_type else None)
        decision = decide(self.routes(), method, uri, principal,
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
                                decision.rule, self._deny(), code="csrf", source=source)
        if decision.status == 401:
            if refused is not None and decision.code != "no_route":
                # The words /auth/explain and the decision log give: which credential, and why.
                decision = replace(decision, reason=f"{refused.source} credential refused: {refused.reason}",
                                   code=refusal_code(refused.reason), source=source)
            return self._login_redirect(decision, original, headers)
        return decision

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
