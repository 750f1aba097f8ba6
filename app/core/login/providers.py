"""External identity providers for browser login: their endpoints (configured,
or from OIDC discovery), the authorization URL, ID token checks and the mapping of each
provider's user document to Gatehouse's profile fields. What differs between provider types
is a strategy class of core.provider_types.
"""
from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol
from urllib.parse import quote_plus, urlencode

from .. import tokens
from ..keys import KeySet
from ..errors import BadGateway, InvalidToken, LoginFailed, TokenRefusedByProvider
from .provider_types import OIDC_TYPES, PROVIDER_TYPES, TYPES, Endpoints, Profile, ProviderType
from ..external_tokens import ExternalIssuer, ExternalVerifier

log = logging.getLogger("gatehouse.login")
__all__ = ["OIDC_TYPES", "PROVIDER_TYPES", "Endpoints", "Profile"]  # settings and core.bff read them here
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
DISCOVERY_CACHE_SECONDS = 3600
# ID tokens are checked the moment they arrive from the provider's token endpoint; the leeway
# only absorbs clock drift between the provider and us.
ID_TOKEN_LEEWAY_SECONDS = 60


class ProviderHttp(Protocol):
    """What login needs from the network; every call has a timeout (adapter)."""

    def get_json(self, url: str, bearer: str | None = None) -> dict[str, Any]: ...

    def redeem(self, url: str, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]: ...


@dataclass(frozen=True)
class ProviderConfig:
    id: str
    type: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    auth_url: str | None = None
    token_url: str | None = None
    userinfo_url: str | None = None
    logout_url: str | None = None
    base_url: str | None = None
    discovery_url: str | None = None
    scope: tuple[str, ...] = ()
    order: int = 0
    label: str | None = None
    # client_secret_basic (default), client_secret_post, or private_key_jwt (RFC 7523 §2.2)
    token_auth_method: str = "client_secret_basic"
    # private_key_jwt: signs a client assertion for the given audience (the token endpoint)
    assertion: Callable[[str], str] | None = field(default=None, repr=False, compare=False)
    # OIDC: when userinfo refuses the access token, log it and go on with the ID token's claims
    id_token_fallback: bool = True

    @property
    def kind(self) -> ProviderType:
        """The strategy of this provider's type (the settings schema admits known types only)."""
        return TYPES[self.type]

    @property
    def oidc(self) -> bool:
        return self.kind.oidc

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.scope or self.kind.default_scopes

    def public_view(self) -> dict[str, Any]:
        """What a login page may show: never secrets or endpoints."""
        return {"id": self.id, "type": self.type, "label": self.label or self.id, "order": self.order}


def discovery_url(p: ProviderConfig) -> str | None:
    if p.discovery_url:
        return p.discovery_url
    return p.base_url.rstrip("/") + DISCOVERY_SUFFIX if p.base_url else None


def _url(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


class ProviderDirectory:
    """Per-process cache of each provider's endpoints and ID-token verifier."""

    def __init__(self, http: ProviderHttp, clock: Callable[[], float] = time.monotonic) -> None:
        self.http = http
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Endpoints, ExternalVerifier | None]] = {}
        self._lock = threading.Lock()

    def _discover(self, p: ProviderConfig) -> tuple[Endpoints, ExternalVerifier | None]:
        url = discovery_url(p)
        assert url is not None  # OIDC providers need discoveryUrl or baseUrl (settings schema)
        doc = self.http.get_json(url)
        issuer = doc.get("issuer")
        authorize, token, jwks_uri = _url(doc, "authorization_endpoint"), _url(doc, "token_endpoint"), _url(doc, "jwks_uri")
        if not isinstance(issuer, str) or not (p.auth_url or authorize) or not (p.token_url or token) or not jwks_uri:
            raise BadGateway("the provider's discovery document lacks issuer, endpoints or jwks_uri")
        offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in tokens.ALLOWED_ALGORITHMS if isinstance(offered, list) and a in offered)
        if not algorithms:
            raise BadGateway("the provider signs ID tokens with no algorithm Gatehouse accepts")
        endpoints = Endpoints(
            authorize=p.auth_url or authorize or "", token=p.token_url or token or "",
            userinfo=p.userinfo_url or _url(doc, "userinfo_endpoint"),
            end_session=p.logout_url or _url(doc, "end_session_endpoint"),
            jwks_uri=jwks_uri, issuer=issuer, algorithms=algorithms)
        verifier = ExternalVerifier((ExternalIssuer(issuer=issuer, audiences=(p.client_id,), algorithms=algorithms,
                                                    jwks_uri=jwks_uri, leeway=ID_TOKEN_LEEWAY_SECONDS,
                                                    single_key_without_kid=True),),
                                    lambda u: self.http.get_json(u))
        return endpoints, verifier

    def resolve(self, app_id: str, p: ProviderConfig) -> tuple[Endpoints, ExternalVerifier | None]:
        """Endpoints (and the ID-token verifier for OIDC); DependencyUnavailable when discovery fails."""
        key = (app_id, p.id)
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] > self.clock():
            return hit[1], hit[2]
        endpoints, verifier = self._discover(p) if p.oidc else (p.kind.static_endpoints(p), None)
        with self._lock:
            self._cache[key] = (self.clock() + DISCOVERY_CACHE_SECONDS, endpoints, verifier)
        return endpoints, verifier

    def endpoints(self, app_id: str, p: ProviderConfig) -> Endpoints:
        return self.resolve(app_id, p)[0]


def authorization_url(p: ProviderConfig, endpoints: Endpoints, redirect_uri: str, state: str,
                      challenge: str, nonce: str) -> str:
    """RFC 6749 §4.1.1 + RFC 7636 §4.3 (S256) + OIDC Core §3.1.2.1 (nonce)."""
    params = {"response_type": "code", "client_id": p.client_id, "redirect_uri": redirect_uri,
              "scope": " ".join(p.scopes), "state": state,
              "code_challenge": challenge, "code_challenge_method": "S256"}
    if p.oidc:
        params["nonce"] = nonce
    sep = "&" if "?" in endpoints.authorize else "?"
    return f"{endpoints.authorize}{sep}{urlencode(params)}"


ASSERTION_LIFETIME_SECONDS = 60


def assertion_signer(keys: KeySet, client_id: str, clock: Callable[[], float] = time.time) -> Callable[[str], str]:
    """private_key_jwt toward a provider (RFC 7523 §3): iss = sub = our client id, aud = its
    token endpoint, a fresh jti, one minute of life; signed with Gatehouse's active key, whose
    public half the provider reads from Gatehouse's JWKS."""
    def sign(audience: str) -> str:
        now = int(clock())
        return tokens.sign(keys, {"iss": client_id, "sub": client_id, "aud": audience, "jti": tokens.new_jti(),
                                  "iat": now, "exp": now + ASSERTION_LIFETIME_SECONDS}, typ="JWT")
    return sign


def basic_credentials(client_id: str, secret: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1: client id and secret are form-urlencoded before they go into the Basic
    header (a base64 secret's `+`, `/` and `=` would otherwise reach the provider as ` `, `/`, `=`
    after its decoding, and authentication fail)."""
    return quote_plus(client_id, safe=""), quote_plus(secret, safe="")


def _token_call(http: ProviderHttp, p: ProviderConfig, endpoints: Endpoints, form: dict[str, str],
                refused: str, only_invalid_grant: bool = False) -> dict[str, Any]:
    """One call to the provider's token endpoint with our client authentication; a 4xx is a
    refusal (LoginFailed) — or, with `only_invalid_grant`, only `invalid_grant` is (a rate limit
    or our own misconfiguration is then the provider's trouble: 502) — anything else unusable is
    the provider's fault (502/503)."""
    form = {**form, "client_id": p.client_id}
    basic = None
    if p.token_auth_method == "private_key_jwt" and p.assertion is not None:
        form.update(client_assertion_type=tokens.ASSERTION_TYPE, client_assertion=p.assertion(endpoints.token))
    elif p.client_secret and p.token_auth_method == "client_secret_post":
        form["client_secret"] = p.client_secret
    elif p.client_secret:
        basic = basic_credentials(p.client_id, p.client_secret)
    status, body = http.redeem(endpoints.token, form, basic)
    if status == 401 or body.get("error") == "invalid_client":
        # RFC 6749 §5.2: the provider refused Gatehouse's own client authentication — a
        # configuration problem to name as such, not the user's code or refresh token.
        raise BadGateway("the identity provider refused Gatehouse's client authentication (invalid_client): "
                         f"check clientId, clientSecret and the token endpoint auth method of provider {p.id}")
    if 400 <= status < 500 and (not only_invalid_grant or body.get("error") == "invalid_grant"):
        raise LoginFailed(refused)
    if status != 200 or not isinstance(body.get("access_token"), str):
        raise BadGateway("the identity provider's token answer is unusable")
    # A token Gatehouse cannot forward or verify ends the login (or the session, at refresh) with
    # its cause, rather than every later API call with a 401 no one can explain.
    for name in ("access_token", "id_token"):
        problem = tokens.length_problem(body[name], f"the identity provider's {name.replace('_', ' ')}") \
            if isinstance(body.get(name), str) else None
        if problem:
            raise LoginFailed(problem)
    return body


def redeem_code(http: ProviderHttp, p: ProviderConfig, endpoints: Endpoints, code: str,
                redirect_uri: str, verifier: str) -> dict[str, Any]:
    """RFC 6749 §4.1.3 with the PKCE verifier; a refusal is the user's 400, the rest 502/503."""
    return _token_call(http, p, endpoints, {"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": redirect_uri, "code_verifier": verifier},
                       "the identity provider refused the authorization code")


def refresh_tokens(http: ProviderHttp, p: ProviderConfig, endpoints: Endpoints, refresh_token: str) -> dict[str, Any]:
    """RFC 6749 §6; LoginFailed only when the provider answers `invalid_grant` (expired, revoked
    or reused refresh token): a 429 or a client error ends no session."""
    return _token_call(http, p, endpoints, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                       "the identity provider refused the refresh token", only_invalid_grant=True)


def check_id_token(verifier: ExternalVerifier, id_token: Any, nonce: str, access_token: str) -> dict[str, Any]:
    """OIDC Core §3.1.3.7: signature (pinned algorithms), iss, aud, exp, and our nonce."""
    if not isinstance(id_token, str):
        raise LoginFailed("the provider sent no ID token")
    try:
        claims = tokens.unverified_claims(id_token)
        if not verifier.knows(claims.get("iss")):
            raise InvalidToken("ID token from another issuer")
        principal = verifier.verify(id_token, tokens.unverified_header(id_token), claims, access_token)
    except InvalidToken as exc:
        raise LoginFailed(f"the ID token is invalid: {exc.description}") from exc
    verified = principal.claims
    if not isinstance(verified.get("nonce"), str) or not hmac.compare_digest(verified["nonce"], nonce):
        raise LoginFailed("the ID token's nonce does not match this login")
    if not isinstance(verified.get("sub"), str) or not verified["sub"]:
        raise LoginFailed("the ID token has no subject")
    return verified


def profile(p: ProviderConfig, claims: dict[str, Any], user_doc: dict[str, Any] | None) -> Profile:
    """Map the provider's answer to Gatehouse's profile (id, name, email, username)."""
    return p.kind.profile(claims, user_doc)


def fetch_user_doc(http: ProviderHttp, endpoints: Endpoints, access_token: str,
                   p: ProviderConfig | None = None, id_claims: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The provider's user document. When its userinfo endpoint refuses our access token (tokens
    audience-restricted to an API: Entra ID custom scopes, RFC 8707 resource indicators) and the
    verified ID token carries the identity, the ID token's claims suffice (`idTokenFallback`,
    on by default for OIDC providers); the refusal is logged."""
    if not endpoints.userinfo:
        return None
    try:
        return http.get_json(endpoints.userinfo, bearer=access_token)
    except TokenRefusedByProvider as exc:
        if p is None or not p.oidc or not p.id_token_fallback or not id_claims or not id_claims.get("sub"):
            raise
        log.warning("userinfo refused the access token; using the verified ID token's claims",
                    extra={"provider": p.id, "detail": exc.description})
        return None
