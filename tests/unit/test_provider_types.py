"""Provider types as strategy classes (core/login/provider_types.py): each type's default scopes, its
endpoints without discovery and the reading of its user document, as a table per type."""
from __future__ import annotations

import pytest

from app.core.errors import BadGateway
from app.core.login.provider_types import OIDC_TYPES, PROVIDER_TYPES, TYPES, Endpoints, Profile
from app.core.login.providers import ProviderConfig, profile


def config(kind: str, **urls: str) -> ProviderConfig:
    return ProviderConfig(id="p", type=kind, client_id="c", **urls)


def test_the_registry_names_every_type_once_and_the_oidc_family():
    assert PROVIDER_TYPES == ("oidc", "keycloak", "okta", "auth0", "microsoft", "github", "gitlab", "generic")
    assert OIDC_TYPES == ("oidc", "keycloak", "okta", "auth0", "microsoft")
    assert all(config(kind).oidc == (kind in OIDC_TYPES) for kind in PROVIDER_TYPES)


@pytest.mark.parametrize("kind, scope, scopes", [
    ("keycloak", (), ("openid", "profile", "email")),
    ("github", (), ("read:user", "user:email")),
    ("gitlab", (), ("read_user",)),
    ("generic", (), ()),
    ("github", ("repo",), ("repo",)),  # configured scopes win
])
def test_scopes(kind, scope, scopes):
    assert ProviderConfig(id="p", type=kind, client_id="c", scope=scope).scopes == scopes


@pytest.mark.parametrize("kind, urls, endpoints", [
    ("github", {}, Endpoints("https://github.com/login/oauth/authorize", "https://github.com/login/oauth/access_token",
                             "https://api.github.com/user")),
    ("github", {"base_url": "https://ghe.example/"},
     Endpoints("https://ghe.example/login/oauth/authorize", "https://ghe.example/login/oauth/access_token",
               "https://ghe.example/api/v3/user")),
    ("gitlab", {"base_url": "https://git.example", "logout_url": "https://git.example/out"},
     Endpoints("https://git.example/oauth/authorize", "https://git.example/oauth/token",
               "https://git.example/api/v4/user", end_session="https://git.example/out")),
    ("gitlab", {"token_url": "https://t.example/token"},
     Endpoints("https://gitlab.com/oauth/authorize", "https://t.example/token", "https://gitlab.com/api/v4/user")),
    ("generic", {"auth_url": "https://a.example/auth", "token_url": "https://a.example/token"},
     Endpoints("https://a.example/auth", "https://a.example/token")),
])
def test_endpoints_without_discovery(kind, urls, endpoints):
    p = config(kind, **urls)
    assert p.kind.static_endpoints(p) == endpoints


def test_oidc_types_discover_their_endpoints():
    p = config("okta")
    with pytest.raises(AssertionError):
        p.kind.static_endpoints(p)


# type, ID-token claims, user document -> profile
PROFILES = [
    ("github", {}, {"id": 42, "login": "octo", "name": "Octo Cat", "email": "o@example.test"},
     Profile("42", "Octo Cat", "o@example.test", "octo")),
    ("gitlab", {}, {"id": 7, "username": "tanuki", "email": "t@example.test"},
     Profile("7", "tanuki", "t@example.test", "tanuki")),
    ("generic", {}, {"sub": "s-1", "preferred_username": "pat"}, Profile("s-1", "pat", None, "pat")),
    ("generic", {}, {"id": "i-1", "login": "lee"}, Profile("i-1", "lee", None, "lee")),
    ("oidc", {"sub": "u1", "given_name": "Ada", "family_name": "L", "email": "a@example.test", "email_verified": True},
     None, Profile("u1", "Ada L", "a@example.test", "a@example.test", True)),
    ("microsoft", {"sub": "u1"}, {"sub": "u1", "name": "From Userinfo", "preferred_username": "ada"},
     Profile("u1", "From Userinfo", None, "ada", None)),
    ("keycloak", {"sub": "u1", "name": "Token"}, {"sub": "someone-else", "name": "Not Used"},
     Profile("u1", "Token", None, None, None)),  # OIDC Core §5.3.2: another sub's document is ignored
]


@pytest.mark.parametrize("kind, claims, doc, expected", PROFILES, ids=[f"{p[0]}-{i}" for i, p in enumerate(PROFILES)])
def test_profile(kind, claims, doc, expected):
    assert profile(config(kind), claims, doc) == expected


@pytest.mark.parametrize("kind", ["github", "gitlab", "generic"])
def test_a_user_document_without_an_id_is_the_providers_fault(kind):
    with pytest.raises(BadGateway):
        profile(config(kind), {}, {"login": "x", "username": "x"})


def test_every_type_is_a_strategy_object():
    assert {type(kind).__name__ for kind in TYPES.values()} == {"OidcType", "GitHubType", "GitLabType", "GenericType"}
