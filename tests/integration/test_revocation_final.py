"""A revocation, a logout or a client cut-off is final: it holds at /auth, /tokeninfo,
introspection and the session endpoints across feed expiry, a Redis restarted empty, new workers,
and a refresh tried while MongoDB is down does not destroy the session. Every test runs the
mirrored default (REVOCATION_SYNC_SECONDS > 0) against real Redis and the MongoDB-wire server."""
from __future__ import annotations

import json
import time

import pytest

from app import create_app
from app.settings import load_settings
from tests.conftest import ADMIN, basic, login_app, with_apps
from tests.integration.test_login import at_dev_provider, start
from tests.support.servers import within

ROUTES = {"/orders": {"GET": {"authorization": {"expression": "permissions.orders"}}},
          "/": {"ALL": {"authorization": {"expression": "true"}}}}
BOUND = 0.2


def eventually(check, seconds: float = BOUND + 2) -> bool:
    return within(check, seconds)


class Site:
    """One Gatehouse worker (an app) over given stores, with login configured (an app whose
    login and refresh answer the tokens in JSON, as a single-page or mobile app uses them)."""

    def __init__(self, env: dict[str, str], tmp_path, provider_url: str, **extra: str) -> None:
        routes = tmp_path / "auth.json"
        routes.write_text(json.dumps(ROUTES))
        self.env = {**with_apps(env, tmp_path, {"web": login_app(provider_url, isWebsiteApp=False)}), "ROUTES_FILE": str(routes),
                    "REVOCATION_SYNC_SECONDS": str(BOUND), **extra}
        self.app = create_app(load_settings(self.env))
        self.c = self.app.test_client(use_cookies=False)

    def worker(self) -> "Site":
        """Another worker (a new process) of the same deployment."""
        other = object.__new__(Site)
        other.env = self.env
        other.app = create_app(load_settings(self.env))
        other.c = other.app.test_client(use_cookies=False)
        return other

    def client(self, name: str = "svc") -> dict[str, str]:
        r = self.c.post("/register", json={"client_name": name, "permissions": ["orders"]}, headers=ADMIN)
        assert r.status_code == 201, r.json
        return r.json

    def token(self, reg: dict[str, str]) -> str:
        r = self.c.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic(reg["client_id"], reg["client_secret"]))
        assert r.status_code == 200, r.json
        return str(r.json["access_token"])

    def revoke(self, reg: dict[str, str], token: str) -> int:
        return int(self.c.post("/oauth/revoke", data={"token": token},
                               headers=basic(reg["client_id"], reg["client_secret"])).status_code)

    def auth(self, token: str, uri: str = "/orders") -> int:
        return int(self.c.get("/auth", headers={"X-Original-URI": uri, "X-Original-Method": "GET",
                                                "Authorization": f"Bearer {token}"}).status_code)

    def tokeninfo(self, token: str) -> int:
        return int(self.c.get("/tokeninfo", headers={"Authorization": f"Bearer {token}"}).status_code)

    def introspect(self, reg: dict[str, str], token: str) -> bool:
        r = self.c.post("/oauth/introspect", data={"token": token}, headers=basic(reg["client_id"], reg["client_secret"]))
        assert r.status_code == 200, r.json
        return bool(r.json["active"])

    def login(self, sub: str = "alice") -> dict[str, str]:
        browser = self.app.test_client()  # its own cookies; every other call sends none
        r = browser.post("/oauth/token", json=at_dev_provider(start(browser), sub))
        assert r.status_code == 200, r.json
        return r.json

    def logout(self, session: dict[str, str]) -> int:
        return int(self.c.get("/logout", headers={"Authorization": f"Bearer {session['accessToken']}"}).status_code)

    def userinfo(self, session: dict[str, str]) -> int:
        return int(self.c.get("/userinfo", headers={"Authorization": f"Bearer {session['accessToken']}"}).status_code)


@pytest.fixture
def site(env, tmp_path, dev_provider, own_servers):
    r, m = own_servers
    return Site({**env, "REDIS_URL": r.url, "MONGODB_URL": f"{m.url}/final"}, tmp_path, dev_provider.url)


def forget_feed(site: Site) -> None:
    """What the feed keys' TTL does after a quiet period (and what a Redis flush does)."""
    r = site.app.extensions["gatehouse"].redis
    names = r.keys("gatehouse:v1:feed*")
    assert names, "the feed exists"
    r.delete(*names)


def test_a_revocation_after_the_feed_expired_is_honoured(site):
    """No fault at all: the feed's keys expire in a quiet period, the sequence starts again."""
    reg = site.client()
    first, second = site.token(reg), site.token(reg)
    assert site.auth(first) == 204 and site.auth(second) == 204
    assert site.revoke(reg, first) == 200
    assert eventually(lambda: site.auth(first) == 401)
    forget_feed(site)
    assert site.revoke(reg, second) == 200
    assert eventually(lambda: site.auth(second) == 401), "a revocation numbered 1 again is still seen"
    assert site.auth(first) == 401


def test_a_logout_after_the_feed_expired_is_honoured(site):
    one, two = site.login("alice"), site.login("bob")
    assert site.auth(one["accessToken"], "/x") == 204 and site.auth(two["accessToken"], "/x") == 204
    assert site.logout(one) in (200, 302)
    assert eventually(lambda: site.auth(one["accessToken"], "/x") == 401)
    forget_feed(site)
    assert site.logout(two) in (200, 302)
    assert eventually(lambda: site.auth(two["accessToken"], "/x") == 401)


def test_redis_restarted_empty_revives_nothing(site, own_servers):
    """Revocations and ended sessions survive the loss of everything in Redis: at running
    workers, at workers started after the loss, at /tokeninfo and introspection."""
    r, _ = own_servers
    reg = site.client()
    revoked, kept = site.token(reg), site.token(reg)
    ended, open_session = site.login("alice"), site.login("bob")
    assert site.revoke(reg, revoked) == 200
    assert site.logout(ended) in (200, 302)
    assert eventually(lambda: site.auth(revoked) == 401 and site.auth(ended["accessToken"], "/x") == 401)
    r.stop()
    r.start()  # a fresh redis-server on the same port: nothing survived
    back = time.monotonic()
    assert eventually(lambda: site.auth(kept) == 204 and site.auth(revoked) == 401, 5)
    print(f"Redis restarted empty: the running worker answered again {time.monotonic() - back:.2f} s after")
    new = site.worker()
    for worker in (site, new):
        assert eventually(lambda: worker.auth(revoked) == 401, 5)
        assert worker.auth(ended["accessToken"], "/x") == 401
        assert worker.tokeninfo(revoked) == 401
        assert not worker.introspect(reg, revoked)
        assert worker.userinfo(ended) == 401
        assert worker.auth(kept) == 204 and worker.tokeninfo(kept) == 200  # nothing else refused
        # a session lives in Redis: with its record gone its JWTs are refused too (people log in
        # again) by every worker that does not remember verifying them (VERIFIED_TOKEN_CACHE_SECONDS)
        assert worker.auth(open_session["accessToken"], "/x") == 401 and worker.userinfo(open_session) == 401


def test_redis_back_from_an_older_copy_revives_nothing(site, own_servers):
    """Redis comes back with an older copy of its data (restarted from its last snapshot, or a
    replica that lagged promoted by a failover): the feed keeps its epoch but its sequence goes
    back, and the next revocations number again what running workers already read. The worker
    must still see them — and what it read before."""
    r, _ = own_servers
    reg = site.client()
    first, second, third = (site.token(reg) for _ in range(3))
    ended = site.login("alice")
    assert site.revoke(reg, first) == 200
    site.app.extensions["gatehouse"].redis.save()  # the copy: the feed holds the first entry
    assert site.revoke(reg, second) == 200
    assert eventually(lambda: site.auth(second) == 401), "the worker read past the copy"
    r.stop()
    r.start()  # loads the snapshot (dump.rdb in its directory): same epoch, sequence 1
    assert site.revoke(reg, third) == 200  # sequence 2 again
    assert site.logout(ended) in (200, 302)  # sequence 3
    assert eventually(lambda: site.auth(third) == 401)
    assert eventually(lambda: site.auth(ended["accessToken"], "/x") == 401)
    assert site.auth(first) == 401 and site.auth(second) == 401


def test_a_refresh_tried_while_mongodb_is_down_can_be_retried(site, own_servers):
    """The refresh gets past every Redis read and fails on MongoDB's (the user's groups): the
    refresh token must still be unspent. The worker's mirror is loaded first, so the 503 is not
    the mirror's own first read of MongoDB (which comes before anything is spent)."""
    _, m = own_servers
    session = site.login("alice")
    assert site.auth(session["accessToken"], "/x") == 204  # the mirror has read MongoDB
    m.stop()
    try:
        failed = site.c.post("/refreshtoken", json={"refreshToken": session["refreshToken"]})
        assert failed.status_code == 503
    finally:
        m.start()
    retried = site.c.post("/refreshtoken", json={"refreshToken": session["refreshToken"]})
    assert retried.status_code == 200, retried.json
    assert site.auth(retried.json["accessToken"], "/x") == 204
    assert site.userinfo(retried.json) == 200


@pytest.mark.parametrize("cut", ["disable", "revoke-tokens"])
def test_cutting_off_a_client_refuses_all_its_live_tokens(site, cut):
    reg, other = site.client("compromised"), site.client("bystander")
    live, bystander = site.token(reg), site.token(other)
    assert site.auth(live) == 204
    path = f"/clients/{reg['client_id']}" if cut == "disable" else f"/clients/{reg['client_id']}/revoke-tokens"
    r = site.c.delete(path, headers=ADMIN) if cut == "disable" else site.c.post(path, headers=ADMIN)
    assert r.status_code == 200, r.json
    assert eventually(lambda: site.auth(live) == 401)
    assert site.tokeninfo(live) == 401
    assert not site.introspect(other, live)
    assert site.auth(bystander) == 204 and site.tokeninfo(bystander) == 200
    if cut == "revoke-tokens":  # still enabled: a token asked for after the answer works
        fresh = site.token(reg)
        assert site.auth(fresh) == 204 and site.tokeninfo(fresh) == 200
    else:
        assert site.c.patch(f"/clients/{reg['client_id']}", json={"state": "ENABLED"},
                            headers=ADMIN).status_code == 200
        fresh = site.token(reg)
        assert site.auth(fresh) == 204
        assert site.auth(live) == 401, "re-enabling does not revive the tokens cut off"
    new = site.worker()
    assert new.auth(live) == 401 and new.auth(fresh) == 204


def test_a_logged_out_session_restored_in_redis_stays_ended(site):
    """Redis restored from an older copy brings back a session's records: its refresh token and
    JWTs are still refused (the ended session is recorded in MongoDB)."""
    r = site.app.extensions["gatehouse"].redis
    session = site.login("alice")
    saved = {name: r.dump(name) for name in r.keys("gatehouse:v1:session:*") + r.keys("gatehouse:v1:refresh:*")}
    assert site.logout(session) in (200, 302)
    for name, value in saved.items():
        r.restore(name, 0, value, replace=True)
    refresh = site.c.post("/refreshtoken", json={"refreshToken": session["refreshToken"]})
    assert refresh.status_code == 401
    assert eventually(lambda: site.auth(session["accessToken"], "/x") == 401)
    assert site.userinfo(session) == 401


def test_a_sentinel_failover_revives_nothing(env, tmp_path, dev_provider, own_servers):
    """Redis under Sentinel: the master is killed and its replica promoted. What was revoked and
    ended before stays refused at the running worker and at a worker started after, and a
    revocation at the new master is honoured; the checks fail closed (never 200/204 for what is
    revoked) while no master answers."""
    import redis as redis_client

    from tests.support.servers import RedisServer, SentinelServer, wait_until

    _, m = own_servers
    master = RedisServer(tmp_path / "master")
    master.start()
    replica = RedisServer(tmp_path / "replica", extra=["--replicaof", "127.0.0.1", str(master.port)])
    replica.start()
    watcher = SentinelServer(tmp_path / "sentinel", master.port, down_after_ms=500)
    try:
        wait_until(lambda: redis_client.Redis(port=replica.port).info("replication")["master_link_status"] == "up",
                   "the replica in sync", 30)
        watcher.start()
        sentinel = redis_client.Redis(port=watcher.port)
        wait_until(lambda: sentinel.sentinel_slaves(watcher.name), "the sentinel knows the replica", 30)
        stores = {k: v for k, v in env.items() if not k.startswith("REDIS_") or k == "REDIS_TIMEOUT_SECONDS"}
        site = Site({**stores, "REDIS_MODE": "sentinel", "REDIS_HOSTS": f"127.0.0.1:{watcher.port}",
                     "REDIS_MASTER_NAME": watcher.name, "MONGODB_URL": f"{m.url}/failover"},
                    tmp_path, dev_provider.url)
        reg = site.client()
        revoked, later, kept = site.token(reg), site.token(reg), site.token(reg)
        ended = site.login("alice")
        assert site.revoke(reg, revoked) == 200 and site.logout(ended) in (200, 302)
        assert eventually(lambda: site.auth(revoked) == 401 and site.auth(ended["accessToken"], "/x") == 401)
        assert redis_client.Redis(port=master.port).wait(1, 2000) == 1  # the replica has it all
        assert master.proc is not None
        master.proc.kill()
        master.proc.wait()
        killed = time.monotonic()
        answers: list[int] = []

        def promoted() -> bool:
            answers.extend((site.auth(revoked), site.auth(ended["accessToken"], "/x")))
            return bool(sentinel.sentinel_get_master_addr_by_name(watcher.name)[1] == replica.port)
        assert within(promoted, 30, interval=0.1), answers[-6:]
        print(f"Sentinel failover: the replica promoted {time.monotonic() - killed:.2f} s after the master died")
        assert eventually(lambda: site.auth(kept) == 204 and site.tokeninfo(kept) == 200, 10)
        print(f"Sentinel failover: checks answered again {time.monotonic() - killed:.2f} s after the master died")
        assert set(answers) <= {401, 503}, "a revoked token or ended session is never let through"
        assert site.revoke(reg, later) == 200
        new = site.worker()
        for worker in (site, new):
            assert eventually(lambda: worker.auth(later) == 401)
            assert worker.auth(revoked) == 401 and worker.auth(ended["accessToken"], "/x") == 401
            assert worker.tokeninfo(revoked) == 401 and worker.userinfo(ended) == 401
            assert worker.auth(kept) == 204
    finally:
        watcher.stop()
        replica.stop()
        master.stop()
