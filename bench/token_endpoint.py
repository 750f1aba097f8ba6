"""Token endpoint throughput with one gunicorn worker: client_secret_basic and private_key_jwt.

Starts its own Redis, MongoDB-wire server and gunicorn on loopback, runs each scenario for a
bounded time and count, checks every answer (a fast wrong answer counts as a failure), and
prints a Markdown table. Usage: .venv/bin/python bench/token_endpoint.py [--seconds 10]
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.keys import generate_private_key_pem, load_private_key, public_pem  # noqa: E402
from app.dev import start_mongo, start_redis  # noqa: E402
from jose import jwt  # noqa: E402
from tests.servers import free_port, wait_until  # noqa: E402

MAX_REQUESTS = 200_000


def post(conn: http.client.HTTPConnection, path: str, body: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    response = conn.getresponse()
    return response.status, response.read()


def run_scenario(port: int, make_request, seconds: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        local, bad = [], 0
        while time.monotonic() < stop_at and len(local) < MAX_REQUESTS // concurrency:
            body, headers = make_request()
            started = time.perf_counter()
            status, data = post(conn, "/oauth/token", body, headers)
            local.append(time.perf_counter() - started)
            if status != 200 or b'"access_token"' not in data:
                bad += 1
        with lock:
            latencies.extend(local)
            failures[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {"requests": len(latencies), "failures": failures[0], "rps": len(latencies) / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--cost", type=int, default=10, help="CLIENT_SECRET_HASH_COST")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    rport, mport, port = free_port(), free_port(), free_port()
    children = [start_redis(var, rport), start_mongo(var, mport)]
    key = var / "signing.pem"
    key.write_bytes(generate_private_key_pem("rsa"))
    admin = "bench-admin-" + "x" * 32
    env = {**os.environ, "MONGODB_URL": f"mongodb://127.0.0.1:{mport}/bench", "REDIS_URL": f"redis://127.0.0.1:{rport}/0",
           "PRIVATE_RSA_KEY_FILE_PATH": str(key), "PRIVATE_RSA_KEY_ID": "bench", "CLIENT_ID_HASH_SALT": "bench-salt-0123456789",
           "JWT_ISSUER": f"http://127.0.0.1:{port}", "ADMIN_TOKEN": admin, "CLIENT_SECRET_HASH_COST": str(args.cost),
           "HTTP_PORT": str(port), "GUNICORN_WORKERS": "1", "DELAY_SHUTDOWN_SECONDS": "0", "LOG_LEVEL": "error",
           "AUTH_FAILURE_LIMIT": "100000", "PROMETHEUS_MULTIPROC_DIR": str(var / "metrics")}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children.append(server)
    try:
        wait_until(lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/-/ready") is None, "gunicorn")
        time.sleep(1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        def register(meta: dict) -> dict:
            conn.request("POST", "/register", body=json.dumps(meta),
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {admin}"})
            return json.loads(conn.getresponse().read())

        secret_client = register({"client_name": "bench", "scope": "a b"})
        client_pem = generate_private_key_pem("rsa")
        jwt_client = register({"client_name": "bench-jwt", "token_endpoint_auth_method": "private_key_jwt",
                               "public_key": public_pem(client_pem).decode()})
        signing = load_private_key(client_pem, None, "c")
        basic = "Basic " + base64.b64encode(f"{secret_client['client_id']}:{secret_client['client_secret']}".encode()).decode()
        audience = f"http://127.0.0.1:{port}/oauth/token"
        counter = iter(range(10**9))

        def basic_request():
            return "grant_type=client_credentials", {"Authorization": basic}

        def jwt_request():
            now = int(time.time())
            cid = jwt_client["client_id"]
            assertion = jwt.encode({"iss": cid, "sub": cid, "aud": audience, "iat": now, "exp": now + 60,
                                    "jti": f"b{next(counter)}"}, signing.private, algorithm="RS256")
            return urlencode({"grant_type": "client_credentials", "client_assertion": assertion,
                              "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}), {}

        rows = []
        for name, maker in (("client_secret_basic (bcrypt cost %d)" % args.cost, basic_request),
                            ("private_key_jwt (RS256)", jwt_request)):
            run_scenario(port, maker, 1, 1)  # warm-up
            result = run_scenario(port, maker, args.seconds, args.concurrency)
            rows.append((name, result))
        print(f"\nToken endpoint, 1 gunicorn sync worker, concurrency {args.concurrency}, {args.seconds:.0f} s each\n")
        print("| scenario | tokens/s | p50 ms | p99 ms | requests | failures |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, r in rows:
            print(f"| {name} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['requests']} | {r['failures']} |")
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(timeout=15)


if __name__ == "__main__":
    main()
