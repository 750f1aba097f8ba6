"""Faults production brings, against real processes: a hung Redis (SIGSTOP), SIGTERM to each
gunicorn group under load behind nginx (a rolling deploy), two Gatehouse deployments sharing one
Redis and one MongoDB, a revocation the Redis feed missed, and start-up faults that must be one
clear line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from app import create_app
from app.settings import load_settings
from tests.conftest import ADMIN, basic, login_app, with_apps
from tests.e2e.conftest import ROOT, http
from tests.integration.test_login import at_dev_provider
from tests.support.servers import RedisServer, free_port, wait_until, within

ROUTES = {"/orders": {"ALL": {"authorization": {"expression": "permissions.orders"}}},
          "/": {"ALL": {"authorization": {"expression": "true"}}}}


@dataclass
class Group:
    """One gunicorn process group of Gatehouse."""

    proc: subprocess.Popen
    base: str
    log: Path

    @property
    def address(self) -> str:
        return self.base.split("//")[1]


@pytest.fixture
def groups(env, tmp_path):
    started: list[Group] = []

    def start(extra: dict[str, str], role: str = "all", workers: int = 1) -> Group:
        port = free_port()
        log = tmp_path / f"gunicorn-{port}.log"
        run_env = {**os.environ, **env, **extra, "HTTP_PORT": str(port), "GUNICORN_WORKERS": str(workers),
                   "GATEHOUSE_ROLE": role, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{port}"),
                   "LOG_LEVEL": "info"}
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                    cwd=ROOT, env=run_env, stdout=out, stderr=subprocess.STDOUT)
        group = Group(proc, f"http://127.0.0.1:{port}", log)
        started.append(group)
        wait_until(lambda: http(f"{group.base}/-/ready")[0] == 200, "gunicorn", 30)
        return group

    yield start
    for group in started:
        if group.proc.poll() is None:
            group.proc.kill()
            group.proc.wait()


def routes_env(env: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    return {**env, "ROUTES_FILE": str(routes), **extra}


def client_and_token(run_env: dict[str, str]) -> tuple[dict[str, str], str]:
    """Register a client and get a token in-process, against the same stores."""
    c = create_app(load_settings(run_env)).test_client()
    reg = c.post("/register", json={"client_name": "svc", "permissions": ["orders"]}, headers=ADMIN).json
    token = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   headers=basic(reg["client_id"], reg["client_secret"])).json["access_token"]
    return reg, token


def timed_check(base: str, token: str) -> tuple[int, float]:
    started = time.monotonic()
    try:
        r = requests.get(f"{base}/auth", headers={"X-Original-URI": "/orders", "X-Original-Method": "GET",
                                                   "Authorization": f"Bearer {token}"}, timeout=15)
        status = r.status_code
    except requests.RequestException:
        status = 0
    return status, time.monotonic() - started


@pytest.fixture
def own_redis(env, tmp_path):
    """A Redis of the test's own (to stop or hang), the environment that uses it with short store
    bounds and the routes, and a client token: (server, environment, token)."""
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    run_env = routes_env(env, tmp_path, REDIS_URL=redis_server.url, REVOCATION_SYNC_SECONDS="1",
                         REDIS_TIMEOUT_SECONDS="1")
    _, token = client_and_token(run_env)
    yield redis_server, run_env, token
    redis_server.stop()


@pytest.mark.parametrize("server", ["uwsgi", "gunicorn"])
def test_a_hung_redis_bounds_every_check(own_redis, groups, uwsgi_check_server, server):
    """Redis SIGSTOPped: 12 concurrent checks at the /auth group (uWSGI, 2 workers x 4 threads:
    more checks than threads; gunicorn's gevent workers) all fail closed, each within the
    documented bound (2 x REDIS_TIMEOUT_SECONDS + 0.5 s), none after another's timeout; after
    SIGCONT the checks are answered again."""
    redis_server, run_env, token = own_redis
    base = groups(run_env, role="check").base if server == "gunicorn" else \
        uwsgi_check_server(run_env, processes=2)[0]
    assert timed_check(base, token)[0] == 204
    assert redis_server.proc is not None
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.1)  # the mirror's bound has passed: the next check must pull
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(lambda _: timed_check(base, token), range(12)))
        assert [status for status, _ in results] == [503] * 12, results
        assert max(took for _, took in results) < 2.5 + 0.5, results
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    print(f"hung Redis ({server}): 12 checks answered 503 in "
          f"{min(t for _, t in results):.2f}-{max(t for _, t in results):.2f} s")
    assert within(lambda: timed_check(base, token)[0] == 204, 5, interval=0.1)
    print(f"hung Redis ({server}): checks answered again {time.monotonic() - resumed:.2f} s after SIGCONT")


@pytest.mark.parametrize("server", ["uwsgi", "gunicorn"])
def test_a_store_down_reaches_the_client_as_503_with_retry_after(own_redis, groups, uwsgi_check_server,
                                                                  nginx_server, echo, server):
    """Redis stopped: the check fails closed with 503 and Retry-After (what Caddy hands to the
    client as it is; Envoy answers its own: tests/e2e/test_forward_auth_proxies.py), and through
    the shipped nginx the client gets that 503 and Retry-After too (auth_request alone would make
    it a 500): JSON for an API call, a "try again" page for a browser navigation; nothing reaches
    the upstream. Redis back: allowed again."""
    redis_server, run_env, token = own_redis
    main = groups(run_env)
    if server == "gunicorn":
        check = groups(run_env, role="check").base
        site = nginx_server(main.base, echo, check=check)
    else:
        check, socket = uwsgi_check_server(run_env, processes=1)
        site = nginx_server(main.base, echo, check=socket)
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{site}/orders", headers=bearer, timeout=10).status_code == 200
    redis_server.stop()
    time.sleep(1.1)  # past the mirror's bound: the next check must reach Redis
    direct = requests.get(f"{check}/auth", headers={"X-Original-URI": "/orders", "X-Original-Method": "GET",
                                                     **bearer}, timeout=10)
    assert (direct.status_code, direct.headers.get("Retry-After")) == (503, "5")
    api = requests.get(f"{site}/orders", headers={**bearer, "Accept": "application/json"}, timeout=10)
    assert (api.status_code, api.headers.get("Retry-After")) == (503, "5"), api.text
    assert api.headers["Content-Type"].startswith("application/json")
    assert api.json()["statusCode"] == 503 and "try again" in api.json()["message"]
    assert api.json()["requestId"]
    page = requests.get(f"{site}/orders", headers={**bearer, "Accept": "text/html"}, timeout=10)
    assert (page.status_code, page.headers.get("Retry-After")) == (503, "5")
    assert page.headers["Content-Type"].startswith("text/html")
    assert "try again in a moment" in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    redis_server.start()
    assert within(lambda: requests.get(f"{site}/orders", headers=bearer, timeout=10).status_code == 200, 10,
                  interval=0.2)


@pytest.mark.parametrize("target", ["check", "all"])
def test_sigterm_under_load_loses_no_request(env, tmp_path, groups, nginx_server, echo, target):
    """A rolling deploy: one of two instances of a group gets SIGTERM while nginx sends load;
    it reports not-ready, keeps answering through DELAY_SHUTDOWN_SECONDS, drains, exits 0 with
    no traceback, and nginx moves to the other instance: no request fails."""
    run_env = routes_env(env, tmp_path)
    _, token = client_and_token(run_env)
    delay = {"DELAY_SHUTDOWN_SECONDS": "2"}
    mains = [groups(run_env | (delay if target == "all" else {})) for _ in range(2 if target == "all" else 1)]
    checks = [groups(run_env | (delay if target == "check" else {}), role="check")
              for _ in range(2 if target == "check" else 1)]
    site = start_site(nginx_server, echo, mains, checks)
    victim = (checks if target == "check" else mains)[0]
    stop = threading.Event()
    outcomes: list[tuple[str, int]] = []

    def load() -> None:
        session = requests.Session()
        while not stop.is_set():
            for path, headers in (("/orders", {"Authorization": f"Bearer {token}"}),
                                  ("/.well-known/jwks.json", {})):
                try:
                    status = session.get(f"{site}{path}", headers=headers, timeout=10).status_code
                except requests.RequestException:
                    status = 0
                outcomes.append((path, status))
    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(outcomes) >= 50, "load flowing through both instances", 30)
        victim.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: http(f"{victim.base}/-/ready")[0] == 503, "not ready during the delay", 1.5)
        victim.proc.wait(timeout=40)
        after = len(outcomes)
        wait_until(lambda: len(outcomes) > max(after + 100, 200), "load served by the other instance", 30)
    finally:
        stop.set()
        for t in threads:
            t.join()
    failed = [o for o in outcomes if o[1] != 200]
    print(f"SIGTERM to one {target} group under load: {len(outcomes)} requests, {len(failed)} failed")
    assert not failed and len(outcomes) > 200, (failed[:10], len(outcomes))
    assert victim.proc.returncode == 0
    assert "Traceback" not in victim.log.read_text(errors="replace")


def start_site(nginx_server, echo: int, mains: list[Group], checks: list[Group]) -> str:
    """nginx with the shipped config over several instances of each group."""
    return str(nginx_server("http://" + ",".join(g.address for g in mains), echo,
                            check="http://" + ",".join(g.address for g in checks)))


@pytest.mark.parametrize("check_server", ["uwsgi", "gunicorn"])
def test_two_deployments_share_revocations_sessions_and_cut_offs(env, tmp_path, groups, uwsgi_check_server,
                                                                 dev_provider, check_server):
    """Two Gatehouse deployments (each a main group and an /auth group: uWSGI's serve-check or
    gunicorn's gevent group) over one Redis and one MongoDB: a session started at one is used at
    the other; a revocation, a logout and a client cut-off at one are honoured at the other
    within the bound."""
    bound = 0.5
    run_env = routes_env(with_apps(env, tmp_path, {"web": login_app(dev_provider.url)}), tmp_path,
                         REVOCATION_SYNC_SECONDS=str(bound))
    a_main, b_main = groups(run_env), groups(run_env)

    def check_group() -> str:
        """The base URL of a new /auth group."""
        if check_server == "gunicorn":
            return groups(run_env, role="check").base
        return uwsgi_check_server(run_env, processes=1)[0]
    a_check, b_check = check_group(), check_group()

    def auth(check: str, token: str, uri: str = "/orders") -> int:
        return requests.get(f"{check}/auth", headers={"X-Original-URI": uri, "X-Original-Method": "GET",
                                                       "Authorization": f"Bearer {token}"}, timeout=5).status_code

    def refused_at(check: str, token: str, uri: str = "/orders") -> bool:
        return within(lambda: auth(check, token, uri) == 401, bound + 2, interval=0.05)

    reg = requests.post(f"{a_main.base}/register", json={"client_name": "svc", "permissions": ["orders"]},
                        headers=ADMIN, timeout=5).json()
    creds = (reg["client_id"], reg["client_secret"])

    def token_at(group: Group) -> str:
        r = requests.post(f"{group.base}/oauth/token", data={"grant_type": "client_credentials"}, auth=creds, timeout=5)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])
    revoked, cut = token_at(a_main), token_at(b_main)
    assert auth(b_check, revoked) == 204 and auth(a_check, cut) == 204
    # revocation at A, honoured at B
    assert requests.post(f"{a_main.base}/oauth/revoke", data={"token": revoked}, auth=creds, timeout=5).status_code == 200
    assert refused_at(b_check, revoked)
    assert requests.get(f"{b_main.base}/tokeninfo", headers={"Authorization": f"Bearer {revoked}"},
                        timeout=5).status_code == 401
    # a session started at A works at B; its logout at B is honoured at A
    browser = requests.Session()
    start = browser.get(f"{a_main.base}/authorize", params={"appId": "web", "providerId": "dev", "redirect": "/orders"},
                        allow_redirects=False, timeout=5)
    session = browser.post(f"{a_main.base}/oauth/token", json=at_dev_provider(start.headers["Location"], "alice"),
                           timeout=10).json()
    assert auth(b_check, session["accessToken"], "/x") == 204
    assert requests.get(f"{b_main.base}/userinfo", headers={"Authorization": f"Bearer {session['accessToken']}"},
                        timeout=5).status_code == 200
    assert requests.get(f"{b_main.base}/logout", headers={"Authorization": f"Bearer {session['accessToken']}"},
                        allow_redirects=False, timeout=5).status_code == 302
    assert refused_at(a_check, session["accessToken"], "/x")
    # a client cut-off at B is honoured at A
    r = requests.post(f"{b_main.base}/clients/{reg['client_id']}/revoke-tokens", headers=ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    assert refused_at(a_check, cut)
    fresh = token_at(a_main)
    assert auth(a_check, fresh) == 204 and auth(b_check, fresh) == 204


@pytest.mark.parametrize("server", ["uwsgi", "gunicorn"])
def test_a_revocation_the_feed_missed_reaches_the_running_check_workers(env, tmp_path, groups, uwsgi_check_server,
                                                                         server):
    """Redis (its user without INFO: a restart with its data is the same feed) stopped, a token
    revoked at the main group (answered 200 once MongoDB has it), Redis started again with its
    data: every worker of the running /auth group refuses the token within the reconcile bound,
    by its own background reconcile with MongoDB (uWSGI threads, gunicorn's gevent)."""
    import redis

    redis_server = RedisServer(tmp_path / "acl", extra=["--user", "default", "off", "--user", "gatehouse", "on",
                                                        ">s3cret-pass", "~gatehouse:*", "+@all", "-info"],
                               username="gatehouse", password="s3cret-pass")
    redis_server.start()
    try:
        url = f"redis://gatehouse:s3cret-pass@127.0.0.1:{redis_server.port}/0"
        run_env = routes_env(env, tmp_path, REDIS_URL=url, REVOCATION_RECONCILE_SECONDS="1",
                             REDIS_TIMEOUT_SECONDS="0.3", MONGODB_TIMEOUT_MS="500")
        main = groups(run_env)
        check = groups(run_env, role="check").base if server == "gunicorn" else \
            uwsgi_check_server(run_env, processes=2)[0]
        reg = requests.post(f"{main.base}/register", json={"client_name": "svc", "permissions": ["orders"]},
                            headers=ADMIN, timeout=5).json()
        creds = (reg["client_id"], reg["client_secret"])
        token = requests.post(f"{main.base}/oauth/token", data={"grant_type": "client_credentials"}, auth=creds,
                              timeout=5).json()["access_token"]

        def every_worker(status: int) -> bool:  # several checks: each worker of the group answers some
            return all(timed_check(check, token)[0] == status for _ in range(8))
        assert every_worker(204)
        redis.Redis.from_url(url).save()  # what comes back: the data as it was
        redis_server.stop()
        assert requests.post(f"{main.base}/oauth/revoke", data={"token": token}, auth=creds,
                             timeout=10).status_code == 200
        redis_server.start()
        back = time.monotonic()
        assert within(lambda: every_worker(401), 1 + 2 * 0.5 + 2, interval=0.1)
        print(f"feed missed a revocation ({server}): every /auth worker refused it "
              f"{time.monotonic() - back:.2f} s after Redis was back")
    finally:
        redis_server.stop()


START_UP_FAULTS = [
    ({"PROMETHEUS_MULTIPROC_DIR": "{file}/metrics"}, "PROMETHEUS_MULTIPROC_DIR: cannot write {file}/metrics (Not a directory)"),
    ({"PRIVATE_RSA_KEY_FILE_PATH": "{tmp}/no-such-key.pem"},
     "PRIVATE_RSA_KEY_FILE_PATH: cannot read the key file (No such file or directory)"),
    ({"ROUTES_FILE": "{tmp}/no-such-routes.json"}, "ROUTES_FILE: cannot read"),
]
LAUNCHERS = {"gunicorn": [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
             "serve-check": [str(Path(sys.executable).parent / "gatehouse"), "serve-check", "--processes", "1"]}


@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize("change, expected", START_UP_FAULTS)
def test_start_up_faults_are_one_line_and_exit_2(env, tmp_path, change, expected, launcher):
    """Each process group's launcher (the main group's gunicorn, the /auth group's serve-check
    under uWSGI): the fault is one JSON line naming the setting and the path, exit code 2."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    values = {k: v.format(file=blocker, tmp=tmp_path) for k, v in change.items()}
    run_env = {**os.environ, **env, "HTTP_PORT": str(free_port(span=2)), "GUNICORN_WORKERS": "1",
               "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), **values}
    run = subprocess.run(LAUNCHERS[launcher], cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.strip()]
    naming = [line["msg"] for line in lines if expected.format(file=blocker, tmp=tmp_path) in line["msg"]]
    assert len(naming) == 1 and [line["level"] for line in lines].count("error") == 1, run.stderr


def test_dev_var_directory_that_cannot_be_written_is_one_line(tmp_path):
    """`gatehouse dev` (README command 1) with a var directory it cannot write: one line naming
    the path and the option, exit code 2, nothing started."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URL", "REDIS_URL", "REDIS_HOSTS", "GATEHOUSE_CONFIG")}
    run = subprocess.run([str(Path(sys.executable).parent / "gatehouse"), "dev", "--var-dir", str(blocker / "var")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"gatehouse dev: cannot write the var directory {blocker / 'var'} (--var-dir): Not a directory"], run.stderr
