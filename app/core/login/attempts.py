"""Logins in flight: the single-use `state`, the PKCE verifier and nonce of one login,
bound to the browser that started it. Shared by the browser login (core.login) and the BFF."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from . import providers
from ..credentials import sha256_hex as digest
from ..errors import BadRequest, LoginFailed
from ..ports import DocumentStore

MAX_PARAM_LENGTH = 2048


@dataclass(frozen=True)
class LoginStart:
    url: str
    cookie_name: str
    cookie_value: str
    ttl: int


class LoginAttempts:
    """Logins in flight, for the browser login and the BFF alike: a random single-use `state`
    kept in the store under its digest for `ttl` seconds with the PKCE verifier, the nonce and
    the caller's fields, bound to the browser by a cookie of its own (one per login, so two tabs
    logging in at once do not collide) whose digest the record holds."""

    def __init__(self, store: DocumentStore, kind: str, cookie_prefix: str, ttl: int) -> None:
        self.store = store
        self.kind = kind
        self.cookie_prefix = cookie_prefix
        self.ttl = ttl

    def cookie_name(self, state: str) -> str:
        return self.cookie_prefix + digest(state)[:16]

    def begin(self, provider: providers.ProviderConfig, endpoints: providers.Endpoints, redirect_uri: str,
              fields: dict[str, Any]) -> LoginStart:
        """Where to send the browser, and the cookie that binds the login to it."""
        state, verifier, nonce, binding = (secrets.token_urlsafe(32), secrets.token_urlsafe(48),
                                           secrets.token_urlsafe(24), secrets.token_urlsafe(32))
        self.store.put(self.kind, digest(state), {**fields, "verifier": verifier, "nonce": nonce,
                                                  "binding": digest(binding)}, self.ttl)
        url = providers.authorization_url(provider, endpoints, redirect_uri, state, pkce_challenge(verifier), nonce)
        return LoginStart(url, self.cookie_name(state), binding, self.ttl)

    def take(self, state: str | None, cookies: Mapping[str, str]) -> tuple[dict[str, Any], str]:
        """The record (spent whatever happens next) and its cookie's name; LoginFailed when the
        state is unknown, expired, used, or was started in another browser."""
        state = required_param(state, "state")
        record = self.store.take(self.kind, digest(state))
        if record is None:
            raise LoginFailed("the login state is unknown, expired or already used")
        cookie_name = self.cookie_name(state)
        if not hmac.compare_digest(digest(cookies.get(cookie_name) or ""), record["binding"]):
            raise LoginFailed("the login was started in another browser")
        return record, cookie_name


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2, S256."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def required_param(value: str | None, name: str) -> str:
    if not value:
        raise BadRequest(f"parameter {name} is required")
    if len(value) > MAX_PARAM_LENGTH:
        raise BadRequest(f"parameter {name} is too long")
    return value


