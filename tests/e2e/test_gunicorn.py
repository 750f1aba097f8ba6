"""Gatehouse under gunicorn: README command 1's curl lines, metrics across workers, and the
delayed shutdown (ready goes 503 first, in-flight requests finish)."""
from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from gatehouse_dev.runner import demo_commands
from tests.e2e.conftest import DEV_PORT_OPTIONS
from tests.support.servers import free_port, wait_until, within

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_readme_shows_the_printed_demo():
    assert demo_commands() in (ROOT / "README.md").read_text()


@pytest.fixture(scope="session")
def runtime_venv() -> Path:
    """A virtual environment with Gatehouse's runtime dependencies only (what `scripts/dev`
    installs on a fresh machine): no test extras, so a dependency only they bring cannot hide."""
    venv = ROOT / ".venv-runtime"
    run = subprocess.run(["scripts/bootstrap", "dev"], cwd=ROOT, env={**os.environ, "GATEHOUSE_VENV": str(venv)},
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import pytest"], capture_output=True)
    assert probe.returncode != 0, "the runtime environment must not hold the test extras"
    return venv


def test_dev_command_and_readme_curl_lines(tmp_path, runtime_venv):
    """README command 1 on embedded defaults, in an environment built from the runtime
    dependencies only; then the README's curl lines as printed; Ctrl-C stops it cleanly."""
    port, rport, mport = free_port(), free_port(), free_port()
    pport, nport, uport, cport = free_port(), free_port(), free_port(), free_port(span=2)
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items()
           if k not in ("MONGODB_URL", "REDIS_URL", "REDIS_HOSTS", "GATEHOUSE_CONFIG", "VIRTUAL_ENV")}
    env["GATEHOUSE_VENV"] = str(runtime_venv)
    errors = open(tmp_path / "dev.stderr", "w")
    proc = subprocess.Popen(
        ["scripts/dev", "--port", str(port), "--redis-port", str(rport),
         "--mongo-port", str(mport), "--var-dir", str(var), "--workers", "1", "--provider-port", str(pport),
         "--nginx-port", str(nport), "--upstream-port", str(uport), "--check-port", str(cport)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("curl -fsS $BASE/.well-known/jwks.json"):
                break
        printed = "".join(lines)
        script = demo_commands(f"http://127.0.0.1:{port}", str(var), f"http://127.0.0.1:{nport}")
        assert script in printed, printed
        assert (var / "redis").is_dir() and (var / "mongo").is_dir() and (var / "keys" / "signing.pem").is_file()
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        out = run.stdout.strip().splitlines()
        assert len(out) == 6  # three tokens, an introspection, the upstream's answer through nginx, the JWKS
        assert all('"token_type":"Bearer"' in line for line in out[:3])
        assert '"scope":"orders:read"' in out[1] and '"scope":"orders:read"' in out[2]
        assert out[3].startswith('{"active":true')
        upstream = json.loads(out[4])  # the machine token passed nginx's /auth check
        client_id = json.loads((var / "demo-client.json").read_text())["client_id"]
        assert upstream["path"] == "/orders/42" and upstream["headers"]["miauserid"] == client_id
        assert '"keys":[{' in out[5]
        assert f"Open http://127.0.0.1:{nport}/ in a browser" in printed
        browser = assert_demo_login(f"http://127.0.0.1:{nport}")
        assert_backchannel_logout(f"http://127.0.0.1:{nport}", f"http://127.0.0.1:{pport}", browser)
        assert f"http://127.0.0.1:{nport}/spa/" in printed
        assert_demo_spa(f"http://127.0.0.1:{nport}")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        errors.close()
    assert proc.returncode == 0
    # Ctrl-C drains every group (the gevent /auth group included) without a traceback.
    for log in [tmp_path / "dev.stderr", *var.glob("*.log")]:
        assert "Traceback" not in log.read_text(errors="replace"), log


@pytest.mark.parametrize("server, booted", [("uwsgi", "uWSGI"), ("gunicorn", "Using worker: gevent")])
def test_both_check_servers_start_from_the_runtime_dependencies(env, tmp_path, runtime_venv, server, booted):
    """`gatehouse serve-check` from the environment README command 1 builds (no test extras):
    the /auth group starts under uWSGI (pyuwsgi) and under gunicorn's gevent worker, answers a
    check, and stops on SIGTERM with exit 0 and no traceback."""
    port = free_port()
    log = tmp_path / "serve-check.log"
    run_env = {**{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}, **env, "CHECK_SERVER": server,
               "HTTP_PORT": str(port), "LOG_LEVEL": "info", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(runtime_venv / "bin" / "gatehouse"), "serve-check", "--processes", "1"],
                                cwd=ROOT, env=run_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or get(f"http://127.0.0.1:{port}/-/ready")[0] == 200,
                   f"serve-check under {server}", 60)
        assert proc.poll() is None, log.read_text()[-3000:]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/auth",
                                         headers={"X-Original-URI": "/orders", "X-Original-Method": "GET"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    text = log.read_text(errors="replace")
    assert proc.returncode == 0 and booted in text and "Traceback" not in text, text[-3000:]


def assert_demo_login(site: str) -> Any:
    """What a newcomer does at the printed URL: sign in as alice, see the headers upstream."""
    import requests
    browser = requests.Session()
    first = browser.get(f"{site}/", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    assert first.status_code == 302 and first.headers["Location"] == f"{site}/web-login?redirect=/"
    page = browser.get(first.headers["Location"], timeout=10).text
    link = re.search(r'href="(/authorize\?[^"]+)"', page).group(1).replace("&amp;", "&")
    to_provider = browser.get(site + link, allow_redirects=False, timeout=10)
    back = browser.post(to_provider.headers["Location"], data={"sub": "alice"}, allow_redirects=False, timeout=10)
    callback = browser.get(back.headers["Location"], timeout=10)
    form = dict(re.findall(r'name="(code|state)" value="([^"]+)"', callback.text))
    done = browser.post(f"{site}/oauth/token", data=form, allow_redirects=False, timeout=10)
    assert done.status_code == 303 and done.headers["Location"] == "/"
    seen = browser.get(f"{site}/", headers={"Accept": "application/json"}, timeout=10).json()["headers"]
    assert seen["miausergroups"] == "admin" and seen["miauserid"]
    return browser


def assert_backchannel_logout(site: str, provider: str, browser: Any) -> None:
    """The provider ends alice's session by back-channel logout (through nginx, as a provider on
    the internet would reach Gatehouse); the gevent /auth group refuses the session within its
    revocation bound (REVOCATION_SYNC_SECONDS, 1 s by default)."""
    import requests
    now = int(time.time())
    claims = {"iss": provider, "aud": "gatehouse-demo", "iat": now, "exp": now + 60, "jti": f"e2e-{now}",
              "sub": "alice", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
    token = requests.post(f"{provider}/_dev/sign?typ=logout%2Bjwt", json=claims, timeout=10).json()["token"]
    r = requests.post(f"{site}/web-login/backchannel-logout", data={"logout_token": token}, timeout=10)
    assert r.status_code == 200, r.text
    sent = time.monotonic()
    assert within(lambda: browser.get(f"{site}/", headers={"Accept": "application/json"}, allow_redirects=False,
                                      timeout=10).status_code != 200, 2.5, since=sent, interval=0.1), \
        "the session still passes /auth after the revocation bound"


def assert_demo_spa(site: str) -> None:
    """The BFF demo in chromium: sign in as bob, call the API, see the provider-verified token."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{site}/spa/")
            page.wait_for_function("document.getElementById('status').textContent === 'Not signed in.'")
            page.click("#login")
            page.click("button[value=bob]")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('Signed in as Bob')")
            page.click("#call")
            page.wait_for_function("document.getElementById('api').textContent.startsWith('200')")
            assert '"sub": "bob"' in page.locator("#api").inner_text()
        finally:
            browser.close()


@pytest.fixture
def gunicorn(env, tmp_path):
    procs = []

    def start(workers: int = 2, delay: int = 0, **extra: str) -> tuple[subprocess.Popen, str]:
        port = free_port()
        run_env = {**os.environ, **env, "HTTP_PORT": str(port), "GUNICORN_WORKERS": str(workers),
                   "DELAY_SHUTDOWN_SECONDS": str(delay),
                   "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{port}"), **extra}
        with open(tmp_path / f"stderr-{port}.log", "wb") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                    cwd=ROOT, env=run_env, stdout=subprocess.DEVNULL, stderr=stderr)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: get(f"{base}/-/ready")[0] == 200, "gunicorn", 30)
        return proc, base

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_metrics_add_up_across_workers(gunicorn, tmp_path):
    proc, base = gunicorn(workers=2)
    port = int(base.rsplit(":", 1)[1])
    # Pin one sync worker on a half-sent request, so the other one serves the next 20 ...
    held = socket.create_connection(("127.0.0.1", port))
    held.sendall(b"GET /-/healthz HTTP/1.1\r\nHost: gatehouse\r\n")
    # Lets a worker accept the half-sent request (its accept is not visible from outside); were
    # it not yet taken, both workers still serve below and the sums are checked all the same.
    time.sleep(0.3)
    for _ in range(20):
        assert get(f"{base}/-/healthz")[0] == 200
    # ... then let the pinned worker finish its request: both workers have now counted.
    held.sendall(b"Connection: close\r\n\r\n")
    assert b"200 OK" in held.recv(4096)
    held.close()
    files = list((tmp_path / f"metrics-{port}").glob("counter_*.db"))
    assert len(files) == 2, "each worker writes its own samples"
    status, text = get(f"{base}/-/metrics")
    total = sum(float(m) for m in re.findall(
        r'gatehouse_http_requests_total\{endpoint="health.healthz",method="GET",status="200"\} (\S+)', text))
    assert total == 21


def test_check_group_logs_refusals_and_counts_every_decision(gunicorn, tmp_path):
    """The /auth group (gevent, two workers): its own /-/metrics adds up the decisions of its
    workers by reason; its stderr has one decision line per refusal (the default level) and
    none for allowed checks or as access lines."""
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps({"/public": {"GET": {"authorization": {"expression": "true", "public": True}}},
                                  "/orders": {"GET": {"authorization": {"expression": "groups.admin"}}}}))
    proc, base = gunicorn(workers=2, GATEHOUSE_ROLE="check", ROUTES_FILE=str(routes), LOG_LEVEL="info")
    port = int(base.rsplit(":", 1)[1])

    def auth(uri: str) -> int:
        request = urllib.request.Request(f"{base}/auth", headers={"X-Original-URI": uri, "X-Original-Method": "GET"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(auth, ["/public"] * 30 + ["/orders?token=abc"] * 20))
    assert statuses == [204] * 30 + [401] * 20

    def counted(decision: str, reason: str) -> float:
        text = get(f"{base}/-/metrics")[1]
        return sum(float(v) for v in re.findall(
            rf'gatehouse_auth_decisions_total\{{decision="{decision}",reason="{reason}"\}} (\S+)', text))

    # Each worker adds its counts to /-/metrics within a second (app/observability.py FLUSH_SECONDS).
    assert within(lambda: (counted("allow", "allowed"), counted("unauthenticated", "no_identity")) == (30, 20), 10)
    assert (counted("allow", "allowed"), counted("unauthenticated", "no_identity")) == (30, 20)
    proc.terminate()
    proc.wait(timeout=30)
    lines = [json.loads(line) for line in (tmp_path / f"stderr-{port}.log").read_text().splitlines()
             if line.startswith("{")]
    decisions = [d for d in lines if d["logger"] == "gatehouse.decision"]
    assert len(decisions) == 20 and {d["decision"] for d in decisions} == {"unauthenticated"}
    assert {d["uri"] for d in decisions} == {"/orders?token=REDACTED"}
    assert not [d for d in lines if d["logger"] == "gatehouse.access" and d.get("path") == "/auth"]


def test_port_and_drain_come_from_the_config_file(env, tmp_path):
    """gunicorn takes its port and its drain from the settings, so a config file that sets
    http_port and delay_shutdown_seconds (no environment variables) is obeyed."""
    port = free_port()
    config = tmp_path / "gatehouse.json"
    config.write_text(json.dumps({"http_port": port, "delay_shutdown_seconds": 3}))
    run_env = {k: v for k, v in {**os.environ, **env}.items() if k not in ("HTTP_PORT", "DELAY_SHUTDOWN_SECONDS")}
    run_env.update({"GATEHOUSE_CONFIG": str(config), "GUNICORN_WORKERS": "1",
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")})
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                            cwd=ROOT, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: get(f"{base}/-/ready")[0] == 200, "gunicorn on the config file's port", 30)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: get(f"{base}/-/ready")[0] == 503, "not ready during the config file's delay", 3)
        assert get(f"{base}/-/healthz")[0] == 200, "still serving during the delay"
        proc.wait(timeout=40)
        assert time.monotonic() - sent >= 2.5 and proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_config_stops_start_up_with_the_key(env, tmp_path):
    run_env = {**os.environ, **env, "HTTP_PORT": str(free_port()), "CLIENT_ID_HASH_SALT": "short",
               "GUNICORN_WORKERS": "1"}
    run = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                         cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "CLIENT_ID_HASH_SALT: must be at least 16 characters" in run.stderr
    assert "Traceback" not in run.stderr


START_COMMANDS = [
    ("gunicorn", [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]),
    ("serve-check (uWSGI)", [str(Path(sys.executable).parent / "gatehouse"), "serve-check"]),
]


@pytest.mark.parametrize("name,command", START_COMMANDS, ids=[row[0] for row in START_COMMANDS])
def test_a_route_expression_past_the_limits_stops_start_up_in_one_line(env, tmp_path, name, command):
    """Issue 13 item 7: a 974-term chain (3.9 KB, under the length limit) once passed the
    validator and killed every worker at boot with RecursionError; now start-up refuses it in one
    bounded line naming the route, the method and the column."""
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps({"/orders": {"GET": {"authorization": {"expression": "''||" * 974 + "true"}}}}))
    run_env = {**os.environ, **env, "HTTP_PORT": str(free_port()), "ROUTES_FILE": str(routes),
               "GUNICORN_WORKERS": "1"}
    run = subprocess.run(command, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    (line,) = [line for line in run.stderr.splitlines() if "/orders" in line]
    assert "route /orders GET authorization.expression" in line and "more than 256 terms at column 1025" in line
    assert len(line) < 400, line
    assert "Traceback" not in run.stderr and "RecursionError" not in run.stderr


BAD_PROCESS_SETTINGS = [
    ("workers", {"GUNICORN_WORKERS": "many"}, "GUNICORN_WORKERS: Not a valid integer."),
    ("threads", {"GUNICORN_THREADS": "0"}, "GUNICORN_THREADS: Must be greater than or equal to 1"),
    ("role", {"GATEHOUSE_ROLE": "both"}, "GATEHOUSE_ROLE: Must be one of: all, check."),
    ("timeout", {"GUNICORN_TIMEOUT": "-1"}, "GUNICORN_TIMEOUT: Must be greater than or equal to 1"),
]


@pytest.mark.parametrize("case,change,expected", BAD_PROCESS_SETTINGS, ids=[c[0] for c in BAD_PROCESS_SETTINGS])
def test_bad_process_setting_stops_start_up_with_the_key(env, case, change, expected):
    """gunicorn.conf.py's own values are settings: a bad one is refused in one line naming it."""
    run_env = {**os.environ, **env, "HTTP_PORT": str(free_port()), **change}
    run = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                         cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert expected in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_process_settings_come_from_the_config_file(env, tmp_path):
    """Role, worker count, bind address and metrics directory from the config file alone: the
    check group's gevent workers, two of them, sharing samples in the file's directory."""
    port = free_port()
    metrics = tmp_path / "metrics-from-file"
    config = tmp_path / "gatehouse.json"
    config.write_text(json.dumps({"http_port": port, "role": "check", "workers": 2, "bind_address": "127.0.0.1",
                                  "metrics_dir": str(metrics), "delay_shutdown_seconds": 0}))
    names = ("HTTP_PORT", "GATEHOUSE_ROLE", "GUNICORN_WORKERS", "GUNICORN_WORKER_CLASS", "GATEHOUSE_BIND",
             "PROMETHEUS_MULTIPROC_DIR", "DELAY_SHUTDOWN_SECONDS")
    run_env = {k: v for k, v in {**os.environ, **env}.items() if k not in names}
    run_env["GATEHOUSE_CONFIG"] = str(config)
    log = tmp_path / "gunicorn.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                cwd=ROOT, env=run_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: get(f"{base}/-/ready")[0] == 200, "gunicorn on the config file's port", 30)
        wait_until(lambda: log.read_text().count("Booting worker") == 2, "both workers booted", 30)
        assert get(f"{base}/-/healthz")[0] == 200
        assert any(name.endswith(".db") for name in os.listdir(metrics)), "samples in the file's metrics_dir"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
    messages = [json.loads(line)["msg"] for line in log.read_text().splitlines() if line.startswith("{")]
    assert any("Using worker: gevent" in m for m in messages), messages
    assert sum("Booting worker" in m for m in messages) == 2


def test_delayed_shutdown(gunicorn):
    proc, base = gunicorn(workers=1, delay=3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    wait_until(lambda: get(f"{base}/-/ready")[0] == 503, "not-ready during the delay", 3)
    assert get(f"{base}/-/healthz")[0] == 200, "still serving during the delay"
    # a request in flight when the delay ends still completes
    results = []
    t = threading.Thread(target=lambda: results.append(get(f"{base}/-/check-up")[0]))
    t.start()
    t.join()
    proc.wait(timeout=40)
    assert time.monotonic() - sent >= 2.5
    assert proc.returncode == 0 and results == [503]


# Rows whose fault lies past the stores run against the test session's Redis and MongoDB (set in
# the environment, `gatehouse dev` starts neither: two fewer children to start and stop per row); the
# rows of the stores, and one full-stack row per kind of fault (a setting: bad worker class; a held
# port: nginx; a file in the way: nginx runtime directory), start and stop every child themselves.
GIVEN_STORES = {"MONGODB_URL": "{mongo}", "REDIS_URL": "{redis}"}
# (case, environment, in the way: the option whose port another program holds, or a file ("file:<name>")
# or directory ("dir:<name>") in the var directory where a child's own goes; the line's start, a part
# of its cause)
START_UP_FAILURES = [
    ("bad worker class", {"GUNICORN_WORKER_CLASS": "no.such.Worker"}, None,
     "gatehouse dev: Gatehouse exited while starting: ", ""),
    ("MongoDB URL", {"MONGODB_URL": "mongodb://gatehouse:hunter2@127.0.0.1:9/gatehouse"}, None,
     "gatehouse dev: MongoDB at mongodb://gatehouse:***@127.0.0.1:9/gatehouse did not answer: ", ""),
    ("Gatehouse never ready", {"REDIS_URL": "redis://127.0.0.1:9/0"}, None,
     "gatehouse dev: Gatehouse is up but not ready: ", "its /-/ready has said redis down for 15s; check REDIS_URL"),
    ("Redis", {}, "--redis-port", "gatehouse dev: Redis exited while starting: ", "Failed listening on port"),
    ("MongoDB-wire server", {}, "--mongo-port", "gatehouse dev: MongoDB-wire server (SecantusDB) exited while "
     "starting: ", "Address already in use"),
    ("provider", GIVEN_STORES, "--provider-port", "gatehouse dev: development OIDC provider exited while starting: ",
     "is in use"),
    ("Gatehouse", GIVEN_STORES, "--port", "gatehouse dev: Gatehouse exited while starting: ", "Address already in use"),
    ("/auth group, uWSGI", GIVEN_STORES, "--check-port", "gatehouse dev: Gatehouse /auth group (uWSGI) exited while "
     "starting: ", "Address already in use"),
    ("/auth group, gunicorn", {**GIVEN_STORES, "CHECK_SERVER": "gunicorn"}, "--check-port",
     "gatehouse dev: Gatehouse /auth group exited while starting: ", "Address already in use"),
    ("demo upstream", GIVEN_STORES, "--upstream-port", "gatehouse dev: demo upstream exited while starting: ",
     "OSError: [Errno 98] Address already in use"),
    ("nginx", {}, "--nginx-port", "gatehouse dev: nginx exited while starting: ", "failed (98: Address already in use)"),
    ("Redis data directory", {}, "file:redis", "gatehouse dev: Redis could not be started: ", "File exists: "),
    ("MongoDB data directory", {}, "file:mongo", "gatehouse dev: MongoDB-wire server (SecantusDB) could not be "
     "started: ", "File exists: "),
    ("keys directory", GIVEN_STORES, "file:keys", "gatehouse dev: Gatehouse's keys and configuration could not be written: ",
     "File exists: "),
    ("Gatehouse's log", GIVEN_STORES, "dir:gatehouse.log", "gatehouse dev: Gatehouse could not be started: ",
     "Is a directory: "),
    ("nginx runtime directory", {}, "file:nginx", "gatehouse dev: nginx could not be started: ", "File exists: "),
]


@pytest.mark.parametrize("env_extra, obstacle, expected, cause", [f[1:] for f in START_UP_FAILURES],
                         ids=[f[0] for f in START_UP_FAILURES])
def test_dev_start_up_failure_is_one_line(tmp_path, redis_server, mongo_server, env_extra, obstacle, expected,
                                         cause):
    """A child of `gatehouse dev` that cannot start: one line naming it and the cause, exit 2,
    never a traceback. A held port: another program has bound it without listening, so the port
    check passes and the child itself fails to bind it, as when something takes the port meanwhile."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MONGODB_URL", "REDIS_URL", "REDIS_HOSTS", "GATEHOUSE_CONFIG", "CHECK_SERVER")}
    stores = {"mongo": f"{mongo_server.url}/t{uuid.uuid4().hex[:12]}", "redis": redis_server.url}
    env_extra = {k: v.format(**stores) for k, v in env_extra.items()}
    ports = {option: free_port() for option in DEV_PORT_OPTIONS}
    held = socket.socket()
    kind, _, name = (obstacle or "").partition(":")
    if kind in ("file", "dir"):
        in_the_way = tmp_path / "var" / name
        in_the_way.parent.mkdir()
        if kind == "file":
            in_the_way.touch()
        else:
            in_the_way.mkdir()
    elif obstacle is not None:
        held.bind(("127.0.0.1", ports[obstacle]))
    try:
        run = subprocess.run(
            [str(Path(sys.executable).parent / "gatehouse"), "dev", "--var-dir", str(tmp_path / "var"), "--workers",
             "1", *[str(a) for option, port in ports.items() for a in (option, port)]],
            cwd=ROOT, env={**env, **env_extra}, capture_output=True, text=True, timeout=120)
    finally:
        held.close()
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected) and cause in lines[0], run.stderr
    assert "hunter2" not in run.stderr and "Traceback" not in run.stderr
    # ... and what had started before it was stopped: nothing listens on the run's ports
    listening = []
    for option, port in ports.items():
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                listening.append(option)
    assert listening == [], f"still listening after gatehouse dev exited: {listening}"


def test_gunicorn_defaults_metrics_dir_and_logs_json(env, tmp_path):
    """With no PROMETHEUS_MULTIPROC_DIR set, the workers still share their samples (the
    directory is chosen before anything imports prometheus_client), and gunicorn's own lines
    are JSON like Gatehouse's."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    run_env = {k: v for k, v in {**os.environ, **env}.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    run_env.update(HTTP_PORT=str(port), GUNICORN_WORKERS="2", LOG_LEVEL="info")
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                cwd=ROOT, env=run_env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get(f"{base}/-/ready")[0] == 200, "gunicorn", 30)
        for _ in range(30):
            assert get(f"{base}/-/healthz")[0] == 200
        text = get(f"{base}/-/metrics")[1]
        total = sum(float(m) for m in re.findall(
            r'gatehouse_http_requests_total\{endpoint="health.healthz",method="GET",status="200"\} (\S+)', text))
        assert total == 30
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line, gunicorn's included, is JSON
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["msg"] for r in records)
    assert any(r["logger"] == "gunicorn.error" and "Shutting down" in r["msg"] for r in records)
