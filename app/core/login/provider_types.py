"""Provider types for browser login, one small strategy class per family: what each
type says about its endpoints, its default scopes and the shape of its user document.

OIDC family (`oidc`, `keycloak`, `okta`, `auth0`, `microsoft`): endpoints from discovery
(`discoveryUrl`, or `baseUrl` + `/.well-known/openid-configuration`), explicit URLs win;
an ID token is required and checked. OAuth 2 family (`github`, `gitlab`, `generic`): no ID
token; the profile comes from the provider's user endpoint in its own shape.

A new type is a class here and a line in TYPES; nothing else branches on a type's name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import BadGateway

# Public defaults; `baseUrl` points them at a self-hosted GitLab or GitHub Enterprise.
GITHUB_BASE = "https://github.com"
GITLAB_BASE = "https://gitlab.com"


class ProviderUrls(Protocol):
    """The URLs a provider's configuration may name (core.providers.ProviderConfig)."""

    @property
    def auth_url(self) -> str | None: ...

    @property
    def token_url(self) -> str | None: ...

    @property
    def userinfo_url(self) -> str | None: ...

    @property
    def logout_url(self) -> str | None: ...

    @property
    def base_url(self) -> str | None: ...


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str
    userinfo: str | None = None
    end_session: str | None = None
    jwks_uri: str | None = None
    issuer: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)


@dataclass(frozen=True)
class Profile:
    """What Gatehouse takes from the provider: id, name, email, username; groups
    and metadata are Gatehouse's own (docs/login.md "Users and groups")."""

    provider_user_id: str
    name: str | None
    email: str | None
    username: str | None
    email_verified: bool | None = None  # OIDC `email_verified` when the provider says


def text(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None


class ProviderType:
    """One family of providers. OIDC types discover their endpoints and send an ID token; the
    others are configured (or known) endpoints and a user document of their own shape."""

    oidc = False
    default_scopes: tuple[str, ...] = ()

    def static_endpoints(self, p: ProviderUrls) -> Endpoints:
        """The endpoints without discovery (OAuth 2 types only)."""
        assert p.auth_url and p.token_url  # generic: checked by the settings schema
        return Endpoints(authorize=p.auth_url, token=p.token_url, userinfo=p.userinfo_url,
                         end_session=p.logout_url)

    def user_fields(self, doc: dict[str, Any]) -> tuple[Any, Any]:
        """The user document's id and username."""
        return doc.get("sub", doc.get("id")), doc.get("preferred_username", doc.get("username", doc.get("login")))

    def profile(self, claims: dict[str, Any], user_doc: dict[str, Any] | None) -> Profile:
        """Map the provider's answer to Gatehouse's profile (id, name, email, username)."""
        doc = user_doc or {}
        ident, username = self.user_fields(doc)
        provider_user_id = text(ident)
        if provider_user_id is None:
            raise BadGateway("the provider's user document has no id")
        return Profile(provider_user_id, text(doc.get("name")) or text(username), text(doc.get("email")),
                       text(username))


class OidcType(ProviderType):
    """OpenID Connect: the verified ID token names the user; userinfo adds to it."""

    oidc = True
    default_scopes = ("openid", "profile", "email")

    def static_endpoints(self, p: ProviderUrls) -> Endpoints:
        raise AssertionError("OIDC providers discover their endpoints")

    def profile(self, claims: dict[str, Any], user_doc: dict[str, Any] | None) -> Profile:
        doc = dict(claims)
        if user_doc and user_doc.get("sub") == claims.get("sub"):  # OIDC Core §5.3.2
            doc.update({k: v for k, v in user_doc.items() if k not in ("iss", "aud", "sub")})
        name = text(doc.get("name")) or " ".join(
            x for x in (text(doc.get("given_name")), text(doc.get("family_name"))) if x) or None
        verified = doc.get("email_verified")
        return Profile(str(claims["sub"]), name, text(doc.get("email")),
                       text(doc.get("preferred_username")) or text(doc.get("email")),
                       verified if isinstance(verified, bool) else None)


class GitHubType(ProviderType):
    """GitHub or GitHub Enterprise (`baseUrl`); GET /user: {id, login, name, email}."""

    default_scopes = ("read:user", "user:email")

    def static_endpoints(self, p: ProviderUrls) -> Endpoints:
        base = (p.base_url or GITHUB_BASE).rstrip("/")
        api = "https://api.github.com/user" if base == GITHUB_BASE else f"{base}/api/v3/user"
        return Endpoints(authorize=p.auth_url or f"{base}/login/oauth/authorize",
                         token=p.token_url or f"{base}/login/oauth/access_token",
                         userinfo=p.userinfo_url or api)

    def user_fields(self, doc: dict[str, Any]) -> tuple[Any, Any]:
        return doc.get("id"), doc.get("login")


class GitLabType(ProviderType):
    """gitlab.com or a self-hosted GitLab (`baseUrl`); GET /api/v4/user: {id, username, name, email}."""

    default_scopes = ("read_user",)

    def static_endpoints(self, p: ProviderUrls) -> Endpoints:
        base = (p.base_url or GITLAB_BASE).rstrip("/")
        return Endpoints(authorize=p.auth_url or f"{base}/oauth/authorize",
                         token=p.token_url or f"{base}/oauth/token",
                         userinfo=p.userinfo_url or f"{base}/api/v4/user", end_session=p.logout_url)

    def user_fields(self, doc: dict[str, Any]) -> tuple[Any, Any]:
        return doc.get("id"), doc.get("username")


class GenericType(ProviderType):
    """Any OAuth 2 provider with configured endpoints; the user document's `sub` or `id`."""


OIDC = OidcType()
TYPES: dict[str, ProviderType] = {
    "oidc": OIDC, "keycloak": OIDC, "okta": OIDC, "auth0": OIDC, "microsoft": OIDC,
    "github": GitHubType(), "gitlab": GitLabType(), "generic": GenericType(),
}
PROVIDER_TYPES = tuple(TYPES)
OIDC_TYPES = tuple(name for name, kind in TYPES.items() if kind.oidc)
