"""The default /auth revocation path: workers mirror the Redis revocation feed, so a revoked
token or an ended session is refused within REVOCATION_SYNC_SECONDS, with no Redis round trip
per request."""
from __future__ import annotations

import json
import time

import pytest

from app import create_app
from app.adapters.redis_store import RedisRevocationFeed
from app.core.records import FeedBatch, Revocation
from app.settings import load_settings
from tests.conftest import ADMIN, basic
from tests.support.servers import within

ROUTES = {"/orders": {"GET": {"authorization": {"expression": "permissions.orders"}}}}
BOUND = 0.2


def refused_within(check, seconds: float) -> bool:
    """Poll until the check answers 401; False if it never does in `seconds`."""
    return within(lambda: check().status_code == 401, seconds)


def test_the_feed_keeps_order_epoch_and_entries_until_they_expire(env):
    app = create_app(load_settings(env))
    r = app.extensions["gatehouse"].redis
    feed = RedisRevocationFeed(r)
    empty = feed.since(0)
    assert (empty.entries, empty.current) == ([], 0) and empty.epoch  # a feed read is named at once
    assert feed.since(0).epoch == empty.epoch and 0 < r.ttl("gatehouse:v1:feed-epoch") <= 86400
    r.delete(*RedisRevocationFeed.KEYS)  # Redis lost its data before anything was published
    unnamed = feed.since(0)
    assert unnamed.epoch and unnamed.epoch != empty.epoch, "a loss is noticed with nothing published"
    now = time.time()
    feed.publish(Revocation("jti", "a", now, now + 600))
    feed.publish(Revocation("sid", "b", now, now + 60))
    feed.publish(Revocation("jti", "c", now - 10, now - 5))  # already over: trimmed at the next publish
    feed.publish(Revocation("client", "x|y", 123.25, now + 900))
    batch = feed.since(0)
    assert [(e.kind, e.key) for e in batch.entries] == [("jti", "a"), ("sid", "b"), ("client", "x|y")]
    assert batch.epoch != unnamed.epoch  # the sequence started at 1: a new run, a new name
    assert batch.entries[2].at == 123.25 and batch.current == 4 and batch.epoch
    assert feed.since(batch.current) == FeedBatch([], 4, batch.epoch)
    assert 600 < r.ttl("gatehouse:v1:feed") <= 962  # as long as the longest-lived entry
    assert r.ttl("gatehouse:v1:feed-epoch") == r.ttl("gatehouse:v1:feed")
    r.delete(*RedisRevocationFeed.KEYS)  # what the TTL does after a quiet period
    feed.publish(Revocation("jti", "d", now, now + 600))
    again = feed.since(0)
    assert again.current == 1 and again.epoch != batch.epoch  # a new feed, named anew


def test_the_durable_record_keeps_the_strongest_entry(env):
    from app.adapters.mongo import MongoRevocations
    app = create_app(load_settings(env))
    store = MongoRevocations(app.extensions["gatehouse"].mongo)
    now = time.time()
    store.record(Revocation("client", "c", now, now + 60))
    store.record(Revocation("client", "c", now - 5, now + 600))  # older cut-off, longer life
    store.record(Revocation("jti", "gone", now - 10, now - 1))
    [entry] = store.find([("client", "c"), ("jti", "gone"), ("jti", "other")], now)
    assert entry.at == pytest.approx(now) and entry.until == pytest.approx(now + 600, abs=0.01)
    assert [e.key for e in store.active(now)] == ["c"]
    assert "until_ttl" in app.extensions["gatehouse"].mongo["revocations"].index_information()


def test_a_revoked_token_is_refused_within_the_bound(env, tmp_path):
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    app = create_app(load_settings({**env, "ROUTES_FILE": str(routes), "REVOCATION_SYNC_SECONDS": str(BOUND)}))
    c = app.test_client()
    reg = c.post("/register", json={"client_name": "t", "permissions": ["orders"]}, headers=ADMIN).json
    token = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   headers=basic(reg["client_id"], reg["client_secret"])).json["access_token"]

    def check():
        return c.get("/auth", headers={"X-Original-URI": "/orders", "X-Original-Method": "GET",
                                       "Authorization": f"Bearer {token}"})
    assert check().status_code == 204
    assert c.post("/oauth/revoke", data={"token": token},
                  headers=basic(reg["client_id"], reg["client_secret"])).status_code == 200
    assert c.get("/tokeninfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401  # at once
    assert refused_within(check, BOUND + 2)
    assert check().status_code == 401


def test_an_ended_session_is_refused_within_the_bound(env, tmp_path, dev_provider):
    from tests.conftest import login_app, with_apps
    from tests.integration.test_login import at_dev_provider, start
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps({"/": {"ALL": {"authorization": {"expression": "true"}}}}))
    app = create_app(load_settings({**with_apps(env, tmp_path, {"web": login_app(dev_provider.url)}),
                                    "ROUTES_FILE": str(routes), "REVOCATION_SYNC_SECONDS": str(BOUND)}))
    c = app.test_client()
    session = c.post("/oauth/token", json=at_dev_provider(start(c), "alice")).json

    def check():
        return c.get("/auth", headers={"X-Original-URI": "/x", "X-Original-Method": "GET",
                                       "Authorization": f"Bearer {session['accessToken']}"})
    assert check().status_code == 204
    user = c.get("/userinfo", headers={"Authorization": f"Bearer {session['accessToken']}"}).json
    assert c.delete(f"/sessions/{user['userId']}", headers=ADMIN).json == {"count": 1}
    assert refused_within(check, BOUND + 2)
