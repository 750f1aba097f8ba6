"""The token endpoint and its companions: introspection (RFC 7662), revocation (RFC 7009),
tokeninfo, and the admin check. One object per process, built by app/services.py."""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .. import tokens
from .client_auth import ClientAuthenticator, presented_credentials
from ..errors import (DependencyUnavailable, Forbidden, InvalidRequest, InvalidToken, Unauthenticated,
                      UnauthorizedClient, UnsupportedGrantType)
from .grants import client_credentials
from ..keys import KeySet
from ..revocation import REVOKED_TOKEN, Revocations
from ..records import Client, IssuedToken, OnIssue, ignore_issue

ADMIN_PERMISSION = "gatehouse:admin"
# Parameters that RFC 8693/8707 allow to repeat; every other one must appear once (RFC 6749 §3.2).
REPEATABLE = frozenset({"audience", "resource"})


@dataclass(frozen=True)
class TokenRequest:
    """What the view hands over: the Authorization header, the form, the caller's address."""

    authorization: str | None
    form: Mapping[str, list[str]]
    source: str


def _one(form: Mapping[str, list[str]], name: str, required: bool = True) -> str | None:
    values = form.get(name) or []
    if len(values) > 1:
        raise InvalidRequest(f"parameter {name} given more than once")
    if not values or values[0] == "":
        if required:
            raise InvalidRequest(f"parameter {name} is required")
        return None
    return values[0]


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class TokenService:
    def __init__(self, cc_config: client_credentials.ClientCredentialsConfig, keys: KeySet,
                 authenticator: ClientAuthenticator, revocations: Revocations,
                 admin_token: str | None, clock: Callable[[], float] = time.time,
                 on_issue: OnIssue | None = None) -> None:
        self.cc = cc_config
        self.keys = keys
        self.auth = authenticator
        self.revocations = revocations
        self.admin_token = admin_token
        self.clock = clock
        self.on_issue = on_issue or ignore_issue

    def _client(self, req: TokenRequest, revoking: bool = False) -> tuple[Client, str]:
        for name, values in req.form.items():
            if len(values) > 1 and name not in REPEATABLE:
                raise InvalidRequest(f"parameter {name} given more than once")
        creds = presented_credentials(req.authorization, req.form)
        return self.auth.authenticate(creds, req.source, revoking), creds.method

    def token(self, req: TokenRequest) -> IssuedToken:
        """POST /oauth/token: dispatch on grant_type (one module per grant)."""
        grant_type = _one(req.form, "grant_type")
        if grant_type != "client_credentials":
            raise UnsupportedGrantType(f"grant_type {grant_type} is not supported")
        client, method = self._client(req)
        issued = client_credentials.issue(
            self.cc, self.keys, client, _one(req.form, "scope", required=False),
            [a for a in req.form.get("audience", []) if a], int(self.clock()))
        self.auth.record_login(client)
        self.on_issue(grant_type, method, client.client_id,
                      {"scope": issued.scope, "aud": issued.claims.get("aud"), "jti": issued.claims.get("jti"),
                       "expires_in": issued.expires_in})
        return issued

    def verify_active(self, token: str) -> dict[str, Any]:
        """Claims of a token we issued that is valid and not revoked."""
        claims = self.verify_signature(token)
        self.ensure_not_revoked(claims)
        return claims

    def verify_signature(self, token: str) -> dict[str, Any]:
        """Signature and claims of an access token we issued (no revocation lookup)."""
        # RFC 9068 §2.1 `typ`: a login session's JWT (same key, maybe the same issuer) is not an
        # access token; sessions are checked by the session service.
        claims = tokens.verify_own(token, self.keys, self.cc.issuer, typ=tokens.ACCESS_TOKEN_TYPE,
                                   now=self.clock())
        if "sid" in claims:
            raise InvalidToken("not an access token")
        return claims

    def ensure_not_revoked(self, claims: dict[str, Any]) -> None:
        """Neither the token (RFC 7009) nor its client's tokens were revoked: asked of the
        durable record, so /tokeninfo and introspection see a revocation at once."""
        self.revocations.ensure_token_active(claims)

    def introspect(self, req: TokenRequest) -> dict[str, Any]:
        """RFC 7662 §2.2: {active: false} for anything not a live token of ours."""
        self._client(req)
        token = _one(req.form, "token")
        assert token is not None
        try:
            claims = self.verify_active(token)
        except InvalidToken:
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **claims}

    def revoke(self, req: TokenRequest) -> None:
        """RFC 7009 §2.1: revoke the jti until the token would have expired anyway; done once
        MongoDB has it, Redis up or not (the client authenticated even so: ClientAuthenticator)."""
        client, _ = self._client(req, revoking=True)
        token = _one(req.form, "token")
        assert token is not None
        try:
            claims = tokens.verify_own(token, self.keys, self.cc.issuer)
        except InvalidToken:
            return  # §2.2: invalid tokens do not cause an error
        if claims.get("client_id", claims.get("sub")) != client.client_id:
            raise UnauthorizedClient("the token was not issued to this client")
        until = claims["exp"] + tokens.OWN_TOKEN_LEEWAY_SECONDS + 1
        if until > self.clock():
            self.revocations.revoke(REVOKED_TOKEN, claims["jti"], until)

    def tokeninfo(self, authorization: str | None) -> dict[str, Any]:
        token = bearer_token(authorization)
        if token is None:
            raise Unauthenticated("bearer token required",
                                  headers={"WWW-Authenticate": 'Bearer realm="gatehouse"'})
        try:
            return self.verify_active(token)
        except InvalidToken as exc:
            exc.headers["WWW-Authenticate"] = 'Bearer realm="gatehouse", error="invalid_token"'
            raise

    def require_admin(self, authorization: str | None) -> str:
        """The admin API: the bootstrap token, or a token of ours with gatehouse:admin."""
        token = bearer_token(authorization)
        if token is None:
            raise Unauthenticated("admin bearer token required",
                                  headers={"WWW-Authenticate": 'Bearer realm="gatehouse"'})
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return "bootstrap-admin"
        try:
            claims = self.verify_active(token)
        except InvalidToken as exc:
            raise Unauthenticated("admin token is invalid",
                                  headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc
        except DependencyUnavailable:
            raise
        permissions = claims.get("permissions")
        if not isinstance(permissions, list) or ADMIN_PERMISSION not in permissions:
            raise Forbidden(f"the token lacks the {ADMIN_PERMISSION} permission")
        return str(claims["sub"])
