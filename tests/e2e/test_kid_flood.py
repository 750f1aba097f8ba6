"""A flood of made-up `kid`s for a configured issuer whose JWKS hangs cannot stall the /auth group:
checks that need no provider (a session JWT, a cached kid) keep their latency under both servers."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import login_app, with_apps
from tests.integration.test_login import at_dev_provider
from tests.support.issuer import LocalIssuer
from tests.support.servers import wait_until

ROUTES = {"/": {"ALL": {"authorization": {"expression": "true"}}}}
FLOOD = 50
SAMPLES = 24  # per kind of check, with and without the flood
OUTBOUND_TIMEOUT = 4  # the hung JWKS fetch lasts this long: the whole measurement fits inside it
FLOOR = 0.3  # seconds: below this, twice a noisy baseline on a shared 2-core machine is not a stall


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@pytest.mark.parametrize("server", ["uwsgi", "gunicorn"])
def test_unknown_kids_against_a_hung_jwks_leave_other_checks_their_latency(
        env, tmp_path, gunicorn_server, uwsgi_check_server, dev_provider, server):
    """50 concurrent checks with made-up kids while the issuer's JWKS hangs: the p99 of session-JWT
    and cached-kid checks measured meanwhile stays within twice the p99 without the flood (uWSGI:
    2 workers x 4 threads, the default; gunicorn: its gevent check group)."""
    issuer = LocalIssuer()
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    run_env = {**with_apps(env, tmp_path, {"web": login_app(dev_provider.url)},
                           issuers=[{"issuer": issuer.url, "audience": ["gloo-api"], "jwks_uri": f"{issuer.url}/jwks"}]),
               "ROUTES_FILE": str(routes), "OUTBOUND_TIMEOUT_SECONDS": str(OUTBOUND_TIMEOUT),
               "JWKS_REFETCH_COOLDOWN_SECONDS": "2"}
    main = gunicorn_server(run_env, workers=1)
    if server == "uwsgi":
        base, _ = uwsgi_check_server(run_env, processes=2)
    else:
        base = gunicorn_server({**run_env, "GATEHOUSE_ROLE": "check"}, workers=2)
    browser = requests.Session()
    start = browser.get(f"{main}/authorize", params={"appId": "web", "providerId": "dev", "redirect": "/x"},
                        allow_redirects=False, timeout=5)
    session = browser.post(f"{main}/oauth/token", json=at_dev_provider(start.headers["Location"], "alice"),
                           timeout=10).json()["accessToken"]
    cached = issuer.token()
    made_up = [issuer.token(kid=f"made-up-{i}") for i in range(FLOOD)]

    def check(token: str, timeout: float = 10) -> tuple[int, float]:
        started = time.monotonic()
        status = requests.get(f"{base}/auth", timeout=timeout, headers={
            "X-Original-URI": "/x", "X-Original-Method": "GET", "Authorization": f"Bearer {token}"}).status_code
        return status, time.monotonic() - started

    def measure() -> tuple[float, float]:
        """p99 of session and cached-kid checks, 4 callers at a time; each must be answered 204."""
        with ThreadPoolExecutor(4) as pool:
            sessions = list(pool.map(lambda _: check(session), range(SAMPLES)))
            kids = list(pool.map(lambda _: check(cached), range(SAMPLES)))
        assert {status for status, _ in sessions + kids} == {204}, (sessions, kids)
        return p99([t for _, t in sessions]), p99([t for _, t in kids])

    try:
        for _ in range(8):  # every worker has the keys and knows the session
            assert check(cached)[0] == 204 and check(session)[0] == 204
        quiet = measure()
        time.sleep(2.1)  # past the refetch cooldown: an unknown kid fetches the keys again
        fetched = issuer.jwks_fetches
        issuer.hang = OUTBOUND_TIMEOUT + 4.0
        flood = ThreadPoolExecutor(FLOOD)
        flooding = time.monotonic()
        waiting = [flood.submit(check, token, 30) for token in made_up]
        wait_until(lambda: issuer.jwks_fetches > fetched, "a JWKS fetch under way", 10)
        time.sleep(0.3)  # every flood check has reached a worker
        flooded = measure()
        took = time.monotonic() - flooding
        print(f"kid flood ({server}): p99 session {quiet[0]:.3f} -> {flooded[0]:.3f} s, "
              f"cached kid {quiet[1]:.3f} -> {flooded[1]:.3f} s")
        for before, during in zip(quiet, flooded):
            assert during <= max(2 * before, FLOOR), (quiet, flooded)
        assert took < OUTBOUND_TIMEOUT - 0.5, f"the measurement outlasted the hung fetch ({took:.2f} s)"
        answered = [f.result() for f in waiting]
        # the flood itself fails closed or is refused, never allowed
        assert {status for status, _ in answered} <= {401, 503}, answered
    finally:
        issuer.hang = 0.0
        issuer.close()
