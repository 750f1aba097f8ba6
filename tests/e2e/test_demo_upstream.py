"""The demo upstream of `gatehouse dev` answers each request in one write: written separately,
headers then body, the body waited for a delayed ACK (44 ms a request, measured, through nginx
or straight at it over a kept-alive connection), which anyone benchmarking the dev stack saw."""
from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path

from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_answers_over_a_kept_alive_connection_take_no_delayed_ack(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gatehouse_dev.demo_upstream", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect() is None,
                   "demo upstream", 20)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        times = []
        for path in ["/public"] * 20 + ["/spa/"] * 10:
            started = time.perf_counter()
            conn.request("GET", path, headers={"Accept": "application/json" if path == "/public" else "text/html"})
            answer = conn.getresponse()
            body = answer.read()
            times.append(time.perf_counter() - started)
            assert answer.status == 200 and body and not answer.will_close
        times.sort()
        assert times[len(times) // 2] < 0.015, f"median {times[len(times) // 2] * 1000:.1f} ms"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
