"""A revocation, a logout, an administrator's end of a user's sessions and a client cut-off that
meet a Redis outage are answered once MongoDB has them, and every running worker refuses what they name within the stated bound
(REVOCATION_RECONCILE_SECONDS plus one MongoDB read), whatever the feed missed: Redis comes back
with the same data (the same process after a pause, or restarted from its own snapshot), so the
feed does not tell the workers."""
from __future__ import annotations

import signal
import time

import pytest

from tests.conftest import ADMIN
from tests.integration.test_revocation_final import Site
from tests.support.servers import RedisServer, within

RECONCILE = 1.0
BOUND = RECONCILE + 2.0  # one reconcile period, one MongoDB read, and the test's own polling


OUTAGES = ["restarted with its data", "restarted with its data, a user without INFO", "paused"]


@pytest.fixture
def redis_at_fault(tmp_path, own_servers, request):
    """The Redis of the test, as the outage needs it. A user that may not run INFO names the feed
    by its stored epoch alone, so a Redis restarted with its data is the same feed: only the
    durable record can tell the workers what was recorded while it was down."""
    if "INFO" not in request.param:
        yield own_servers[0], own_servers[0].url
        return
    server = RedisServer(tmp_path / "acl", extra=["--user", "default", "off", "--user", "gatehouse", "on",
                                                  ">s3cret-pass", "~gatehouse:*", "+@all", "-info"],
                         username="gatehouse", password="s3cret-pass")
    server.start()
    yield server, f"redis://gatehouse:s3cret-pass@127.0.0.1:{server.port}/0"
    server.stop()


@pytest.mark.parametrize("redis_at_fault", OUTAGES, indirect=True)
def test_what_is_recorded_while_the_feed_is_down_reaches_every_running_worker(
        env, tmp_path, dev_provider, own_servers, redis_at_fault, request):
    r, url = redis_at_fault
    outage = request.node.callspec.params["redis_at_fault"]
    site = Site({**env, "REDIS_URL": url, "MONGODB_URL": f"{own_servers[1].url}/reconcile"}, tmp_path,
                dev_provider.url, REVOCATION_RECONCILE_SECONDS=str(RECONCILE), REDIS_TIMEOUT_SECONDS="0.3",
                MONGODB_TIMEOUT_MS="500")
    running = site.worker()  # a second worker: it only answers checks
    reg, cut = site.client("svc"), site.client("compromised")
    revoked, kept, cut_token = site.token(reg), site.token(reg), site.token(cut)
    ended, ended_by_admin = site.login("alice"), site.login("bob")
    bob = site.c.get("/userinfo", headers={"Authorization": f"Bearer {ended_by_admin['accessToken']}"}).json["userId"]
    for worker in (site, running):
        assert worker.auth(revoked) == 204 and worker.auth(cut_token) == 204
        assert worker.auth(ended["accessToken"], "/x") == 204 and worker.auth(ended_by_admin["accessToken"], "/x") == 204
    assert r.proc is not None
    if outage == "paused":
        r.proc.send_signal(signal.SIGSTOP)
    else:
        site.app.extensions["gatehouse"].redis.save()  # what comes back: the data as it was
        r.stop()
    try:
        assert site.revoke(reg, revoked) == 200
        assert site.logout(ended) in (200, 302)
        assert site.c.delete(f"/sessions/{bob}", headers=ADMIN).json == {"count": 1}
        disabled = site.c.delete(f"/clients/{cut['client_id']}", headers=ADMIN)
        assert disabled.status_code == 200, disabled.json
        assert site.tokeninfo(revoked) == 401  # durable: answered from MongoDB at once
    finally:
        if outage == "paused":
            r.proc.send_signal(signal.SIGCONT)
        else:
            r.start()
    back = time.monotonic()
    for worker in (site, running):
        assert within(lambda: worker.auth(revoked) == 401, BOUND, interval=0.05), "the revoked token"
        assert within(lambda: worker.auth(ended["accessToken"], "/x") == 401, BOUND, interval=0.05), "the session"
        assert within(lambda: worker.auth(ended_by_admin["accessToken"], "/x") == 401, BOUND, interval=0.05), \
            "the session an administrator ended"
        assert within(lambda: worker.auth(cut_token) == 401, BOUND, interval=0.05), "the cut-off client"
        assert worker.auth(kept) == 204  # nothing else refused
    print(f"Redis {outage}: every running worker refused them all {time.monotonic() - back:.2f} s after it was back")
    assert time.monotonic() - back < BOUND
