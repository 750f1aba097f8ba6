"""Mia's scenario 2 (userinfo resolver) and API keys -> clientType, against real HTTP peers."""
from __future__ import annotations

import json

import pytest

from app import create_app
from app.core.check.verifiers.api_keys import api_key_hash
from app.settings import load_settings
from tests.support.userinfo_service import UserinfoService

ROUTES = {
    "/users-area": {"GET": {"authorization": {"expression": "groups.admin || groups.users"}}},
    "/typed": {"GET": {"authorization": {"expression": "(clientType == 'A' || clientType == 'B') && (groups.admin || groups.users)"}}},
}


@pytest.fixture
def service():
    svc = UserinfoService()
    yield svc
    svc.close()


def make(env, tmp_path, service, **extra):
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    cfg = tmp_path / "g.json"
    cfg.write_text(json.dumps({"api_keys": [{"sha256": api_key_hash("key-a"), "clientType": "A"},
                                            {"sha256": api_key_hash("key-c"), "clientType": "C"}]}))
    return create_app(load_settings({**env, "ROUTES_FILE": str(routes), "GATEHOUSE_CONFIG": str(cfg),
                                     "USERINFO_URL": service.url, "HEADERS_TO_PROXY": "Authorization",
                                     "USERINFO_TIMEOUT_SECONDS": "1", "USER_PROPERTIES_TO_PROXY": "email",
                                     **extra})).test_client()


def check(c, uri, token=None, **headers):
    h = {"X-Original-URI": uri, "X-Original-Method": "GET", **headers}
    if token:
        h["Authorization"] = f"Bearer {token}"
    r = c.get("/auth", headers=h)
    assert r.data == b""
    return r


def test_groups_from_userinfo(env, tmp_path, service):
    c = make(env, tmp_path, service)
    r = check(c, "/users-area", "tok-admin")
    assert r.status_code == 204 and r.headers["mia-userid"] == "u-admin" and r.headers["mia-groups"] == "admin"
    assert json.loads(r.headers["mia-userproperties"]) == {"email": "admin@example.com"}
    assert check(c, "/users-area", "tok-user").status_code == 204
    assert check(c, "/users-area", "tok-guest").status_code == 403
    assert check(c, "/users-area", "tok-unknown").status_code == 401, "401 from userinfo = anonymous"
    assert check(c, "/users-area").status_code == 401


def test_client_types_from_api_keys(env, tmp_path, service):
    c = make(env, tmp_path, service)
    assert check(c, "/typed", "tok-user", **{"client-key": "key-a"}).status_code == 204
    r = check(c, "/typed", "tok-user", **{"client-key": "key-c"})
    assert r.status_code == 403
    assert check(c, "/typed", "tok-user", **{"client-key": "wrong"}).status_code == 403
    c.set_cookie("client_key", "key-a")
    assert check(c, "/typed", "tok-user").status_code == 204, "the key may come as a cookie"
    assert check(c, "/typed", "tok-guest", **{"client-key": "key-a"}).status_code == 403


@pytest.mark.parametrize("mode", ["error", "slow", "down"])
def test_userinfo_failure_fails_closed(env, tmp_path, service, mode):
    c = make(env, tmp_path, service)
    if mode == "down":
        service.close()
    else:
        service.mode = mode
    assert check(c, "/users-area", "tok-admin").status_code == 503


def test_userinfo_cache(env, tmp_path, service):
    c = make(env, tmp_path, service, USERINFO_CACHE_SECONDS="60")
    for _ in range(3):
        assert check(c, "/users-area", "tok-admin").status_code == 204
    assert check(c, "/users-area", "tok-user").status_code == 204
    assert service.calls == 2, "one call per distinct credential"


TRUSTED = {"miauserid": "u-trusted", "miausergroups": "users"}


def test_credential_sources_in_configured_order(env, tmp_path, service):
    default = make(env, tmp_path, service, TRUST_MIA_USER_HEADERS="true")
    r = check(default, "/users-area", "tok-admin", **TRUSTED)
    assert r.headers["mia-userid"] == "u-admin", "default order: userinfo before trusted headers"
    reordered = make(env, tmp_path, service, TRUST_MIA_USER_HEADERS="true",
                     CREDENTIAL_SOURCES="trusted-headers,userinfo")
    r = check(reordered, "/users-area", "tok-admin", **TRUSTED)
    assert r.headers["mia-userid"] == "u-trusted"
    only_jwt = make(env, tmp_path, service, CREDENTIAL_SOURCES="jwt")
    assert check(only_jwt, "/users-area", "tok-admin").status_code == 401
    assert service.calls == 1, "a source left out of the order is never called"


def test_unknown_credential_source_refused(env):
    from app.settings import ConfigError
    with pytest.raises(ConfigError) as info:
        load_settings({**env, "CREDENTIAL_SOURCES": "jwt,magic"})
    assert info.value.problems == ["CREDENTIAL_SOURCES: each entry must be one of session, bff, jwt, introspection, userinfo, trusted-headers"]
