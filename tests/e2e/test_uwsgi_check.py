"""The /auth group under uWSGI (`gatehouse serve-check`, nginx `uwsgi_pass`): the same answers
through real nginx as the gunicorn layout, its /-/metrics, and a drain on SIGTERM under load."""
from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import echoed, http, start_uwsgi_check, stop
from tests.e2e.test_nginx import ROUTES, client_token
from tests.support.servers import RedisServer, children, wait_until, within


# (name, path, headers (TOKEN replaced by a client JWT with permissions.orders), status)
TABLE = [
    ("allowed client JWT", "/orders", {"Authorization": "Bearer TOKEN"}, 200),
    ("allowed, forged identity and cleared headers", "/orders",
     {"Authorization": "Bearer TOKEN", "miauserid": "forged", "Forwarded": "for=10.0.0.1",
      "X-Forwarded-Ssl": "on", "X-Http-Method-Override": "DELETE", "Original-Request-Uri": "/admin"}, 200),
    ("no credential", "/orders", {}, 401),
    ("malformed JWT", "/orders", {"Authorization": "Bearer abc.def"}, 401),
    ("not allowed", "/admin", {"Authorization": "Bearer TOKEN"}, 403),
    ("refused target", "/public/%2e%2e/admin", {}, 400),
    ("dot segments", "/public/../admin", {}, 400),
    ("public", "/public", {}, 200),
    ("huge header", "/orders", {"Authorization": "Bearer " + "a" * 50000}, 431),
]


def answer(site: str, path: str, headers: dict[str, str], token: str) -> tuple[int, dict | None]:
    sent = {"Accept": "application/json", **{k: v.replace("TOKEN", token) for k, v in headers.items()}}
    status, _, body = http(f"{site}{path}", headers=sent)
    if status != 200:
        if not body:
            return status, None
        refusal = json.loads(body)
        # nginx's own id for each request (none was sent): present, but never the same twice
        assert re.fullmatch(r"[0-9a-f]{32}", refusal.pop("requestId")), refusal
        return status, refusal
    seen = echoed(body)["headers"]
    return status, {k: seen.get(k, "") for k in ("miauserid", "miausergroups", "miauserproperties",
                                                  "miaclienttype", "authorization")}


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def test_uwsgi_layout_answers_as_the_gunicorn_layout(env, tmp_path, gunicorn_server, uwsgi_check_server,
                                                     nginx_server, echo, own_redis):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(ROUTES))
    run_env = {"ROUTES_FILE": str(path), "USER_PROPERTIES_TO_PROXY": "client_id", "REDIS_URL": own_redis.url}
    main = gunicorn_server(run_env, workers=1)
    gunicorn_check = gunicorn_server({**run_env, "GATEHOUSE_ROLE": "check"})
    uwsgi_http, uwsgi_socket = uwsgi_check_server(run_env)
    sites = {"gunicorn": nginx_server(main, echo, check=gunicorn_check),
             "uwsgi": nginx_server(main, echo, check=uwsgi_socket)}
    token, reg = client_token(main, "tracks")
    for name, where, headers, status in TABLE:
        got = {layout: answer(site, where, headers, token) for layout, site in sites.items()}
        assert got["gunicorn"][0] == status, (name, got)
        assert got["uwsgi"] == got["gunicorn"], (name, got)
    allowed = answer(sites["uwsgi"], "/orders", {"Authorization": "Bearer TOKEN", "miauserid": "forged"}, token)
    assert allowed[1] is not None and allowed[1]["miauserid"] == reg["client_id"]

    # The uWSGI group's metrics count its decisions (both workers' samples, one exposition).
    # Each worker adds its counts to /-/metrics within a second (app/observability.py FLUSH_SECONDS).
    def counted() -> tuple[float, bool, str]:
        status, _, body = http(f"{uwsgi_http}/-/metrics")
        assert status == 200
        text = body.decode()
        return (sum(float(v) for v in re.findall(r'^gatehouse_auth_decisions_total\{decision="allow"[^}]*\} (\S+)$',
                                                 text, re.MULTILINE)),
                bool(re.search(r'^gatehouse_auth_decisions_total\{decision="(?!allow)', text, re.MULTILINE)), text)

    assert within(lambda: counted()[0] >= 4 and counted()[1], 10), counted()[2][:2000]

    # Redis down: every layout fails closed the same way (the check's 503, nginx's 503 with its own
    # request id in the body).
    own_redis.stop()
    got = {layout: answer(site, "/orders", {"Authorization": "Bearer TOKEN"}, token) for layout, site in sites.items()}
    assert all(body is not None for _, body in got.values()), got
    assert got["gunicorn"][0] == 503 and got["uwsgi"] == got["gunicorn"], got
    status, _, _ = http(f"{uwsgi_http}/-/ready")
    assert status == 503


def test_sigterm_drains_the_uwsgi_group_under_load(env, tmp_path, gunicorn_server, uwsgi_check_server,
                                                   nginx_server, echo):
    """A rolling deploy of the uWSGI group: one of two instances gets SIGTERM while nginx sends
    checks (4 connections, ~5 s); it answers /-/ready 503 during DELAY_SHUTDOWN_SECONDS while still
    answering checks, drains, exits 0, and nginx moves to the other: no check fails."""
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(ROUTES))
    run_env = {"ROUTES_FILE": str(path)}
    main = gunicorn_server(run_env, workers=1)
    token, _ = client_token(main, "tracks")
    victim, victim_http, victim_socket = start_uwsgi_check(env, tmp_path, {**run_env, "DELAY_SHUTDOWN_SECONDS": "2"})
    try:
        _, other_socket = uwsgi_check_server(run_env)
        site = nginx_server(main, echo, check=f"{victim_socket},{other_socket.split('//')[1]}")
        stopping = threading.Event()
        outcomes: list[int] = []

        def load() -> None:
            session = requests.Session()
            while not stopping.is_set():
                try:
                    outcomes.append(session.get(f"{site}/orders", headers={"Authorization": f"Bearer {token}"},
                                                timeout=10).status_code)
                except requests.RequestException:
                    outcomes.append(0)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(outcomes) >= 50, "load flowing through both groups", 30)
            victim.send_signal(signal.SIGTERM)
            wait_until(lambda: http(f"{victim_http}/-/ready")[0] == 503, "not ready during the delay", 1.5)
            checks_at_503 = len(outcomes)
            assert within(lambda: len(outcomes) > checks_at_503 + 20, 1.5), "checks are still answered during the delay"
            victim.wait(timeout=40)
            after = len(outcomes)
            wait_until(lambda: len(outcomes) > max(after + 100, 200), "load served by the other group", 30)
        finally:
            stopping.set()
            for t in threads:
                t.join()
        failed = [o for o in outcomes if o != 200]
        print(f"SIGTERM to one uWSGI /auth group under load: {len(outcomes)} checks, {len(failed)} failed")
        assert not failed and len(outcomes) > 200, (failed[:10], len(outcomes))
        assert victim.returncode == 0
        log = Path(tmp_path / f"uwsgi-{victim_http.rsplit(':', 1)[1]}.log").read_text(errors="replace")
        assert "Traceback" not in log
    finally:
        stop(victim)


def log_of(base: str, folder: Path) -> str:
    """What `start_uwsgi_check`'s group at `base` has logged."""
    return (folder / f"uwsgi-{base.rsplit(':', 1)[1]}.log").read_text(errors="replace")


def test_sighup_reloads_the_uwsgi_group_under_load(env, tmp_path, gunicorn_server, nginx_server, echo):
    """SIGHUP to `gatehouse serve-check` (a `systemctl reload`, gunicorn's habit), then SIGHUP to
    uWSGI's master (its own reload, which executes this environment's interpreter again): each is a
    graceful reload, with new workers, the same two workers and sockets afterwards, and no failed
    check through nginx or at the HTTP socket meanwhile. A SIGHUP while the route file would be
    refused keeps the workers and says why."""
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(ROUTES))
    run_env = {"ROUTES_FILE": str(path)}
    main = gunicorn_server(run_env, workers=1)
    token, _ = client_token(main, "tracks")
    launcher, check_http, check_socket = start_uwsgi_check(env, tmp_path, run_env, processes=2)
    try:
        site = nginx_server(main, echo, check=check_socket)
        (master,) = children(launcher.pid)
        stopping = threading.Event()
        outcomes: list[tuple[str, int]] = []
        bearer = {"Authorization": f"Bearer {token}"}

        def through_nginx() -> None:
            session = requests.Session()
            while not stopping.is_set():
                try:
                    status = session.get(f"{site}/orders", headers=bearer, timeout=10).status_code
                except requests.RequestException:
                    status = 0
                outcomes.append(("nginx", status))

        def at_the_http_socket() -> None:
            while not stopping.is_set():
                try:
                    status = requests.get(f"{check_http}/auth", timeout=10, headers={
                        **bearer, "X-Original-URI": "/orders", "X-Original-Method": "GET",
                        "Connection": "close"}).status_code
                except requests.RequestException:
                    status = 0
                outcomes.append(("http", status))

        threads = [threading.Thread(target=through_nginx) for _ in range(2)] + [threading.Thread(target=at_the_http_socket)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(outcomes) >= 50, "load flowing", 30)
            # A route file that would be refused: the launcher says so and keeps the workers.
            path.write_text("{not json")
            kept = children(master)
            launcher.send_signal(signal.SIGHUP)
            wait_until(lambda: "SIGHUP: configuration refused" in log_of(check_http, tmp_path), "refusal logged", 30)
            assert children(master) == kept
            path.write_text(json.dumps(ROUTES))
            for target in (launcher.pid, master):
                before = children(master)
                assert len(before) == 2, before
                os.kill(target, signal.SIGHUP)
                wait_until(lambda: len(now := children(master)) == 2 and not now & before, "two new workers", 60)
                wait_until(lambda: http(f"{check_http}/-/ready")[0] == 200, "the group ready again", 30)
                if target == launcher.pid:  # one reload at a time: the chain has reached its end
                    wait_until(lambda: "chain reloading complete" in log_of(check_http, tmp_path), "chain end", 60)
                count = len(outcomes)
                wait_until(lambda: len(outcomes) > count + 50, "checks answered by the new workers", 30)
                assert launcher.poll() is None and children(launcher.pid) == {master}
        finally:
            stopping.set()
            for t in threads:
                t.join()
        failed = [o for o in outcomes if o[1] not in (200, 204)]
        print(f"SIGHUP to serve-check, then to uWSGI's master, under load: {len(outcomes)} checks, {len(failed)} failed")
        assert not failed and len(outcomes) > 150, (failed[:10], len(outcomes))
        assert http(f"{check_http}/-/healthz")[0] == 200
        log = log_of(check_http, tmp_path)
        assert "Traceback" not in log and "ModuleNotFoundError" not in log, log[-2000:]
        assert "SIGHUP: reloading the workers one by one" in log and "binary reloading uWSGI" in log
    finally:
        stop(launcher)


def test_recycled_workers_keep_their_samples_and_every_log_line_is_json(env, tmp_path):
    """--max-requests recycles a worker; the decisions it counted stay in /-/metrics, its live
    gauges are marked dead by the next worker, and uWSGI's own lines are JSON like Gatehouse's."""
    proc, base, _ = start_uwsgi_check(env, tmp_path, {"UWSGI_MAX_REQUESTS": "10", "UWSGI_MIN_WORKER_LIFETIME": "1",
                                                      "LOG_LEVEL": "info"}, processes=1)
    try:
        time.sleep(1.2)  # past the minimum lifetime
        for _ in range(30):
            status, _, _ = http(f"{base}/auth", headers={"X-Original-URI": "/orders", "X-Original-Method": "GET"})
            assert status == 401
        status, _, body = http(f"{base}/-/metrics")
        assert status == 200
        counted = sum(float(v) for v in re.findall(
            r'^gatehouse_auth_decisions_total\{decision="unauthenticated"[^}]*\} (\S+)$', body.decode(), re.MULTILINE))
        assert counted == 30, body.decode()[:2000]
    finally:
        stop(proc)
    assert proc.returncode == 0
    lines = [line for line in (tmp_path / f"uwsgi-{base.rsplit(':', 1)[1]}.log").read_text().splitlines()
             if line.strip() and not line.startswith("[log-encoder] registered")]
    parsed = [json.loads(line) for line in lines]
    assert any("Respawned uWSGI worker" in (p.get("msg") or "") for p in parsed), lines[-20:]
    assert any(p.get("logger") == "gatehouse.decision" for p in parsed), lines[-20:]


def test_dev_runs_the_check_group_under_uwsgi(tmp_path):
    """`gatehouse dev --check-server uwsgi`: nginx's check goes over uwsgi_pass to a serve-check
    group on a unix socket in the var directory; a machine token passes to the demo upstream, a missing
    one is refused, and the uWSGI group's metrics count both; Ctrl-C stops everything."""
    import os
    import subprocess
    import sys

    from tests.support.servers import free_port

    ports = {name: free_port() for name in ("port", "redis", "mongo", "provider", "nginx", "upstream")}
    check = free_port(span=2)
    ports["redis"] = check + 1  # the uwsgi socket is a unix socket in the var directory: no port of its own
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URL", "REDIS_URL", "REDIS_HOSTS",
                                                            "GATEHOUSE_CONFIG")}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gatehouse"), "dev", "--check-server", "uwsgi", "--var-dir", str(var),
         "--workers", "1", "--port", str(ports["port"]), "--redis-port", str(ports["redis"]),
         "--mongo-port", str(ports["mongo"]), "--provider-port", str(ports["provider"]),
         "--nginx-port", str(ports["nginx"]), "--upstream-port", str(ports["upstream"]), "--check-port", str(check)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        printed = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            printed += line
            if not line or line.startswith("curl -fsS $BASE/.well-known/jwks.json"):
                break
        assert "Gatehouse is running" in printed, printed[-2000:]
        nginx_conf = (var / "nginx" / "nginx.conf").read_text()
        assert "uwsgi_pass gatehouse_check;" in nginx_conf and f"server unix:{var / 'gatehouse-check.sock'}" in nginx_conf
        base, site = f"http://127.0.0.1:{ports['port']}", f"http://127.0.0.1:{ports['nginx']}"
        admin = {"Authorization": f"Bearer {(var / 'admin-token').read_text().strip()}"}
        token, reg = client_token_at(base, admin)
        status, _, body = http(f"{site}/orders/42", headers={"Authorization": f"Bearer {token}",
                                                             "Accept": "application/json"})
        assert status == 200 and echoed_identity(body) == reg["client_id"], body[:300]
        assert http(f"{site}/orders/42", headers={"Accept": "application/json"})[0] == 401
        assert within(lambda: re.search(r'^gatehouse_auth_decisions_total\{decision="allow"',
                                        http(f"http://127.0.0.1:{check}/-/metrics")[2].decode(), re.MULTILINE), 10)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0


def client_token_at(base: str, admin: dict[str, str]) -> tuple[str, dict]:
    import base64

    status, _, raw = http(f"{base}/register", "POST", {**admin, "Content-Type": "application/json"},
                          json.dumps({"client_name": "uwsgi", "permissions": ["orders"]}).encode())
    assert status == 201, raw
    reg = json.loads(raw)
    basic = base64.b64encode(f"{reg['client_id']}:{reg['client_secret']}".encode()).decode()
    status, _, raw = http(f"{base}/oauth/token", "POST", {"Authorization": f"Basic {basic}",
                          "Content-Type": "application/x-www-form-urlencoded"}, b"grant_type=client_credentials")
    assert status == 200, raw
    return json.loads(raw)["access_token"], reg


def echoed_identity(body: bytes) -> str:
    return json.loads(body)["headers"].get("miauserid", "")


def hung_introspection_group(tmp_path, gunicorn_server, uwsgi_check_server, extra: dict[str, str],
                             processes: int) -> tuple[Any, str, Any]:
    """A uWSGI group whose introspection endpoint hangs 30 s (OUTBOUND_TIMEOUT_SECONDS 25):
    (the provider, a client JWT that needs none, `check(credential, timeout) -> status`)."""
    from tests.support.introspection_server import IntrospectionServer

    provider = IntrospectionServer()
    provider.hang_seconds = 30.0
    routes, cfg = tmp_path / "auth.json", tmp_path / "g.json"
    routes.write_text(json.dumps(ROUTES))
    cfg.write_text(json.dumps({"introspection": {"endpoint": provider.url, "client_id": "rs",
                                                 "client_secret": "rs-secret"}}))
    run_env = {"ROUTES_FILE": str(routes), "GATEHOUSE_CONFIG": str(cfg), "OUTBOUND_TIMEOUT_SECONDS": "25", **extra}
    main = gunicorn_server(run_env, workers=1)
    token, _ = client_token(main, "tracks")
    base, _ = uwsgi_check_server(run_env, processes=processes)

    def check(credential: str, timeout: float = 10) -> int:
        return requests.get(f"{base}/auth", timeout=timeout, headers={
            "X-Original-URI": "/orders", "X-Original-Method": "GET", "Authorization": f"Bearer {credential}"}).status_code

    return provider, token, check


def test_a_hung_provider_cannot_take_the_last_thread(env, tmp_path, gunicorn_server, uwsgi_check_server):
    """One uWSGI worker with 3 threads (CHECK_THREADS): at most 2 checks wait on a provider that
    hangs 30 s (OUTBOUND_CALLS_PER_WORKER defaults to threads - 1); further checks that need it are
    refused at once without calling it, and a check that needs no provider is answered meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    provider, token, check = hung_introspection_group(tmp_path, gunicorn_server, uwsgi_check_server,
                                                      {"CHECK_THREADS": "3"}, processes=1)
    pool = ThreadPoolExecutor(4)
    try:
        waiting = [pool.submit(check, f"opaque-{i}", 40) for i in range(2)]
        wait_until(lambda: provider.calls == 2, "two checks waiting on the hung provider", 20)
        assert check("opaque-2") == 503  # refused at once: both calls of the worker are taken
        assert check(token) == 204  # the thread left answers what needs no provider
        assert provider.calls == 2
        assert not any(f.done() for f in waiting)
    finally:
        provider.hang_seconds = 0.0
        provider.close()
        pool.shutdown(wait=False, cancel_futures=True)


def test_the_outbound_budget_is_the_groups(env, tmp_path, gunicorn_server, uwsgi_check_server):
    """Two uWSGI workers of one thread each, OUTBOUND_CALLS_PER_GROUP 1: while a check of one worker
    waits on a provider that hangs, a check of the other worker that needs a provider is refused at
    once without calling it (the budget is the group's, not a worker's), and the free worker answers
    what needs no provider."""
    from concurrent.futures import ThreadPoolExecutor

    provider, token, check = hung_introspection_group(
        tmp_path, gunicorn_server, uwsgi_check_server, {"CHECK_THREADS": "1", "OUTBOUND_CALLS_PER_GROUP": "1"},
        processes=2)
    pool = ThreadPoolExecutor(2)
    try:
        waiting = pool.submit(check, "opaque-0", 40)
        wait_until(lambda: provider.calls == 1, "a check waiting on the hung provider", 20)
        # The hung worker accepts nothing: these reach the other one.
        assert check("opaque-1") == 503  # refused at once: the group's one call is taken
        assert check(token) == 204
        assert provider.calls == 1
        assert not waiting.done()
    finally:
        provider.hang_seconds = 0.0
        provider.close()
        pool.shutdown(wait=False, cancel_futures=True)


@pytest.mark.parametrize("server, expected", [("uwsgi", "uwsgi_pass gatehouse_check;"),
                                              ("gunicorn", "proxy_pass http://gatehouse_check/auth;")])
def test_one_setting_switches_the_check_group_and_nginx(env, tmp_path, server, expected):
    """CHECK_SERVER decides both what `gatehouse serve-check` runs and how `gatehouse nginx-config`
    talks to it: the same two commands give either layout, and both answer the check."""
    import os
    import subprocess
    import sys

    from tests.support.servers import free_port

    gatehouse = str(Path(sys.executable).parent / "gatehouse")
    port = free_port(span=2)
    run_env = {**os.environ, **env, "CHECK_SERVER": server, "HTTP_PORT": str(port),
               "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    config = subprocess.run([gatehouse, "nginx-config", "--upstream", "127.0.0.1:9000", "--runtime", str(tmp_path),
                             "--gatehouse-check", f"127.0.0.1:{port + 1 if server == 'uwsgi' else port}"],
                            env=run_env, capture_output=True, text=True, timeout=60)
    assert config.returncode == 0 and expected in config.stdout, config.stderr
    proc = subprocess.Popen([gatehouse, "serve-check", "--processes", "1"], env=run_env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "check.log", "wb"))
    try:
        wait_until(lambda: http(f"http://127.0.0.1:{port}/-/ready")[0] == 200, "serve-check", 60)
        status, _, _ = http(f"http://127.0.0.1:{port}/auth", headers={"X-Original-URI": "/x",
                                                                      "X-Original-Method": "GET"})
        assert status == 401
        command = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert ("gunicorn" in command) == (server == "gunicorn"), command  # serve-check became gunicorn
    finally:
        stop(proc)
    assert proc.returncode == 0
    # No route file: it starts, and says once, at start, what will happen.
    log = (tmp_path / "check.log").read_text()
    assert log.count("configuration: every /auth check will be refused: no routes_file (ROUTES_FILE)") == 1, log


@pytest.mark.parametrize("environ, args, problem", [
    ({"CHECK_SERVER": "bjoern"}, ["nginx-config", "--upstream", "127.0.0.1:9000", "--runtime", "/tmp",
                                  "--gatehouse-check", "127.0.0.1:3002"], "CHECK_SERVER: Must be one of: uwsgi, gunicorn."),
    ({"CHECK_SERVER": "gunicorn"}, ["serve-check", "--socket", "127.0.0.1:3002"],
     "--socket is the uwsgi-protocol socket: it needs CHECK_SERVER=uwsgi"),
    ({"CHECK_THREADS": "0"}, ["serve-check"], "CHECK_THREADS: Must be greater than or equal to 1"),
    ({}, ["serve-check", "--http", "127.0.0.2:3001", "--socket", "127.0.0.1:3001"],
     "the uwsgi socket (127.0.0.1:3001) needs a port other than the HTTP socket's (127.0.0.2:3001)"),
    ({"OUTBOUND_CALLS_PER_WORKER": "-1"}, ["serve-check"], "OUTBOUND_CALLS_PER_WORKER: Must be greater than"),
])
def test_check_server_settings_refused_by_name(env, environ, args, problem):
    import os
    import subprocess
    import sys

    run = subprocess.run([str(Path(sys.executable).parent / "gatehouse"), *args],
                         env={**os.environ, **env, **environ}, capture_output=True, text=True, timeout=60)
    assert run.returncode in (1, 2) and problem in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
