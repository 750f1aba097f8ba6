"""The /auth check: original request -> principal -> decision (SPEC §2.1).

Credential sources implemented so far: Gatehouse's own bearer JWTs (client-credentials
tokens), verified locally and checked against the revocation list. Everything else is
anonymous.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from .. import tokens
from ..errors import InvalidToken
from .external import ExternalVerifier
from .resolvers import ApiKeys, Introspector, UserinfoResolver
from .decision import ANONYMOUS, FORBIDDEN, Decision, HeaderNames, Principal, decide, principal_from_claims
from .routes import METHODS, RouteTable

URI_HEADERS = ("X-Original-URI", "Original-Request-Uri")
METHOD_HEADERS = ("X-Original-Method", "Original-Request-Method")
TRUTHY = frozenset({"1", "true", "yes", "on"})


class Headers(Protocol):
    """Case-insensitive header lookup (werkzeug's Headers, or a dict in unit tests)."""

    def get(self, key: str) -> Any: ...


@dataclass(frozen=True)
class AuthorizerConfig:
    strict: bool = True
    scope_prefix: str = ""
    backoffice_header: str = "isbackoffice"
    user_properties: tuple[str, ...] = ()
    header_limit: int = 4096
    names: HeaderNames = HeaderNames()
    # TRUST_MIA_USER_HEADERS: accept miauserid/miausergroups/miauserproperties (multi-gateway only).
    trust_user_headers: bool = False
    # AUTHORIZATION_HEADERS_TO_PROXY: with none of these present the caller is anonymous, no lookup.
    credential_headers: tuple[str, ...] = ()


class Authorizer:
    def __init__(self, table: RouteTable | Callable[[], RouteTable], cfg: AuthorizerConfig,
                 verify_own_token: Callable[[str], dict[str, Any]],
                 external: ExternalVerifier | None = None, own_issuer: str | None = None,
                 userinfo: UserinfoResolver | None = None, api_keys: ApiKeys | None = None,
                 introspector: Introspector | None = None) -> None:
        # A table, or a callable answering the current one (the route file watcher).
        self.routes: Callable[[], RouteTable] = table if callable(table) else (lambda: table)
        self.cfg = cfg
        self.verify_own_token = verify_own_token
        self.external = external
        self.own_issuer = own_issuer
        self.userinfo = userinfo
        self.api_keys = api_keys
        self.introspector = introspector

    def _bearer(self, token: str) -> Principal | None:
        """Our own JWT, one from a configured external issuer (chosen by its `iss`), or an
        opaque token by introspection. None: left to the userinfo resolver."""
        try:
            claims: dict[str, Any] | None = tokens.unverified_claims(token)
        except InvalidToken:
            claims = None
        if claims is not None and self.external is not None and self.external.knows(claims.get("iss")):
            return self.external.verify(token, tokens.unverified_header(token), claims)
        if claims is not None and (claims.get("iss") == self.own_issuer or
                                   (self.introspector is None and self.userinfo is None)):
            return principal_from_claims(self.verify_own_token(token), source="gatehouse-jwt")
        if self.introspector is not None and len(token) <= 8192:
            principal = self.introspector.resolve(token)
            if principal is None:
                raise InvalidToken("token is not active")
            return principal
        if self.userinfo is not None:
            return None
        raise InvalidToken("malformed token")

    def principal(self, headers: Headers) -> tuple[Principal, bool]:
        """The caller, and whether a credential was presented but refused."""
        if self.cfg.credential_headers and not any(headers.get(h) for h in self.cfg.credential_headers):
            return ANONYMOUS, False
        scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            try:
                found = self._bearer(token.strip())
            except InvalidToken:
                return ANONYMOUS, True
            if found is not None:
                return found, False
        if self.userinfo is not None:
            user = self.userinfo.resolve(headers)
            if user is not None:
                return user, False
        if self.cfg.trust_user_headers and headers.get("miauserid"):
            return self._trusted(headers), False
        return ANONYMOUS, False

    @staticmethod
    def _trusted(headers: Headers) -> Principal:
        """Identity set by an upstream Gatehouse/gateway (SPEC §3.1 item 8)."""
        try:
            properties = json.loads(headers.get("miauserproperties") or "{}")
        except ValueError:
            properties = {}
        groups = frozenset(g.strip() for g in (headers.get("miausergroups") or "").split(",") if g.strip())
        return Principal(kind="user", id=str(headers.get("miauserid")), groups=groups,
                         claims=properties if isinstance(properties, dict) else {},
                         source="trusted-headers")

    def check(self, headers: Headers, cookies: Any = None) -> Decision:
        uri = next((headers.get(h) for h in URI_HEADERS if headers.get(h)), None)
        method = next((headers.get(h) for h in METHOD_HEADERS if headers.get(h)), None)
        deny = {self.cfg.names.allowed: "0"}
        if uri is None or method is None:
            return Decision(FORBIDDEN, "X-Original-URI and X-Original-Method are required", ANONYMOUS, headers=deny)
        method = method.upper()
        if method not in METHODS or method == "ALL":
            return Decision(FORBIDDEN, "unknown method", ANONYMOUS, headers=deny)
        principal, refused = self.principal(headers)
        if self.api_keys is not None and principal.client_type is None:
            client_type = self.api_keys.client_type(headers, cookies)
            if client_type is not None:
                principal = replace(principal, client_type=client_type)
        decision = decide(self.routes(), method, uri, principal,
                          is_backoffice=(headers.get(self.cfg.backoffice_header) or "").lower() in TRUTHY,
                          scope_prefix=self.cfg.scope_prefix, names=self.cfg.names,
                          properties=self.cfg.user_properties, header_limit=self.cfg.header_limit)
        if decision.status == 401:
            error = ', error="invalid_token"' if refused else ""
            decision.headers["WWW-Authenticate"] = f'Bearer realm="gatehouse"{error}'
        return decision
