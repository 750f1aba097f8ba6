"""/auth through nginx (the shipped config) with wrk: a Gatehouse client-credentials JWT and an
external issuer's JWT (JWKS warm). Starts its own Redis, MongoDB-wire server, local issuer,
gunicorn (production worker settings) and nginx on loopback; every scenario is bounded in time.
Usage: .venv/bin/python bench/auth_nginx.py [--seconds 10]   (needs Debian's nginx and wrk)
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.keys import generate_private_key_pem  # noqa: E402
from app.dev import start_mongo, start_redis  # noqa: E402
from app.nginx_config import render  # noqa: E402
from tests.e2e.conftest import http  # noqa: E402
from tests.echo_upstream import start_echo  # noqa: E402
from tests.issuer import LocalIssuer  # noqa: E402
from tests.servers import free_port, wait_until  # noqa: E402

ROUTES = {"/api/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "tracks"}}}


def wrk(url: str, token: str, seconds: float, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{int(seconds)}s",
                          "--latency", "-H", f"Authorization: Bearer {token}", url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def ms(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "errors": int(non2xx.group(1)) if non2xx else 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="gatehouse-bench-auth-"))
    children = []
    issuer = LocalIssuer()
    echo_server, echo_port = start_echo()
    try:
        rport, mport, gport = free_port(), free_port(), free_port()
        children += [start_redis(var, rport), start_mongo(var, mport)]
        (var / "key.pem").write_bytes(generate_private_key_pem("rsa"))
        (var / "auth.json").write_text(json.dumps(ROUTES))
        (var / "config.json").write_text(json.dumps({"issuers": [
            {"issuer": issuer.url, "audience": ["gloo-api"], "jwks_uri": f"{issuer.url}/jwks"}]}))
        admin = "bench-admin-" + "x" * 32
        env = {**os.environ, "MONGODB_URL": f"mongodb://127.0.0.1:{mport}/bench", "REDIS_URL": f"redis://127.0.0.1:{rport}/0",
               "PRIVATE_RSA_KEY_FILE_PATH": str(var / "key.pem"), "PRIVATE_RSA_KEY_ID": "bench",
               "CLIENT_ID_HASH_SALT": "bench-salt-0123456789", "JWT_ISSUER": "https://gatehouse.bench",
               "ADMIN_TOKEN": admin, "HTTP_PORT": str(gport), "LOG_LEVEL": "error", "DELAY_SHUTDOWN_SECONDS": "0",
               "ROUTES_FILE": str(var / "auth.json"), "GATEHOUSE_CONFIG": str(var / "config.json"),
               "PROMETHEUS_MULTIPROC_DIR": str(var / "metrics")}
        gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append(gunicorn)
        gbase = f"http://127.0.0.1:{gport}"
        wait_until(lambda: http(f"{gbase}/-/ready")[0] == 200, "gunicorn", 60)
        nport = free_port()
        runtime = var / "nginx"
        runtime.mkdir()
        (runtime / "nginx.conf").write_text(render(f"127.0.0.1:{nport}", f"127.0.0.1:{gport}",
                                                   f"127.0.0.1:{echo_port}", runtime))
        directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
        nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(runtime / "nginx.conf"),
                                  "-p", str(runtime), "-g", directives])
        children.append(nginx)
        base = f"http://127.0.0.1:{nport}"
        wait_until(lambda: http(f"{base}/.well-known/jwks.json")[0] == 200, "nginx", 20)
        status, _, raw = http(f"{gbase}/register", "POST", {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
                              json.dumps({"client_name": "bench", "scope": "tracks"}).encode())
        reg = json.loads(raw)
        basic = base64.b64encode(f"{reg['client_id']}:{reg['client_secret']}".encode()).decode()
        own = json.loads(http(f"{gbase}/oauth/token", "POST", {"Authorization": f"Basic {basic}",
                              "Content-Type": "application/x-www-form-urlencoded"}, b"grant_type=client_credentials")[2])["access_token"]
        external = issuer.token(scope="tracks")
        rows = []
        for name, token in (("own client-credentials JWT", own), ("external issuer JWT (JWKS warm)", external)):
            assert http(f"{base}/api/x", headers={"Authorization": f"Bearer {token}"})[0] == 200, name
            for connections in (1, 32):
                rows.append((name, connections, wrk(f"{base}/api/x", token, args.seconds, connections)))
        workers = os.environ.get("GUNICORN_WORKERS", str(2 * (os.cpu_count() or 1)))
        print(f"\n/auth through nginx, gunicorn {workers} sync workers, {args.seconds:.0f} s per row, wrk\n")
        print("| credential | connections | checks/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, connections, r in rows:
            print(f"| {name} | {connections} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} |")
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(timeout=20)
        issuer.close()
        echo_server.shutdown()


if __name__ == "__main__":
    main()
