"""Opaque external tokens resolved by RFC 7662 introspection against a real HTTP peer."""
from __future__ import annotations

import json
import time

import pytest

from app import create_app
from app.settings import ConfigError, load_settings
from tests.support.introspection_server import IntrospectionServer

ROUTES = {
    "/petstore/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "petstore"}},
    "/tracks/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "tracks"}},
}


@pytest.fixture
def peer():
    server = IntrospectionServer()
    yield server
    server.close()


def make(env, tmp_path, peer, secret="rs-secret", max_cache=300):
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    cfg = tmp_path / "g.json"
    cfg.write_text(json.dumps({"introspection": {"endpoint": peer.url, "client_id": "rs", "client_secret": secret,
                                                 "max_cache_seconds": max_cache}}))
    return create_app(load_settings({**env, "ROUTES_FILE": str(routes), "GATEHOUSE_CONFIG": str(cfg),
                                     "OUTBOUND_TIMEOUT_SECONDS": "1"})).test_client()


def check(c, uri, token):
    r = c.get("/auth", headers={"X-Original-URI": uri, "X-Original-Method": "GET", "Authorization": f"Bearer {token}"})
    assert r.data == b""
    return r.status_code


def test_opaque_tokens_by_introspection_with_cache(env, tmp_path, peer):
    peer.tokens["opaque-1"] = {"active": True, "sub": "svc", "client_id": "svc", "scope": "tracks",
                               "exp": int(time.time()) + 600}
    c = make(env, tmp_path, peer)
    assert check(c, "/tracks/1", "opaque-1") == 204
    assert check(c, "/petstore/1", "opaque-1") == 403, "the policy is evaluated again on a cache hit"
    assert check(c, "/tracks/2", "opaque-1") == 204
    assert peer.calls == 1
    assert check(c, "/tracks/1", "unknown-token") == 401


def test_cache_bounded_by_exp(env, tmp_path, peer):
    peer.tokens["short"] = {"active": True, "sub": "u", "scope": "tracks", "exp": int(time.time()) + 2}
    c = make(env, tmp_path, peer)
    assert check(c, "/tracks/1", "short") == 204
    peer.tokens["short"] = {"active": False}
    time.sleep(2.2)  # the sleep is the test: the token's exp (2 s) passes; a poll would ask the peer again
    assert check(c, "/tracks/1", "short") == 401
    assert peer.calls == 2


def test_introspection_down_or_refusing_us_fails_closed(env, tmp_path, peer):
    peer.tokens["t"] = {"active": True, "sub": "u", "scope": "tracks"}
    assert check(make(env, tmp_path, peer, secret="wrong"), "/tracks/1", "t") == 503
    peer.up = False
    assert check(make(env, tmp_path, peer), "/tracks/1", "t") == 503


def test_own_tokens_still_verified_locally(env, tmp_path, peer, api):
    from tests.conftest import ADMIN, basic
    c = make(env, tmp_path, peer)
    reg = c.post("/register", json={"client_name": "x", "scope": "tracks"}, headers=ADMIN).json
    token = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   headers=basic(reg["client_id"], reg["client_secret"])).json["access_token"]
    assert check(c, "/tracks/1", token) == 204 and peer.calls == 0


def test_secret_in_introspection_config_not_printed(env, tmp_path):
    cfg = tmp_path / "g.json"
    cfg.write_text(json.dumps({"introspection": {"endpoint": "ftp://x", "client_id": "rs", "client_secret": "s3cr3t-value"}}))
    with pytest.raises(ConfigError) as info:
        load_settings({**env, "GATEHOUSE_CONFIG": str(cfg)})
    assert "introspection.endpoint" in info.value.problems[0] and "s3cr3t" not in str(info.value.problems)
