"""Real processes: Gatehouse under gunicorn, the shipped nginx config in Debian's nginx, an
upstream that echoes the headers it received."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.serving.nginx_config import render
from tests.support.echo_upstream import start_echo
from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
GATEHOUSE = str(Path(sys.executable).parent / "gatehouse")
# `gatehouse dev`'s port options, in the order dev_ports() answers them.
DEV_PORT_OPTIONS = ("--port", "--redis-port", "--mongo-port", "--provider-port", "--nginx-port", "--upstream-port",
                    "--check-port")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def http(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    """(status, headers, body) without following redirects."""
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with OPENER.open(request, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def dev_ports() -> list[int]:
    """Free ports for `gatehouse dev` (DEV_PORT_OPTIONS); dev's uWSGI socket is --check-port + 1."""
    return [free_port() for _ in range(6)] + [free_port(span=2)]


def dev_args(var: Path, ports: list[int]) -> list[str]:
    return [GATEHOUSE, "dev", "--var-dir", str(var), "--workers", "1",
            *[x for name, port in zip(DEV_PORT_OPTIONS, ports) for x in (name, str(port))]]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("MONGODB_URL", "REDIS_URL", "REDIS_HOSTS", "GATEHOUSE_CONFIG")}


def start_dev(var: Path, ports: list[int], stderr: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """`gatehouse dev` on the given ports, the whole stack as a newcomer runs it; (process, what it
    printed) once it says it is running (stop it with SIGINT, as Ctrl-C does)."""
    proc = subprocess.Popen([*dev_args(var, ports), *options], cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=open(stderr, "w"), text=True)
    printed = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and "Gatehouse is running" not in printed:
        line = proc.stdout.readline()
        if not line:
            break
        printed += line
    if "Gatehouse is running" not in printed:
        stop(proc)
        raise AssertionError((printed, stderr.read_text()))
    return proc, printed


def start_gunicorn(env: dict[str, str], metrics_root: Path, extra: dict[str, str] | None = None,
                   workers: int = 2) -> tuple[subprocess.Popen, str]:
    """Gatehouse under gunicorn with the shipped gunicorn.conf.py; (process, base URL) once ready.
    Its log lines (stderr) go to `metrics_root/gunicorn-<port>.log`, as uWSGI's below."""
    port = free_port()
    run_env = {**os.environ, **env, **(extra or {}), "HTTP_PORT": str(port), "GUNICORN_WORKERS": str(workers),
               "PROMETHEUS_MULTIPROC_DIR": str(metrics_root / f"metrics-{port}")}
    with open(metrics_root / f"gunicorn-{port}.log", "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                cwd=ROOT, env=run_env, stdout=subprocess.DEVNULL, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http(f"{base}/-/ready")[0] == 200, "gunicorn", 30)
    except RuntimeError:
        stop(proc)
        raise
    return proc, base


def start_uwsgi_check(env: dict[str, str], metrics_root: Path, extra: dict[str, str] | None = None,
                      processes: int = 2, default_socket: bool = False) -> tuple[subprocess.Popen, str, str]:
    """The /auth group under uWSGI (`gatehouse serve-check`); (process, HTTP base URL, uwsgi socket
    address for nginx) once ready. `default_socket`: no --socket (serve-check's own choice)."""
    port = free_port(span=2) if default_socket else free_port()
    socket_port = port + 1 if default_socket else free_port()
    run_env = {**os.environ, **env, **(extra or {}), "HTTP_PORT": str(port),
               "PROMETHEUS_MULTIPROC_DIR": str(metrics_root / f"metrics-{port}")}
    socket_args = [] if default_socket else ["--socket", f"127.0.0.1:{socket_port}"]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gatehouse"), "serve-check",
                             *socket_args, "--processes", str(processes)],
                            cwd=ROOT, env=run_env, stdout=subprocess.DEVNULL,
                            stderr=open(metrics_root / f"uwsgi-{port}.log", "wb"))
    base = f"http://{run_env.get('GATEHOUSE_BIND', '127.0.0.1')}:{port}"
    try:
        wait_until(lambda: http(f"{base}/-/ready")[0] == 200, "uWSGI", 30)
    except RuntimeError:
        stop(proc)
        raise
    return proc, base, f"uwsgi://127.0.0.1:{socket_port}"


def start_nginx(runtime_root: Path, gatehouse: str, upstream_port: int, cache: bool = False, cache_ttl: str = "3s",
                port: int | None = None, check: str | None = None,
                backoffice_port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Debian's nginx with the shipped config (app/serving/nginx_config.py); (process, base URL) once ready."""
    port = port or free_port()
    runtime = runtime_root / f"nginx-{port}"
    runtime.mkdir()
    conf = runtime / "nginx.conf"
    conf.write_text(render(f"127.0.0.1:{port}", gatehouse.split("//")[1], f"127.0.0.1:{upstream_port}",
                           runtime, cache=cache, cache_ttl=cache_ttl,
                           gatehouse_check=check.split("//")[1] if check else None,
                           backoffice_listen=f"127.0.0.1:{backoffice_port}" if backoffice_port else None,
                           check_protocol="uwsgi" if check and check.startswith("uwsgi:") else "http"))
    # As root (CI), workers would run as nobody and could not use the private temp dir.
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(runtime), "-g", directives],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http(f"{base}/.well-known/jwks.json")[0] == 200, "nginx", 20)
    except RuntimeError:
        stop(proc)
        raise
    return proc, base


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def gunicorn_server(env, tmp_path):
    procs: list[subprocess.Popen] = []

    def start(extra: dict[str, str] | None = None, workers: int = 2) -> str:
        proc, base = start_gunicorn(env, tmp_path, extra, workers)
        procs.append(proc)
        return base

    yield start
    for proc in procs:
        stop(proc)


@pytest.fixture
def uwsgi_check_server(env, tmp_path):
    """`start(extra) -> (HTTP base URL, uwsgi://host:port for nginx's check=)`."""
    procs: list[subprocess.Popen] = []

    def start(extra: dict[str, str] | None = None, processes: int = 2) -> tuple[str, str]:
        proc, base, socket = start_uwsgi_check(env, tmp_path, extra, processes)
        procs.append(proc)
        return base, socket

    yield start
    for proc in procs:
        stop(proc)


@pytest.fixture
def nginx_server(tmp_path):
    procs: list[subprocess.Popen] = []

    def start(gatehouse: str, upstream_port: int, cache: bool = False, cache_ttl: str = "3s",
              port: int | None = None, check: str | None = None, backoffice_port: int | None = None) -> str:
        proc, base = start_nginx(tmp_path, gatehouse, upstream_port, cache, cache_ttl, port, check, backoffice_port)
        procs.append(proc)
        return base

    yield start
    for proc in procs:
        stop(proc)


@pytest.fixture
def echo():
    server, port = start_echo()
    yield port
    server.shutdown()


def echoed(body: bytes) -> dict:
    return json.loads(body)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def browser_login_env(env: dict[str, str], tmp_path: Path, provider_url: str, base: str, routes: dict,
                      **settings: object) -> dict[str, str]:
    """Gatehouse's environment for a browser-login site at `base`: one website app at the
    development provider with Secure cookies, the route file `routes`, config-file `settings`."""
    from tests.conftest import login_app, with_apps
    path = tmp_path / f"routes-{base.rsplit(':', 1)[1]}.json"
    path.write_text(json.dumps(routes))
    app_cfg = login_app(provider_url, callback=f"{base}/web-login/oauth/callback", cookie={"secure": True})
    return {**with_apps(env, tmp_path, {"web": app_cfg}, **settings), "ROUTES_FILE": str(path)}
