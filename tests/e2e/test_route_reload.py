"""Route file reload without a restart: on file change (each worker) and on SIGHUP (gunicorn
master); an invalid new file keeps the old table."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import ROOT, http
from tests.support.servers import free_port, wait_until

OPEN = {"/x": {"GET": {"authorization": {"expression": "true", "public": True}}}}
CLOSED = {"/x": {"GET": {"authorization": {"expression": "false"}}}}
BROKEN = {"/x": {"GET": {"authorization": {"expression": "groups.admin &&"}}}}


def status(base: str) -> int:
    return http(f"{base}/auth", headers={"X-Original-URI": "/x", "X-Original-Method": "GET"})[0]


def write(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc))
    stamp = time.time() + 1  # a distinct mtime even on coarse clocks
    os.utime(path, (stamp, stamp))


def start(env: dict, tmp_path: Path, routes: Path, interval: str) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
        env={**os.environ, **env, "HTTP_PORT": str(port), "GUNICORN_WORKERS": "2", "ROUTES_FILE": str(routes),
             "ROUTES_RELOAD_INTERVAL_SECONDS": interval, "LOG_LEVEL": "info",
             "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{port}")},
        stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http(f"{base}/-/ready")[0] == 200, "gunicorn", 30)
    return proc, base, log


def test_reload_on_file_change_keeps_old_table_when_invalid(env, tmp_path):
    routes = tmp_path / "auth.json"
    write(routes, OPEN)
    proc, base, log = start(env, tmp_path, routes, "0.2")
    try:
        assert status(base) == 204
        write(routes, BROKEN)
        # A worker looks at the file when a check comes (at most every 0.2 s): ask until one has.
        wait_until(lambda: status(base) == 204 and "route file refused, keeping the previous table" in log.read_text(),
                   "the refusal", 10)
        assert all(status(base) == 204 for _ in range(6)), "invalid file: old table kept"
        write(routes, CLOSED)
        wait_until(lambda: all(status(base) == 401 for _ in range(6)), "reload", 10)
        assert "route file refused, keeping the previous table" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_sighup_reload(env, tmp_path):
    routes = tmp_path / "auth.json"
    write(routes, OPEN)
    proc, base, log = start(env, tmp_path, routes, "3600")  # no polling: only SIGHUP reloads
    try:
        assert status(base) == 204
        write(routes, BROKEN)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "route file refused on SIGHUP" in log.read_text(), "the refusal on SIGHUP", 15)
        assert all(status(base) == 204 for _ in range(6)), "invalid file on SIGHUP: old table kept"
        write(routes, CLOSED)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: all(status(base) == 401 for _ in range(6)), "reload on SIGHUP", 15)
        assert proc.poll() is None, "no restart of the service"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
