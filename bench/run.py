"""Gatehouse's benchmark suite: /auth and the token endpoint measured beside nginx's own ceiling,
a do-nothing Flask floor and a resource-server check written in C (Apache httpd +
mod_auth_openidc), in one run, with wrk.

Starts on loopback: Redis and the MongoDB-wire server, Gatehouse under gunicorn with the
production settings (one process group answering /auth, another for the token endpoint and
the rest), the floor app under the same gunicorn settings, Apache with mod_auth_openidc, a
local JWKS issuer and an RFC 7662 introspection server, and nginx with the shipped config (with
and without the decision cache) plus a bench config for the reference scenarios. Every answer
is checked (status and the identity the upstream received); every scenario is bounded in time
and repeated (median reported). Writes bench/RESULTS.md and bench/results.json.

Usage: bench/run [--seconds 8] [--reps 3] [--only name,name] [--no-memory]
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core import tokens  # noqa: E402
from app.core.keys import generate_private_key_pem, load_private_key  # noqa: E402
from app.core.sealing import Sealer, new_key  # noqa: E402
from app.serving.nginx_config import render
from gatehouse_dev.runner import start_mongo, start_redis  # noqa: E402
from tests.e2e.conftest import http  # noqa: E402
from tests.support.introspection_server import IntrospectionServer  # noqa: E402
from tests.support.issuer import LocalIssuer  # noqa: E402
from tests.support.servers import free_port, nginx_temp_paths, wait_until  # noqa: E402
from bench import servers as check_servers  # noqa: E402
from app.settings.declarations import DEFAULT_CHECK_THREADS  # noqa: E402

LUA = ROOT / "bench" / "check.lua"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
PEER_TEMPLATE = ROOT.parent / "shared" / "bench-peer" / "apache-mod-auth-openidc.conf.in"
ROUTES = {
    "/s/": {"ALL": {"authorization": {"expression": "groups.admin"}}},        # Gatehouse session JWT
    "/c/": {"ALL": {"authorization": {"expression": "permissions.orders"}}},  # client-credentials JWT
    "/e/": {"ALL": {"authorization": {"expression": "groups.admin"}}},        # external issuer JWT
    "/b/": {"ALL": {"authorization": {"expression": "groups.admin"}}},        # BFF session
    "/k/": {"ALL": {"authorization": {"expression": "clientType == \"bench\"", "public": True}}},  # API key
    "/i/": {"ALL": {"authorization": {"expression": "scopes.orders"}}},       # introspection
}
DISTINCT = 1000


# -- processes ------------------------------------------------------------------------------

class Stack:
    def __init__(self, var: Path) -> None:
        self.var = var
        self.children: list[subprocess.Popen[Any]] = []
        self.closers: list[Any] = []

    def spawn(self, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(self.var / "stderr.log", "ab"), **kwargs)
        self.children.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.children):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for close in self.closers:
            close()


def gunicorn(stack: Stack, env: dict[str, str], app: str, port: int, workers: int, probe: str = "/-/healthz") -> str:
    run_env = {**env, "HTTP_PORT": str(port), "GUNICORN_WORKERS": str(workers),
               "PROMETHEUS_MULTIPROC_DIR": str(stack.var / f"metrics-{port}")}
    stack.spawn([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app], cwd=ROOT, env=run_env)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http(f"{base}{probe}")[0] in (200, 204), f"gunicorn {app} on {port}", 60)
    return base


def start_nginx(stack: Stack, name: str, text: str, probe: str) -> None:
    runtime = stack.var / f"nginx-{name}"
    runtime.mkdir()
    (runtime / "nginx.conf").write_text(text)
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    stack.spawn([NGINX, "-c", str(runtime / "nginx.conf"), "-p", str(runtime), "-g", directives])
    wait_until(lambda: http(probe)[0] in (200, 204, 401, 404), f"nginx {name}", 20)


def bench_nginx_config(runtime: Path, ports: dict[str, int]) -> str:
    """The reference scenarios, each a server: nginx's own ceiling, a proxied `return 204`, the
    Flask floor and the C peer; and the upstream every scenario ends at, which echoes the
    identity it was sent (X-Seen-User) and the expected one from the query (X-Seen-Expect)."""
    p = ports
    check_location = """
        location = /_check {{
            internal;
            {body}
        }}
        location /s/ {{
            auth_request /_check;
            auth_request_set $bench_user $upstream_http_x_auth_user;
            proxy_set_header miauserid $bench_user;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://echo;
        }}"""
    proxied = """proxy_pass http://{up}{path};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_http_version 1.1;
            proxy_set_header Connection "";"""
    servers = {
        "ceiling": "return 204;",
        "ceiling_proxy": proxied.format(up="ret204", path=""),
        "floor": proxied.format(up="floor", path="/auth"),
        "bare": proxied.format(up="bare", path="/auth"),
        "peer": proxied.format(up="peer", path="/check"),
    }
    blocks = "\n".join(f"""
    server {{
        listen 127.0.0.1:{p[name]};{check_location.format(body=body)}
    }}""" for name, body in servers.items())
    return f"""worker_processes auto;
pid {runtime}/nginx.pid;
error_log {runtime}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{nginx_temp_paths(runtime)}    upstream echo {{ server 127.0.0.1:{p['echo']}; keepalive 64; }}
    upstream ret204 {{ server 127.0.0.1:{p['ret204']}; keepalive 64; }}
    upstream floor {{ server 127.0.0.1:{p['floor_app']}; keepalive 64; }}
    upstream bare {{ server 127.0.0.1:{p['bare_app']}; keepalive 64; }}
    upstream peer {{ server 127.0.0.1:{p['peer_app']}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{p['echo']};
        location / {{
            add_header X-Seen-User "$http_miauserid$http_miaclienttype" always;
            add_header X-Seen-Expect $arg_u always;
            return 200 "";
        }}
    }}
    server {{
        listen 127.0.0.1:{p['ret204']};
        location / {{ return 204; }}
    }}{blocks}
}}
"""


def start_peer(stack: Stack, port: int, kid: str, private_pem: bytes) -> None:
    """Apache httpd (event MPM) + mod_auth_openidc checking our session JWT from the `sid`
    cookie and one group, with a self-signed certificate of our public key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    run = stack.var / "apache"
    www = run / "www"
    www.mkdir(parents=True)
    (www / "empty.txt").write_bytes(b"")
    key = serialization.load_pem_private_key(private_pem, password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatehouse-bench")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    (run / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    text = PEER_TEMPLATE.read_text()
    for placeholder, value in (("@RUN_DIR@", str(run)), ("@WWW_DIR@", str(www)), ("@PORT@", str(port)),
                               ("@KID@", kid), ("@CERT_PEM@", str(run / "cert.pem")), ("@COOKIE_NAME@", "sid"),
                               ("@GROUP@", "admin")):
        text = text.replace(placeholder, value)
    (run / "apache.conf").write_text(text)
    for path in (stack.var, run, www):
        path.chmod(0o755)
    stack.spawn([APACHE, "-f", str(run / "apache.conf"), "-DFOREGROUND"])
    wait_until(lambda: http(f"http://127.0.0.1:{port}/check")[0] == 401, "apache + mod_auth_openidc", 20)


# -- credentials ----------------------------------------------------------------------------

def requests_file(var: Path, name: str, lines: list[str]) -> Path:
    path = var / f"requests-{name}.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def line(method: str, target: str, check: str, headers: dict[str, str], body: str | None = None) -> str:
    fields = [method, target, check] + [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        fields.append(f"BODY={body}")
    return "\t".join(fields)


def cookie_lines(prefix: str, creds: list[tuple[str, str]], header: str = "Cookie", fmt: str = "sid={}",
                 check: str = "user") -> list[str]:
    return [line("GET", f"{prefix}x?u={user}", check, {header: fmt.format(value)}) for value, user in creds]


def make_credentials(env: dict[str, str], var: Path, issuer: LocalIssuer, introspection: IntrospectionServer,
                     api_key_values: list[str], sealer: Sealer, n: int,
                     n_many: int) -> dict[str, list[tuple[str, str]]]:
    """(credential, expected user id) lists, minted with Gatehouse's own services in-process
    (the same keys, Redis and MongoDB as the running workers)."""
    from app.core.issuer.grants import client_credentials
    from app.services import build_services
    from app.settings import load_settings
    settings = load_settings(env)
    svc = build_services(settings)
    assert svc.sessions is not None
    app = svc.composition.apps["bench"]
    sessions = []
    for i in range(n):
        user = {"userId": f"user-{i}", "groups": ["admin"], "name": f"User {i}"}
        sessions.append((svc.sessions.open(app, "idp", user, {}).access_token, f"user-{i}"))
    client, _ = svc.registry.register({"name": "bench", "auth_method": "client_secret_basic",
                                       "scopes": ["orders"], "permissions": ["orders"]})
    client_id = client.client_id
    now = int(time.time())
    own = [(client_credentials.issue(svc.tokens.cc, svc.composition.keys, client, None, [], now).access_token, client_id)
           for _ in range(n_many)]
    external = [(issuer.token(sub=f"ext-{i}", groups=["admin"], exp=now + 7200), f"ext-{i}") for i in range(n)]
    bff = []
    r = svc.redis
    for i in range(n):
        sid = secrets.token_urlsafe(32)
        doc = {"v": 1, "iss": issuer.url, "sub": f"bff-{i}", "psid": None, "user": {"sub": f"bff-{i}", "groups": ["admin"]},
               "createdAt": now, "expiresAt": now + 7200, "atExp": now + 7200,
               "tokens": sealer.seal({"access_token": f"provider-at-{i}", "refresh_token": f"rt-{i}"})}
        r.set(f"gatehouse:v1:bff:{sid}", json.dumps(doc), ex=7200)
        bff.append((sid, f"bff-{i}"))
    opaque = []
    for i in range(n):
        token = secrets.token_urlsafe(24)
        introspection.tokens[token] = {"active": True, "sub": f"opaque-{i}", "scope": "orders", "exp": now + 7200}
        opaque.append((token, f"opaque-{i}"))
    keys = [(value, "bench") for value in api_key_values[:n]]
    return {"session": sessions, "own": own[:n], "own_many": own, "external": external, "bff": bff, "opaque": opaque,
            "apikey": keys}


# -- measuring ------------------------------------------------------------------------------

def wrk(url: str, requests: Path, seconds: float, connections: int, status: int = 200) -> dict[str, float]:
    threads = 1 if connections == 1 else 2
    done = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                           "--latency", "--timeout", "10s", "-s", str(LUA), url, "--", str(requests), str(status),
                           str(threads)], capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    def ms(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    checked = re.search(r"CHECKED (\d+) BAD (\d+) WRONG_STATUS (\d+) WRONG_USER (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": ms("50"), "p99": ms("99"),
            "checked": int(checked.group(1)), "bad": int(checked.group(2)),
            "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0}


def measure(name: str, url: str, requests: Path | Any, args: argparse.Namespace, status: int = 200,
            seconds: float | None = None) -> list[dict[str, Any]]:
    """Warm up, then `reps` runs at 1 and at 32 connections. `requests`: a file, or a callable
    answering a fresh file per run (single-use credentials such as client assertions)."""
    seconds = seconds or args.seconds
    fresh = requests if callable(requests) else (lambda run_seconds: requests)
    wrk(url, fresh(2), 2, 8, status)  # warm: JWKS, caches, keepalive connections
    rows = []
    for connections in (1, 32):
        runs = [wrk(url, fresh(seconds), seconds, connections, status) for _ in range(args.reps)]
        row = {"scenario": name, "connections": connections,
               "rps": statistics.median(r["rps"] for r in runs), "p50": statistics.median(r["p50"] for r in runs),
               "p99": statistics.median(r["p99"] for r in runs), "checked": sum(r["checked"] for r in runs),
               "bad": sum(r["bad"] + r["socket_errors"] for r in runs), "runs": runs}
        rows.append(row)
        print(f"  {name:<44} c={connections:<3} {row['rps']:>8.0f}/s  p50 {row['p50']:6.2f} ms  "
              f"p99 {row['p99']:6.2f} ms  bad {row['bad']}", flush=True)
    return rows


def worker_rss(master_pid: int) -> list[int]:
    """RSS (KiB) of each worker of a gunicorn master."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)))
    return sizes


def machine() -> dict[str, str]:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    def version(cmd: list[str]) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (done.stdout + done.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "not found"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "kernel": platform.release(),
            "python": platform.python_version(), "nginx": version([NGINX, "-v"]),
            "apache": version([APACHE, "-v"]), "wrk": version(["wrk", "-v"]),
            "memory": f"{int(Path('/proc/meminfo').read_text().split()[1]) // 1024 // 1024} GiB"}


# -- main -----------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8, help="length of one measured run")
    parser.add_argument("--reps", type=int, default=3, help="runs per scenario and concurrency (median reported)")
    parser.add_argument("--only", default="", help="comma list of scenario names (default: all)")
    parser.add_argument("--check-workers", type=int, default=None,
                        help="worker processes of the /auth group (default: one per core, as shipped)")
    parser.add_argument("--check-server", choices=("uwsgi", "gunicorn"), default="uwsgi",
                        help="server of the /auth group (default: uwsgi, as shipped)")
    parser.add_argument("--check-threads", type=int, default=DEFAULT_CHECK_THREADS,
                        help="threads per uWSGI worker of the /auth group (default: as shipped)")
    parser.add_argument("--no-memory", action="store_true", help="skip the 200,000-call memory run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--from-json", default=None,
                        help="only write the report again from a results .json of an earlier run")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        for key, value in saved.get("settings", {}).items():
            setattr(args, key, value)
        report(args, saved["results"], saved.get("memory"), saved.get("elapsed", 0.0), saved.get("command"))
        return 0
    only = {s for s in args.only.split(",") if s}

    def wanted(name: str) -> bool:
        return not only or any(name.startswith(o) for o in only)

    var = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    stack = Stack(var)
    issuer = LocalIssuer()
    introspection = IntrospectionServer()
    stack.closers += [issuer.close, introspection.close]
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        ports = {k: free_port() for k in ("redis", "mongo", "api", "api_cold", "floor_app", "peer_app", "echo",
                                         "ret204", "ceiling", "ceiling_proxy", "floor", "peer", "site", "site_cache",
                                         "bare_app", "bare", "site_floor", "site_bare")}
        ports["check"] = free_port(span=2)  # under uWSGI: HTTP on the port, uwsgi protocol on the next
        stack.children += [start_redis(var, ports["redis"]), start_mongo(var, ports["mongo"])]
        pem = generate_private_key_pem("rsa")
        (var / "key.pem").write_bytes(pem)
        provider_key = new_key()
        api_key_values = [secrets.token_urlsafe(24) for _ in range(DISTINCT)]
        (var / "auth.json").write_text(json.dumps(ROUTES))
        config = {
            "issuers": [{"issuer": issuer.url, "audience": ["gloo-api"], "jwks_uri": f"{issuer.url}/jwks"}],
            "introspection": {"endpoint": introspection.url, "client_id": "rs", "client_secret": "rs-secret",
                              "max_cache_seconds": 3600},
            "api_keys": [{"sha256": hashlib.sha256(k.encode()).hexdigest(), "clientType": "bench"} for k in api_key_values],
            "apps": {"bench": {"providers": {"idp": {"type": "oidc", "clientId": "bench", "clientSecret": "x",
                                                     "discoveryUrl": f"{issuer.url}/.well-known/openid-configuration"}},
                               "redirectUrl": "https://bench.example/web-login/oauth/callback", "isWebsiteApp": True}},
            "bff": {"provider": {"type": "oidc", "clientId": "bench-bff", "clientSecret": "x",
                                 "discoveryUrl": f"{issuer.url}/.well-known/openid-configuration"},
                    "redirectUrl": "https://bench.example/bff/oauth/callback"},
        }
        (var / "config.json").write_text(json.dumps(config))
        admin = "bench-admin-" + "x" * 32
        env = {**os.environ, "MONGODB_URL": f"mongodb://127.0.0.1:{ports['mongo']}/bench",
               "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0", "PRIVATE_RSA_KEY_FILE_PATH": str(var / "key.pem"),
               "PRIVATE_RSA_KEY_ID": "bench-1", "CLIENT_ID_HASH_SALT": "bench-salt-0123456789",
               "JWT_ISSUER": "https://gatehouse.bench", "ADMIN_TOKEN": admin, "LOG_LEVEL": "error",
               "DELAY_SHUTDOWN_SECONDS": "0", "ROUTES_FILE": str(var / "auth.json"),
               "GATEHOUSE_CONFIG": str(var / "config.json"), "PROVIDER_TOKEN_KEY": provider_key,
               "AUTH_FAILURE_LIMIT": "100000", "CLIENT_SECRET_HASH_COST": "10"}
        print(f"bench: starting on loopback (work dir {var})", flush=True)
        args.check_workers = args.check_workers or os.cpu_count() or 1
        check_env = {**env, "GATEHOUSE_ROLE": "check"}
        check_address, check_protocol, check_master = check_servers.start(
            stack.spawn, args.check_server, "wsgi:app", ports["check"], args.check_workers, args.check_threads,
            check_env, var / "metrics-check")
        wait_until(lambda: http(f"http://127.0.0.1:{ports['check']}/-/healthz")[0] == 200, "the /auth group", 60)
        gunicorn(stack, env, "wsgi:app", ports["api"], 2)
        gunicorn(stack, {**env, "CLIENT_CACHE_SECONDS": "0"}, "wsgi:app", ports["api_cold"], 2)
        floor_env = {**check_env, "GUNICORN_WORKER_CLASS": "gevent"}
        gunicorn(stack, floor_env, "bench.floor_app:app", ports["floor_app"], args.check_workers, "/auth")
        gunicorn(stack, floor_env, "bench.floor_app:bare", ports["bare_app"], args.check_workers, "/auth")
        creds = make_credentials(env, var, issuer, introspection, api_key_values, Sealer(provider_key.encode()),
                                 DISTINCT, 10 * DISTINCT)
        start_peer(stack, ports["peer_app"], "bench-1", pem)
        bench_runtime = var / "nginx-bench"
        start_nginx(stack, "bench", bench_nginx_config(bench_runtime, ports), f"http://127.0.0.1:{ports['ret204']}/")
        for name, cache in (("site", False), ("site_cache", True)):
            runtime = var / f"nginx-{name}"
            text = render(f"127.0.0.1:{ports[name]}", f"127.0.0.1:{ports['api']}", f"127.0.0.1:{ports['echo']}",
                          runtime, cache=cache, cache_ttl="30s", gatehouse_check=check_address,
                          check_protocol=check_protocol)
            start_nginx(stack, name, text, f"http://127.0.0.1:{ports[name]}/.well-known/jwks.json")
        # the floor and the bare callable behind the shipped config too (same nginx work as /auth)
        for name, app_port in (("site_floor", ports["floor_app"]), ("site_bare", ports["bare_app"])):
            runtime = var / f"nginx-{name}"
            text = render(f"127.0.0.1:{ports[name]}", f"127.0.0.1:{ports['api']}", f"127.0.0.1:{ports['echo']}",
                          runtime, gatehouse_check=f"127.0.0.1:{app_port}")
            start_nginx(stack, name, text, f"http://127.0.0.1:{ports[name]}/.well-known/jwks.json")
        site, cached_site = f"http://127.0.0.1:{ports['site']}", f"http://127.0.0.1:{ports['site_cache']}"

        session_one = creds["session"][:1]
        scenarios: list[tuple[str, str, list[str], int]] = [
            # no identity to check: nothing there decides who the caller is (status only)
            ("ceiling", f"http://127.0.0.1:{ports['ceiling']}", cookie_lines("/s/", session_one, check="-"), 200),
            ("ceiling-proxy", f"http://127.0.0.1:{ports['ceiling_proxy']}",
             cookie_lines("/s/", session_one, check="-"), 200),
            ("floor", f"http://127.0.0.1:{ports['floor']}", cookie_lines("/s/", session_one, check="-"), 200),
            # for the profile: gunicorn with a bare WSGI callable, no framework
            ("bare-wsgi", f"http://127.0.0.1:{ports['bare']}", cookie_lines("/s/", session_one, check="-"), 200),
            ("floor (shipped config)", f"http://127.0.0.1:{ports['site_floor']}",
             cookie_lines("/s/", session_one, check="-"), 200),
            ("bare-wsgi (shipped config)", f"http://127.0.0.1:{ports['site_bare']}",
             cookie_lines("/s/", session_one, check="-"), 200),
            ("peer", f"http://127.0.0.1:{ports['peer']}", cookie_lines("/s/", session_one), 200),
        ]
        for label, key, prefix, make in (
                ("session JWT (cookie)", "session", "/s/", lambda c: cookie_lines("/s/", c)),
                ("client-credentials JWT", "own", "/c/", lambda c: cookie_lines("/c/", c, "Authorization", "Bearer {}")),
                ("external issuer JWT", "external", "/e/", lambda c: cookie_lines("/e/", c, "Authorization", "Bearer {}")),
                ("BFF session", "bff", "/b/", lambda c: cookie_lines("/b/", c, "Cookie", "__Host-gatehouse={}")),
                ("API key", "apikey", "/k/", lambda c: cookie_lines("/k/", c, "client-key", "{}")),
                ("introspection", "opaque", "/i/", lambda c: cookie_lines("/i/", c, "Authorization", "Bearer {}"))):
            for count in (1, DISTINCT):
                scenarios.append((f"/auth {label} x{count}", site, make(creds[key][:count]), 200))
        scenarios += [
            ("/auth cache session JWT (cookie) x1000", cached_site, cookie_lines("/s/", creds["session"]), 200),
            ("/auth cache client-credentials JWT x1000", cached_site,
             cookie_lines("/c/", creds["own"], "Authorization", "Bearer {}"), 200),
        ]
        for name, url, lines, status in scenarios:
            if wanted(name):
                # wrk threads take every other line: a single credential is written twice
                lines = lines if len(lines) > 1 else lines * 2
                results += measure(name, url + "/", requests_file(var, re.sub(r"\W+", "_", name), lines), args, status)

        results += token_scenarios(args, wanted, var, env, ports, site, admin)
        results += hung_provider(args, wanted, var, site, creds, introspection)
        results += server_scenarios(args, wanted, var, env, ports, creds)

        memory = None
        if not args.no_memory and wanted("memory"):
            memory = memory_run(var, site, creds, check_master, results)
        report(args, results, memory, time.monotonic() - started)
        return 0
    finally:
        stack.close()


def token_scenarios(args: argparse.Namespace, wanted: Any, var: Path, env: dict[str, str], ports: dict[str, int],
                    site: str, admin: str) -> list[dict[str, Any]]:
    """Tokens/s: client_secret_basic (hot: the verified secret cached in-process as a keyed hash;
    cold: bcrypt cost 10 every time) and private_key_jwt (a fresh assertion per request)."""
    rows: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    reg = json.loads(http(f"http://127.0.0.1:{ports['api']}/register", "POST", headers,
                          json.dumps({"client_name": "bench-secret", "scope": "orders"}).encode())[2])
    basic = base64.b64encode(f"{reg['client_id']}:{reg['client_secret']}".encode()).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"}
    secret_lines = [line("POST", "/oauth/token", "token", form, "grant_type=client_credentials")] * 2
    if wanted("token client_secret_basic hot"):
        rows += measure("token client_secret_basic hot", site + "/", requests_file(var, "basic", secret_lines), args)
    if wanted("token client_secret_basic cold"):
        rows += measure("token client_secret_basic cold (bcrypt 10)", f"http://127.0.0.1:{ports['api_cold']}/",
                        requests_file(var, "basic_cold", secret_lines), args)
    if wanted("token private_key_jwt"):
        key_pem = generate_private_key_pem("rsa")
        (var / "client.pem").write_bytes(key_pem)
        from app.core.keys import public_pem
        reg = json.loads(http(f"http://127.0.0.1:{ports['api']}/register", "POST", headers, json.dumps({
            "client_name": "bench-jwt", "token_endpoint_auth_method": "private_key_jwt", "scope": "orders",
            "public_key": public_pem(key_pem).decode()}).encode())[2])
        signing = load_private_key(key_pem, None, "client-1")
        audience = f"{env['JWT_ISSUER']}/oauth/token"
        from jose import jwt as jose_jwt
        made = [0]

        def assertions(run_seconds: float) -> Path:
            """A fresh file of single-use assertions for one run: more than the endpoint can take."""
            now = int(time.time())
            lines = []
            for _ in range(int(2000 * run_seconds) + 1000):
                assertion = jose_jwt.encode({"iss": reg["client_id"], "sub": reg["client_id"], "aud": audience,
                                             "jti": tokens.new_jti(), "iat": now, "exp": now + 280},
                                            signing.private, algorithm="RS256")
                lines.append(line("POST", "/oauth/token", "token",
                                  {"Content-Type": "application/x-www-form-urlencoded"},
                                  "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
                                  f"client-assertion-type%3Ajwt-bearer&client_assertion={assertion}"))
            made[0] += 1
            return requests_file(var, f"pkjwt-{made[0]}", lines)
        rows += measure("token private_key_jwt", site + "/", assertions, args)
    return rows


def server_scenarios(args: argparse.Namespace, wanted: Any, var: Path, env: dict[str, str], ports: dict[str, int],
                     creds: dict[str, list[tuple[str, str]]]) -> list[dict[str, Any]]:
    """Each candidate server of the /auth group (bench/servers.py), one at a time, behind its own
    nginx with the shipped config: a bare WSGI no-op (the server alone), a callable answering an
    allow's headers without deciding (the server's and nginx's cost of the answer) and the
    Gatehouse check with one client JWT. Started and stopped per candidate, so idle groups do not share the cores."""
    rows: list[dict[str, Any]] = []
    jwt = cookie_lines("/c/", creds["own"][:1], "Authorization", "Bearer {}") * 2
    bare = cookie_lines("/s/", creds["session"][:1], check="-") * 2
    cores = os.cpu_count() or 1
    for label, server, threads, per_core in check_servers.CANDIDATES:
        workers = per_core * cores
        for app, lines, name in (("bench.floor_app:bare", bare, f"server {label}: bare-wsgi"),
                                 ("bench.floor_app:identity", bare, f"server {label}: identity answer"),
                                 ("wsgi:app", jwt, f"server {label}: /auth client-credentials JWT x1")):
            if not wanted(name):
                continue
            sub = Stack(var)
            try:
                port, site_port = free_port(span=2), free_port()
                address, protocol, _ = check_servers.start(sub.spawn, server, app, port, workers,
                                                           threads, env, var / f"metrics-{port}")
                wait_until(lambda: http(f"http://127.0.0.1:{port}/-/healthz")[0] in (200, 204), name, 60)
                text = render(f"127.0.0.1:{site_port}", f"127.0.0.1:{ports['api']}", f"127.0.0.1:{ports['echo']}",
                              var / f"nginx-server-{port}", gatehouse_check=address, check_protocol=protocol)
                start_nginx(sub, f"server-{port}", text, f"http://127.0.0.1:{site_port}/.well-known/jwks.json")
                rows += measure(name, f"http://127.0.0.1:{site_port}/",
                                requests_file(var, re.sub(r"\W+", "_", name), lines), args)
            finally:
                sub.close()
    return rows


def hung_provider(args: argparse.Namespace, wanted: Any, var: Path, site: str,
                  creds: dict[str, list[tuple[str, str]]], introspection: IntrospectionServer) -> list[dict[str, Any]]:
    """Checks that need no provider, measured with every provider answering and then while the
    introspection endpoint hangs 30 s and 8 connections keep sending opaque tokens that need it."""
    base = "/auth client-credentials JWT x1"
    if not wanted("hung provider"):
        return []
    path = requests_file(var, "hung_base", cookie_lines("/c/", creds["own"][:1], "Authorization", "Bearer {}") * 2)
    rows = measure(f"hung provider: {base}, providers answering", site + "/", path, args)
    side = requests_file(var, "hung_side", [line("GET", "/i/x?u=-", "-", {"Authorization": f"Bearer {secrets.token_urlsafe(24)}"})
                                            for _ in range(20000)])
    introspection.hang_seconds = 30.0
    duration = int(2 + 2 * args.reps * args.seconds + 30)
    waiting = subprocess.Popen(["wrk", "-t", "1", "-c", "8", "-d", f"{duration}s", "--timeout", "40s", "-s", str(LUA),
                                site + "/", "--", str(side), "503", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: introspection.calls > 0, "the side load reaching the hung provider", 20)
        rows += measure(f"hung provider: {base}, introspection hung 30 s", site + "/", path, args)
    finally:
        introspection.hang_seconds = 0.0
        waiting.terminate()
        waiting.wait(timeout=60)
    return rows


def memory_run(var: Path, site: str, creds: dict[str, list[tuple[str, str]]], master: int,
               results: list[dict[str, Any]]) -> dict[str, Any]:
    """RSS per /auth worker before and after 200,000 calls with 10,000 distinct tokens."""
    lines = cookie_lines("/c/", creds["own_many"], "Authorization", "Bearer {}")
    path = requests_file(var, "memory", lines)
    before = worker_rss(master)
    rate = next((r["rps"] for r in results if r["scenario"] == "/auth client-credentials JWT x1000"
                 and r["connections"] == 32), 1500.0)
    # 10,000 distinct tokens run slower than 1,000 (few answers are kept): aim at half the rate
    seconds = min(150, max(20, int(200_000 / max(rate / 2, 1.0)) + 5))
    run = wrk(site + "/", path, seconds, 32)
    after = worker_rss(master)
    print(f"  memory: {run['checked']} calls, RSS KiB before {before} after {after}", flush=True)
    return {"calls": run["checked"], "distinct": len(lines), "seconds": seconds,
            "rss_before_kib": before, "rss_after_kib": after, "bad": run["bad"]}


def ratio(results: list[dict[str, Any]], a: str, b: str, connections: int, field: str = "rps") -> float | None:
    row_a = next((r for r in results if r["scenario"] == a and r["connections"] == connections), None)
    row_b = next((r for r in results if r["scenario"] == b and r["connections"] == connections), None)
    if not row_a or not row_b or not row_b[field]:
        return None
    return row_a[field] / row_b[field]


JWT_ROWS = ("session JWT (cookie)", "client-credentials JWT")


def targets(results: list[dict[str, Any]], memory: dict[str, Any] | None = None) -> dict[str, tuple[float | None, bool]]:
    """Each target of the performance issue as (value, met), from this run's rows only."""
    out: dict[str, tuple[float | None, bool]] = {}

    def put(name: str, value: float | None, ok: Any) -> None:
        out[name] = (value, value is not None and bool(ok(value)))

    for label in JWT_ROWS:
        put(f"/auth {label} x1 ÷ C peer, c=32 (≥ 1.25)", ratio(results, f"/auth {label} x1", "peer", 32),
            lambda v: v >= 1.25)
        put(f"/auth {label} x1 p50 ÷ C peer p50, c=1 (≤ 1.0)",
            ratio(results, f"/auth {label} x1", "peer", 1, "p50"), lambda v: v <= 1.0)
        put(f"/auth {label} x1000 ÷ x1, c=32 (≥ 0.9)",
            ratio(results, f"/auth {label} x1000", f"/auth {label} x1", 32), lambda v: v >= 0.9)
    for label in ("BFF session", "API key"):
        for count in (1, 1000):
            put(f"/auth {label} x{count} ÷ client-credentials JWT x{count}, c=32 (≥ 0.95)",
                ratio(results, f"/auth {label} x{count}", f"/auth client-credentials JWT x{count}", 32),
                lambda v: v >= 0.95)
    for label in JWT_ROWS:
        put(f"/auth with the decision cache, {label} x1000 ÷ ceiling-proxy, c=32 (≥ 1.0)",
            ratio(results, f"/auth cache {label} x1000", "ceiling-proxy", 32), lambda v: v >= 1.0)
    for name in ("token client_secret_basic hot", "token private_key_jwt"):
        row = next((r for r in results if r["scenario"] == name and r["connections"] == 32), None)
        put(f"{name}, tokens/s at c=32 (≥ 1,000)", row["rps"] if row else None, lambda v: v >= 1000)
    base = "hung provider: /auth client-credentials JWT x1"
    for connections in (1, 32):
        put(f"p99 of checks needing no provider, introspection hung ÷ answering, c={connections} (≤ 2.0)",
            ratio(results, f"{base}, introspection hung 30 s", f"{base}, providers answering", connections, "p99"),
            lambda v: v <= 2.0)
    enough = memory is not None and memory["calls"] >= 200_000
    put("RSS per /auth worker after 200,000 checks with 10,000 distinct tokens, MiB (≤ 130)",
        max(memory["rss_after_kib"]) / 1024 if enough else None, lambda v: v <= 130)  # type: ignore[index]
    return out


def server_table(results: list[dict[str, Any]]) -> list[str]:
    """The candidate servers of the /auth group side by side (bench/servers.py)."""
    labels = [label for label, *_ in check_servers.CANDIDATES
              if any(r["scenario"].startswith(f"server {label}:") for r in results)]
    if not labels:
        return []
    md = ["", "## Servers of the /auth group", "",
          "Each candidate alone (the others stopped), one worker process per core unless the label says "
          "otherwise, behind its own nginx with the "
          "shipped config; the Gatehouse check with one client JWT, a bare WSGI callable (the server's own "
          "cost) and one answering an allow's headers without deciding (the answer's cost in the server and "
          "nginx). Checks/s at c=32 (× the C peer of this run), p50 at c=1.", "",
          "| server | bare WSGI c=32 | identity answer c=32 | /auth c=32 | × peer | /auth p50 c=1 ms | "
          "/auth p99 c=32 ms |",
          "|---|---:|---:|---:|---:|---:|---:|"]
    peer = next((r["rps"] for r in results if r["scenario"] == "peer" and r["connections"] == 32), None)
    for label in labels:
        def row(kind: str, connections: int) -> dict[str, Any]:
            return next((r for r in results if r["scenario"] == f"server {label}: {kind}"
                         and r["connections"] == connections), {"rps": 0.0, "p50": 0.0, "p99": 0.0})
        auth, bare = row("/auth client-credentials JWT x1", 32), row("bare-wsgi", 32)
        times = f"{auth['rps'] / peer:.2f}" if peer else "n/a"
        md.append(f"| {label} | {bare['rps']:,.0f} | {row('identity answer', 32)['rps']:,.0f} | "
                  f"{auth['rps']:,.0f} | {times} | "
                  f"{row('/auth client-credentials JWT x1', 1)['p50']:.2f} | {auth['p99']:.2f} |")
    return md


def check_group(args: argparse.Namespace) -> str:
    if args.check_server == "uwsgi":
        return f"uWSGI, {args.check_workers} processes × {args.check_threads} threads, nginx `uwsgi_pass` to a unix socket (as shipped)"
    return f"gunicorn, {args.check_workers} gevent workers"


def report(args: argparse.Namespace, results: list[dict[str, Any]], memory: dict[str, Any] | None,
           elapsed: float, command: str | None = None) -> None:
    info = machine()
    ratios = targets(results, memory)
    command = command or "bench/run " + " ".join(sys.argv[1:])
    measured = getattr(args, "measured", None) or f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M}"
    args.measured = measured
    md = [f"# Benchmark results\n",
          f"Measured {measured} UTC with `{command.strip()}` "
          f"({elapsed / 60:.0f} min).\n",
          "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".\n",
          f"Each row: median of {args.reps} runs of {args.seconds:.0f} s (wrk, 1 thread at c=1, 2 at c=32), "
          "after a warm-up; nginx, gunicorn, Redis, the MongoDB-wire server, Apache and wrk share the machine. "
          f"/auth group: {check_group(args)}; token endpoint: a separate gunicorn group "
          "of 2. `bad` counts answers with the wrong status or identity (and socket errors).\n",
          "| scenario | connections | requests/s | p50 ms | p99 ms | checked | bad |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        md.append(f"| {r['scenario']} | {r['connections']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                  f"{r['checked']} | {r['bad']} |")
    md += ["", "## Targets (issue: ahead of the C peer)", "", "| target | this run | met |", "|---|---:|---|"]
    md += [f"| {k} | {v:.2f} | {'yes' if ok else '**no**'} |" if v is not None else f"| {k} | n/a | |"
           for k, (v, ok) in ratios.items()]
    md += server_table(results)
    if memory:
        md += ["", "## Memory", "",
               f"{memory['calls']} /auth calls with {memory['distinct']} distinct credentials in {memory['seconds']} s "
               f"(bad {memory['bad']}). RSS per /auth worker, KiB: before {memory['rss_before_kib']}, "
               f"after {memory['rss_after_kib']}."]
    notes = ROOT / "bench" / "profile.md"  # hand-written: where the time goes, what is not met and why
    if notes.exists():
        md += ["", notes.read_text().rstrip()]
    Path(args.out).write_text("\n".join(md) + "\n")
    settings = {k: getattr(args, k) for k in ("seconds", "reps", "check_workers", "check_server", "check_threads",
                                              "measured")}
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"machine": info, "command": command, "settings": settings, "elapsed": elapsed, "results": results,
         "ratios": ratios, "memory": memory}, indent=1))
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
