"""A BFF session that ends is refused by every worker within the revocation mirror's bound
(REVOCATION_SYNC_SECONDS), including a worker that has just answered /auth for it (and so may
hold a copy of it, core/login/bff.py BffCopy): logout, back-channel logout, a login that replaced the
session, a refused refresh, the session's end; across the feed's expiry, a Redis restarted
empty, a worker started after the loss; and with Redis down every check fails closed.
Real Redis and MongoDB-wire servers of the test's own, real providers over HTTP."""
from __future__ import annotations

import json
import time

import pytest

from app import create_app
from app.settings import load_settings
from tests.conftest import ADMIN, with_apps
from tests.integration.test_bff import (COOKIE, ROUTES, at_local, auth, bff_config, login, logout_token,
                                        same_origin, session)
from tests.support.servers import wait_until, within

BOUND = 0.2  # REVOCATION_SYNC_SECONDS of these workers
# A worker asks the feed at most every BOUND; a check that must pull waits at most
# 2 × the Redis timeout + the MongoDB timeout + 0.5 s before it fails closed.
SETTLE = BOUND + 6


def eventually(check, seconds: float = SETTLE) -> bool:
    return within(check, seconds)


class Deployment:
    """Workers (apps) of one deployment over the test's own Redis and MongoDB."""

    def __init__(self, env: dict[str, str], tmp_path, bff: dict) -> None:
        routes = tmp_path / "routes.json"
        routes.write_text(json.dumps(ROUTES))
        self.env = {**with_apps(env, tmp_path, {}, bff=bff), "ROUTES_FILE": str(routes),
                    "REVOCATION_SYNC_SECONDS": str(BOUND)}

    def worker(self):
        app = create_app(load_settings(self.env))
        return app.test_client(use_cookies=False)


@pytest.fixture
def stores(env, own_servers):
    r, m = own_servers
    return {**env, "REDIS_URL": r.url, "MONGODB_URL": f"{m.url}/bffcopy"}


@pytest.fixture
def deployment(stores, tmp_path, dev_provider):
    return Deployment(stores, tmp_path, bff_config(dev_provider.url))


def redis_of(c):
    return c.application.extensions["gatehouse"].redis


def running(deployment):
    """Two workers of a deployment that has been running: the feed exists and both have read it
    (the first entry of a feed is also news of a new feed; the tests must not lean on that)."""
    a, b = deployment.worker(), deployment.worker()
    earlier, _ = login(a, "earlier")
    assert a.post("/bff/logout", headers={"Cookie": f"{COOKIE}={earlier}", **same_origin()}).status_code == 200
    assert eventually(lambda: auth(b, earlier).status_code == 401)
    return a, b


def test_logout_at_one_worker_ends_the_session_at_another(deployment):
    a, b = running(deployment)
    sid, _ = login(a, "alice")
    kept, _ = login(a, "bob")
    assert auth(b, sid).status_code == 204 and auth(b, kept).status_code == 204  # b has answered for them
    assert a.post("/bff/logout", headers={"Cookie": f"{COOKIE}={sid}", **same_origin()}).status_code == 200
    assert eventually(lambda: auth(b, sid).status_code == 401)
    assert auth(b, sid).status_code == 401 and session(b, sid).status_code == 401
    assert auth(b, kept).status_code == 204  # nothing else ended


def test_backchannel_logout_ends_the_session_at_every_worker(deployment, dev_provider):
    a, b = running(deployment)
    sid, _ = login(a, "alice")
    bob, _ = login(a, "bob")
    assert auth(b, sid).status_code == 204 and auth(b, bob).status_code == 204
    assert a.post("/bff/backchannel-logout", data={"logout_token": logout_token(dev_provider)}).status_code == 200
    assert eventually(lambda: auth(b, sid).status_code == 401)
    assert auth(b, bob).status_code == 204


def test_an_admin_end_at_one_worker_ends_the_sessions_at_another(deployment):
    a, b = running(deployment)
    one, _ = login(a, "alice")
    two, _ = login(a, "alice")
    bob, _ = login(a, "bob")
    assert all(auth(b, sid).status_code == 204 for sid in (one, two, bob))
    r = a.delete("/bff/sessions/alice", headers=ADMIN)
    assert (r.status_code, r.json) == (200, {"count": 2})
    assert eventually(lambda: auth(b, one).status_code == 401 and auth(b, two).status_code == 401)
    assert auth(b, bob).status_code == 204


def test_a_login_over_a_session_ends_the_old_one_at_every_worker(deployment):
    a, b = running(deployment)
    first, _ = login(a, "alice")
    assert auth(b, first).status_code == 204
    second, _ = login(a, "alice", cookie=f"{COOKIE}={first}")
    assert eventually(lambda: auth(b, first).status_code == 401)
    assert auth(b, second).status_code == 204


def test_a_refused_refresh_leaves_no_worker_answering_for_the_session(stores, tmp_path, local_provider):
    """The access token is due for a refresh from `atExp - refreshMarginSeconds` on: a worker
    that answered before then asks the record again after it, so once one worker's refresh was
    refused (and the session ended) no worker answers for it."""
    local_provider.id_claims = {"aud": "gatehouse-bff", "groups": ["users"]}
    local_provider.expires_in = 33  # due for a refresh 3 s after the login (margin 30 s)
    deployment = Deployment(stores, tmp_path, bff_config(local_provider.url, refreshMarginSeconds=30))
    a, b = deployment.worker(), deployment.worker()
    sid, _ = login(a, "user-1", at=at_local(local_provider))
    assert auth(b, sid).status_code == 204 and local_provider.refreshes == 0
    local_provider.refresh_status = 400
    assert eventually(lambda: auth(a, sid).status_code == 401, 10)  # a's refresh was refused
    assert not redis_of(a).exists(f"gatehouse:v1:bff:{sid}")
    assert auth(b, sid).status_code == 401


def test_the_session_end_is_never_outlived(deployment):
    """A session that reaches its `expiresAt` is over at every worker that answered for it."""
    a, b = deployment.worker(), deployment.worker()
    sid, _ = login(a, "alice")
    r = redis_of(a)
    record = json.loads(r.get(f"gatehouse:v1:bff:{sid}"))
    ends = int(time.time()) + 2
    r.set(f"gatehouse:v1:bff:{sid}", json.dumps({**record, "expiresAt": ends}), keepttl=True)
    assert auth(b, sid).status_code == 204
    wait_until(lambda: time.time() > ends, "the session's end")
    assert auth(b, sid).status_code == 401


def forget_feed(r) -> None:
    """What the feed keys' TTL does after a quiet period."""
    names = r.keys("gatehouse:v1:feed*")
    assert names, "the feed exists"
    r.delete(*names)


def test_a_logout_after_the_feed_expired_is_seen_by_every_worker(deployment):
    a, b = running(deployment)
    first, _ = login(a, "alice")
    second, _ = login(a, "bob")
    assert auth(b, first).status_code == 204 and auth(b, second).status_code == 204
    assert a.post("/bff/logout", headers={"Cookie": f"{COOKIE}={first}", **same_origin()}).status_code == 200
    assert eventually(lambda: auth(b, first).status_code == 401)
    forget_feed(redis_of(a))  # no fault: the feed's keys expired in a quiet period
    assert eventually(lambda: auth(b, second).status_code == 204)  # the sessions live on
    assert a.post("/bff/logout", headers={"Cookie": f"{COOKIE}={second}", **same_origin()}).status_code == 200
    assert eventually(lambda: auth(b, second).status_code == 401), "a logout numbered 1 again is still seen"
    assert auth(b, first).status_code == 401


@pytest.mark.parametrize("published", [False, True], ids=["nothing-published-before", "after-a-logout"])
def test_redis_restarted_empty_ends_every_session_at_every_worker(deployment, own_servers, published):
    """The token records lived in Redis: with them gone the sessions are over, at a worker that
    answered for them before the loss (whether or not the feed existed) and at one started after."""
    r, _ = own_servers
    a, b = deployment.worker(), deployment.worker()
    sid, _ = login(a, "alice")
    if published:
        ended, _ = login(a, "bob")
        assert a.post("/bff/logout", headers={"Cookie": f"{COOKIE}={ended}", **same_origin()}).status_code == 200
    assert auth(b, sid).status_code == 204
    r.stop()
    r.start()  # a fresh redis-server on the same port: nothing survived
    assert eventually(lambda: auth(b, sid).status_code == 401)
    assert auth(a, sid).status_code == 401 and session(b, sid).status_code == 401
    late = deployment.worker()  # started after the loss
    assert auth(late, sid).status_code == 401
    again, _ = login(late, "alice")  # and people can log in again
    assert auth(b, again).status_code == 204


def test_redis_down_fails_closed_at_a_worker_that_answered_before(deployment, own_servers):
    r, _ = own_servers
    a, b = deployment.worker(), deployment.worker()
    sid, _ = login(a, "alice")
    assert auth(b, sid).status_code == 204
    r.stop()
    try:
        assert eventually(lambda: auth(b, sid).status_code == 503)
        assert auth(b, sid).status_code == 503 and auth(a, sid).status_code == 503
    finally:
        r.start()
    assert eventually(lambda: auth(b, sid).status_code == 401)  # it came back empty
