"""The /auth group under gunicorn-gevent vs under uWSGI, side by side in one run (README
"The /auth group under uWSGI (opt-in)"). Bounded: `gatehouse dev` (its /auth group: gunicorn
gevent, one worker per core) plus a `gatehouse serve-check` group (uWSGI, one process per core) on
the same configuration, stores and upstream, each behind its own nginx with the shipped config
(http vs `--check-protocol uwsgi`); wrk sends an allowed client-JWT request (the same token) through
each nginx, interleaved, SECONDS per layout at c=1 and c=32.

    .venv/bin/python bench/uwsgi_check.py [--seconds 10] [--var /tmp/gatehouse-uwsgi-bench]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatehouse_dev.runner import _http_ok, _wait, nginx_binary  # noqa: E402
from app.nginx_config import render  # noqa: E402

BIN = Path(sys.executable).parent
PORTS = {"main": 23000, "check": 23001, "nginx": 28080, "upstream": 29000, "provider": 29400, "redis": 26380,
         "mongo": 27218, "uwsgi_http": 23101, "uwsgi_socket": 23102, "nginx_gunicorn": 28081, "nginx_uwsgi": 28082,
         "static": 29001}
STATIC_UPSTREAM = """pid @RUNTIME@/nginx.pid; error_log @RUNTIME@/error.log; worker_processes 1;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path @RUNTIME@/body; proxy_temp_path @RUNTIME@/proxy;
  fastcgi_temp_path @RUNTIME@/fastcgi; uwsgi_temp_path @RUNTIME@/uwsgi; scgi_temp_path @RUNTIME@/scgi;
  server { listen 127.0.0.1:@PORT@; location / { return 200 "ok"; } } }
"""


def post(url: str, body: bytes, headers: dict[str, str]) -> dict:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def wrk(url: str, token: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t", "1" if connections == 1 else "2", "-c", str(connections), "-d", f"{seconds}s",
                          "--latency", "-H", f"Authorization: Bearer {token}", "-H", "Accept: application/json", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return {"rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "non_2xx": int(bad[1]) if bad else 0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--var", default="/tmp/gatehouse-uwsgi-bench")
    args = parser.parse_args()
    var = Path(args.var)
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        dev = subprocess.Popen([str(BIN / "gatehouse"), "dev", "--var-dir", str(var), "--port", str(PORTS["main"]),
                                "--check-port", str(PORTS["check"]), "--nginx-port", str(PORTS["nginx"]),
                                "--upstream-port", str(PORTS["upstream"]), "--provider-port", str(PORTS["provider"]),
                                "--redis-port", str(PORTS["redis"]), "--mongo-port", str(PORTS["mongo"])],
                               cwd=ROOT, stdout=open(var / "dev.out", "wb"), stderr=subprocess.STDOUT)
        procs.append(dev)
        _wait(lambda: _http_ok(f"http://127.0.0.1:{PORTS['nginx']}/public"), "gatehouse dev", 120,
              alive=lambda: dev.poll() is None)
        env = {**os.environ, "GATEHOUSE_CONFIG": str(var / "gatehouse.yaml"), "HTTP_PORT": str(PORTS["uwsgi_http"]),
               "DELAY_SHUTDOWN_SECONDS": "0", "PROMETHEUS_MULTIPROC_DIR": str(var / "metrics-uwsgi")}
        env.pop("GUNICORN_WORKERS", None)
        uwsgi = subprocess.Popen([str(BIN / "gatehouse"), "serve-check", "--socket",
                                  f"127.0.0.1:{PORTS['uwsgi_socket']}"], cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=open(var / "uwsgi-check.log", "wb"))
        procs.append(uwsgi)
        _wait(lambda: _http_ok(f"http://127.0.0.1:{PORTS['uwsgi_http']}/-/ready"), "serve-check", 60,
              alive=lambda: uwsgi.poll() is None)
        directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")

        def start_nginx(name: str, text: str, probe: str) -> None:
            runtime = var / name
            runtime.mkdir()
            (runtime / "nginx.conf").write_text(text.replace("@RUNTIME@", str(runtime)))
            proc = subprocess.Popen([nginx_binary() or "nginx", "-c", str(runtime / "nginx.conf"), "-p",
                                     str(runtime), "-g", directives],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(proc)
            _wait(lambda: _http_ok(probe), name, 20, alive=lambda: proc.poll() is None)

        # The protected upstream: nginx answering 200 itself, so the rows measure the check.
        start_nginx("upstream", STATIC_UPSTREAM.replace("@PORT@", str(PORTS["static"])),
                    f"http://127.0.0.1:{PORTS['static']}/")
        for name, port, check, protocol in (("nginx-gunicorn", PORTS["nginx_gunicorn"], PORTS["check"], "http"),
                                            ("nginx-uwsgi", PORTS["nginx_uwsgi"], PORTS["uwsgi_socket"], "uwsgi")):
            start_nginx(name, render(f"127.0.0.1:{port}", f"127.0.0.1:{PORTS['main']}",
                                     f"127.0.0.1:{PORTS['static']}", var, gatehouse_check=f"127.0.0.1:{check}",
                                     check_protocol=protocol).replace(str(var.resolve()), "@RUNTIME@"),
                        f"http://127.0.0.1:{port}/public")

        base = f"http://127.0.0.1:{PORTS['main']}"
        admin = (var / "admin-token").read_text().strip()
        reg = post(f"{base}/register", json.dumps({"client_name": "bench", "scope": "orders:read",
                                                   "permissions": ["orders"]}).encode(),
                   {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
        import base64
        basic = base64.b64encode(f"{reg['client_id']}:{reg['client_secret']}".encode()).decode()
        token = post(f"{base}/oauth/token", b"grant_type=client_credentials",
                     {"Authorization": f"Basic {basic}",
                      "Content-Type": "application/x-www-form-urlencoded"})["access_token"]
        sites = {"gunicorn gevent": f"http://127.0.0.1:{PORTS['nginx_gunicorn']}/orders/42",
                 "uWSGI (uwsgi_pass)": f"http://127.0.0.1:{PORTS['nginx_uwsgi']}/orders/42"}
        for url in sites.values():
            wrk(url, token, 2, 8)  # warm-up
        results: dict[str, dict[int, dict[str, float]]] = {name: {} for name in sites}
        for connections in (1, 32):
            for name, url in sites.items():  # interleaved: one layout after the other at each load
                results[name][connections] = wrk(url, token, args.seconds, connections)
        cores = os.cpu_count()
        print(f"\n/auth through nginx, allowed client JWT, {args.seconds} s per row, {cores} cores shared by "
              "nginx, both groups, Redis, the MongoDB-wire server and wrk; one run\n")
        print("| /auth group | c=1 checks/s | c=1 p50 | c=32 checks/s | c=32 p99 | non-2xx |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, rows in results.items():
            one, many = rows[1], rows[32]
            print(f"| {name} | {one['rps']:,.0f} | {one['p50_ms'] * 1000:.0f} µs | {many['rps']:,.0f} | "
                  f"{many['p99_ms']:.1f} ms | {one['non_2xx'] + many['non_2xx']} |")
        (var / "results.json").write_text(json.dumps(results, indent=2))
        return 0
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
