"""Fail closed: with Redis or MongoDB down the token endpoint answers 503 and issues nothing;
both recover without a restart."""
from __future__ import annotations

import time

import pytest

from app import create_app
from app.settings import load_settings
from tests.conftest import ADMIN, basic
from tests.support.servers import within


@pytest.fixture
def setup(own_servers, env):
    r, m = own_servers
    app = create_app(load_settings({**env, "REDIS_URL": r.url, "MONGODB_URL": f"{m.url}/down"}))
    c = app.test_client()
    secret = c.post("/register", json={"client_name": "x"}, headers=ADMIN).json
    return r, m, c, secret


def token_request(c, secret):
    return c.post("/oauth/token", data={"grant_type": "client_credentials"},
                  headers=basic(secret["client_id"], secret["client_secret"]))


def test_redis_down_then_back(setup):
    r, m, c, secret = setup
    assert token_request(c, secret).status_code == 200
    r.stop()
    resp = token_request(c, secret)
    assert (resp.status_code, resp.json["error"]) == (503, "temporarily_unavailable")
    assert "access_token" not in resp.json
    ready = c.get("/-/ready")
    assert ready.status_code == 503 and ready.json["dependencies"]["redis"] == "down"
    token_for_info = None
    r.start()
    back = time.monotonic()
    assert within(lambda: token_request(c, secret).status_code == 200, 10, interval=0.2)
    print(f"Redis back: the token endpoint answered 200 {time.monotonic() - back:.2f} s after it answered a ping")
    ok = token_request(c, secret)
    assert ok.status_code == 200
    token_for_info = ok.json["access_token"]
    assert c.get("/tokeninfo", headers={"Authorization": f"Bearer {token_for_info}"}).status_code == 200
    assert c.get("/-/ready").status_code == 200


def test_tokeninfo_and_introspection_fail_closed_without_their_stores(setup):
    """Revocations are read from MongoDB (their durable record): /tokeninfo needs only MongoDB;
    introspection also authenticates the client, whose failure counters live in Redis."""
    r, m, c, secret = setup
    token = token_request(c, secret).json["access_token"]
    r.stop()
    assert c.get("/tokeninfo", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    resp = c.post("/oauth/introspect", data={"token": token},
                  headers=basic(secret["client_id"], secret["client_secret"]))
    assert resp.status_code == 503
    r.start()
    m.stop()
    assert c.get("/tokeninfo", headers={"Authorization": f"Bearer {token}"}).status_code == 503


def test_mongo_down_then_back(setup):
    r, m, c, secret = setup
    m.stop()
    resp = token_request(c, secret)
    assert (resp.status_code, resp.json["error"]) == (503, "temporarily_unavailable")
    assert c.post("/register", json={"client_name": "y"}, headers=ADMIN).status_code == 503
    assert c.get("/-/ready").json["dependencies"]["mongodb"] == "down"
    m.start()
    back = time.monotonic()
    assert within(lambda: token_request(c, secret).status_code == 200, 15, interval=0.3)
    print(f"MongoDB back: the token endpoint answered 200 {time.monotonic() - back:.2f} s after it answered a ping")
    assert c.get("/-/ready").status_code == 200


def test_start_with_mongo_down_creates_indexes_later(own_servers, env):
    r, m = own_servers
    m.stop()
    app = create_app(load_settings({**env, "REDIS_URL": r.url, "MONGODB_URL": f"{m.url}/late"}))
    c = app.test_client()
    assert c.get("/-/ready").status_code == 503
    m.start()
    assert within(lambda: c.get("/-/ready").status_code == 200, 15, interval=0.3)
    names = app.extensions["gatehouse"].mongo.clients.index_information()
    assert "clientId_unique" in names


@pytest.mark.parametrize("password", [None, "s3cret-pass"], ids=["no-auth", "auth-handshake"])
def test_one_redis_call_against_a_hung_redis_is_retried_once(tmp_path, password):
    """REDIS_TIMEOUT_SECONDS, retried once, bounds a call to a Redis that accepts connections but
    never answers (SIGSTOPped), also on a connection not yet made (a new worker, a larger pool):
    redis-py retries the connect and handshake inside each attempt of the command with the same
    policy, which made four attempts (4 x the timeout) of one call."""
    import signal
    import time

    from app.adapters import redis_store
    from app.core.errors import DependencyUnavailable
    from tests.support.servers import RedisServer

    server = RedisServer(tmp_path / "redis", extra=["--requirepass", password] if password else [],
                         password=password)
    server.start()
    timeout = 0.5
    client = redis_store.connect(redis_store.RedisConfig("normal", None, (("127.0.0.1", server.port),), None,
                                                         None, password, False, None, timeout))
    feed = redis_store.RedisRevocationFeed(client)
    try:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable):
            feed.since(0)  # the first call: a new connection, its handshake, then the script
        took = time.monotonic() - started
        print(f"one call against a hung Redis: {took:.2f} s")
        assert 2 * timeout <= took < 2 * timeout + 0.4, took
    finally:
        if server.proc is not None:
            server.proc.send_signal(signal.SIGCONT)
        client.close()
        server.stop()
