"""A chaos run: the shipped layout on loopback under mixed load, with one component broken at a
time, and a verdict at the end.

Starts Redis, the MongoDB-wire server, the main group (gunicorn, 2 workers), the /auth group
(`gatehouse serve-check`, uWSGI, 2 workers), nginx with the shipped config (uwsgi_pass) and an echo
upstream. Load threads send, through nginx: checks with live client tokens (must be allowed with
that client's identity, or fail closed with 503), without a credential (401), on a route the
client may not use (403), with tokens whose revocation or client cut-off was acknowledged more
than --bound seconds ago (must never be allowed), client registrations, token requests and
revocations. Every --every seconds one fault, drawn at random (seeded): Redis stopped and started
empty, Redis hung (SIGSTOP, then SIGCONT), MongoDB stopped and started, one /auth worker or one
main worker SIGKILLed. At the end, with everything back: every acknowledged registration must
still get a token, every acknowledged revocation and cut-off must still be refused.

Prints wrong decisions, acknowledged writes lost, 5xx by group and status, latency by kind, and
exits 1 on any wrong decision or lost write. Every group's log lines (decisions included) are kept
in the printed work directory's stderr.log, to trace a wrong decision by its client id.

Usage: bench/chaos [--minutes 10] [--every 30] [--down 5] [--seed 1] [--threads 6] [--bound 15]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.keys import generate_private_key_pem  # noqa: E402
from app.serving.nginx_config import render
from bench.run import Stack, gunicorn, start_nginx  # noqa: E402
from tests.e2e.conftest import http  # noqa: E402
from tests.support.echo_upstream import start_echo  # noqa: E402
from tests.support.servers import MongoServer, RedisServer, children, free_port, wait_until  # noqa: E402

ROUTES = {"/orders": {"ALL": {"authorization": {"expression": "permissions.orders"}}},
          "/admin": {"ALL": {"authorization": {"expression": "groups.admin"}}}}
ADMIN_TOKEN = "chaos-admin-" + "x" * 32
FAULTS = ("redis-restart", "redis-hang", "mongo-restart", "auth-worker", "main-worker")


class Ledger:
    """What the load saw and what was acknowledged, shared by the load threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients: list[tuple[str, str]] = []  # acknowledged registrations
        self.live: list[tuple[str, str]] = []  # (client id, token) neither revoked nor cut off
        self.ended: list[tuple[str, float]] = []  # (token, when its revocation or cut-off was acknowledged)
        self.cut: set[str] = set()  # clients whose tokens were cut off
        self.wrong: list[str] = []
        self.lost: list[str] = []
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.latency: dict[str, list[float]] = defaultdict(list)

    def saw(self, kind: str, group: str, status: int, took: float) -> None:
        with self.lock:
            self.statuses[(group, status)] += 1
            self.latency[kind].append(took)


class Load:
    def __init__(self, site: str, ledger: Ledger, bound: float, seed: int) -> None:
        self.site, self.ledger, self.bound = site, ledger, bound
        self.random = random.Random(seed)
        self.session = requests.Session()

    def call(self, kind: str, group: str, method: str, path: str, **kwargs: Any) -> requests.Response | None:
        started = time.monotonic()
        try:
            answer = self.session.request(method, f"{self.site}{path}", timeout=15, **kwargs)
        except requests.RequestException:
            self.ledger.saw(kind, group, 0, time.monotonic() - started)
            return None
        self.ledger.saw(kind, group, answer.status_code, time.monotonic() - started)
        return answer

    def check(self, kind: str, path: str, token: str | None) -> requests.Response | None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.call(kind, "check", "GET", path, headers=headers)

    def token(self, client: tuple[str, str]) -> str | None:
        answer = self.call("token", "main", "POST", "/oauth/token", data={"grant_type": "client_credentials"},
                           auth=client)
        return answer.json()["access_token"] if answer is not None and answer.status_code == 200 else None

    def register(self) -> None:
        answer = self.call("register", "main", "POST", "/register", json={"client_name": "chaos",
                                                                          "permissions": ["orders"]},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        if answer is not None and answer.status_code in (200, 201):
            body = answer.json()
            with self.ledger.lock:
                self.ledger.clients.append((body["client_id"], body["client_secret"]))

    def one(self) -> None:
        ledger, pick = self.ledger, self.random.random()
        with ledger.lock:
            live = self.random.choice(ledger.live) if ledger.live else None
            due = [t for t, when in ledger.ended if time.monotonic() - when > self.bound]
            ended = self.random.choice(due) if due else None
            client = self.random.choice(ledger.clients) if ledger.clients else None
        if pick < 0.55 and live:
            answer = self.check("allowed", "/orders", live[1])
            if answer is not None and answer.status_code == 200:
                seen = answer.json().get("headers", {})
                if seen.get("miauserid") != live[0]:
                    self.wrong_decision(f"allowed as {seen.get('miauserid')!r}, not {live[0]}")
            elif answer is not None and answer.status_code != 503:
                with ledger.lock:
                    still_live = live in ledger.live
                if still_live:  # not cut off meanwhile by another thread
                    self.wrong_decision(f"a live token of {live[0]} refused with {answer.status_code}")
        elif pick < 0.65:
            answer = self.check("anonymous", "/orders", None)
            if answer is not None and answer.status_code == 200:
                self.wrong_decision("no credential allowed")
        elif pick < 0.75 and live:
            answer = self.check("forbidden", "/admin", live[1])
            if answer is not None and answer.status_code == 200:
                self.wrong_decision("a client allowed on a groups.admin route")
        elif pick < 0.85 and ended:
            answer = self.check("revoked", "/orders", ended)
            if answer is not None and answer.status_code == 200:
                self.wrong_decision("a token allowed after its acknowledged revocation")
        elif pick < 0.90:
            self.register()
        elif pick < 0.97 and client and client[0] not in ledger.cut:
            token = self.token(client)
            if token and self.random.random() < 0.3:
                answer = self.call("revoke", "main", "POST", "/oauth/revoke", data={"token": token}, auth=client)
                if answer is not None and answer.status_code == 200:
                    with ledger.lock:
                        ledger.ended.append((token, time.monotonic()))
            elif token:
                with ledger.lock:
                    if client[0] not in ledger.cut:  # a cut-off meanwhile may or may not cover it
                        ledger.live.append((client[0], token))
        elif client and client[0] not in ledger.cut and len(ledger.cut) < 20:
            # The cut-off takes effect before its answer, and one answered otherwise than 200 may
            # still have been recorded: from the call on, its client's tokens are no longer live.
            with ledger.lock:
                ledger.cut.add(client[0])
                gone = [pair for pair in ledger.live if pair[0] == client[0]]
                ledger.live = [pair for pair in ledger.live if pair[0] != client[0]]
            answer = self.call("cut-off", "main", "POST", f"/clients/{client[0]}/revoke-tokens",
                               headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            if answer is not None and answer.status_code == 200:
                now = time.monotonic()
                with ledger.lock:
                    ledger.ended += [(token, now) for _, token in gone]

    def wrong_decision(self, what: str) -> None:
        with self.ledger.lock:
            self.ledger.wrong.append(f"{time.strftime('%H:%M:%S')} {what}")


def fault(kind: str, down: float, redis_server: RedisServer, mongo: MongoServer, check: int, main: int) -> None:
    """Break one component for `down` seconds (a SIGKILLed worker is replaced by its master)."""
    if kind == "redis-restart":
        redis_server.stop()
        time.sleep(down)
        redis_server.start()
    elif kind == "redis-hang":
        assert redis_server.proc is not None
        redis_server.proc.send_signal(signal.SIGSTOP)
        time.sleep(down)
        redis_server.proc.send_signal(signal.SIGCONT)
    elif kind == "mongo-restart":
        mongo.stop()
        time.sleep(down)
        mongo.start()
    else:
        masters = children(check) if kind == "auth-worker" else [main]
        workers = sorted(w for m in masters for w in children(m))
        if workers:
            os.kill(random.choice(workers), signal.SIGKILL)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=float, default=30, help="seconds between faults")
    parser.add_argument("--down", type=float, default=5, help="seconds a stopped or hung store stays so")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=6, help="load connections through nginx")
    parser.add_argument("--bound", type=float, default=15,
                        help="seconds after an acknowledged revocation by which every worker refuses it")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="gatehouse-chaos-"))
    stack = Stack(var)
    redis_server, mongo = RedisServer(var / "redis"), MongoServer(var / "mongo")
    echo, echo_port = start_echo()
    stack.closers += [redis_server.stop, mongo.stop, echo.shutdown]
    try:
        redis_server.start()
        mongo.start()
        (var / "key.pem").write_bytes(generate_private_key_pem("rsa"))
        (var / "auth.json").write_text(json.dumps(ROUTES))
        env = {**os.environ, "MONGODB_URL": f"{mongo.url}/chaos", "REDIS_URL": redis_server.url,
               "PRIVATE_RSA_KEY_FILE_PATH": str(var / "key.pem"), "PRIVATE_RSA_KEY_ID": "chaos-1",
               "CLIENT_ID_HASH_SALT": "chaos-salt-0123456789", "JWT_ISSUER": "https://gatehouse.chaos",
               "ADMIN_TOKEN": ADMIN_TOKEN, "LOG_LEVEL": "info", "DELAY_SHUTDOWN_SECONDS": "0",
               "ROUTES_FILE": str(var / "auth.json"), "CLIENT_SECRET_HASH_COST": "4",
               "AUTH_FAILURE_LIMIT": "100000"}
        main_port, check_port, site_port = free_port(), free_port(span=2), free_port()
        main_base = gunicorn(stack, env, "wsgi:app", main_port, 2)
        launcher = stack.spawn([str(Path(sys.executable).parent / "gatehouse"), "serve-check", "--processes", "2",
                                "--socket", f"127.0.0.1:{check_port + 1}"],
                               env={**env, "HTTP_PORT": str(check_port),
                                    "PROMETHEUS_MULTIPROC_DIR": str(var / "metrics-check")}, cwd=ROOT)
        wait_until(lambda: http(f"http://127.0.0.1:{check_port}/-/ready")[0] == 200, "the /auth group", 60)
        runtime = var / "nginx-site"
        text = render(f"127.0.0.1:{site_port}", main_base.split("//")[1], f"127.0.0.1:{echo_port}", runtime,
                      gatehouse_check=f"127.0.0.1:{check_port + 1}", check_protocol="uwsgi")
        site = f"http://127.0.0.1:{site_port}"
        start_nginx(stack, "site", text, f"{site}/.well-known/jwks.json")
        main_master = stack.children[0].pid
        print(f"chaos: stack up on loopback (work dir {var}); {args.minutes} min, a fault every {args.every} s",
              flush=True)

        ledger = Ledger()
        seeder = Load(site, ledger, args.bound, args.seed)
        for _ in range(5):
            seeder.register()
        for client in list(ledger.clients):
            token = seeder.token(client)
            if token:
                ledger.live.append((client[0], token))
        stop = threading.Event()

        def run(n: int) -> None:
            load = Load(site, ledger, args.bound, args.seed * 100 + n)
            while not stop.is_set():
                load.one()

        threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(args.threads)]
        for t in threads:
            t.start()
        chooser = random.Random(args.seed)
        deadline = time.monotonic() + args.minutes * 60
        faults: Counter[str] = Counter()
        while time.monotonic() + args.every < deadline:
            time.sleep(args.every)
            kind = chooser.choice(FAULTS)
            faults[kind] += 1
            print(f"chaos: {time.strftime('%H:%M:%S')} {kind} ({sum(ledger.statuses.values())} requests so far, "
                  f"{len(ledger.wrong)} wrong)", flush=True)
            fault(kind, args.down, redis_server, mongo, launcher.pid, main_master)
        time.sleep(max(0.0, deadline - time.monotonic()))
        stop.set()
        for t in threads:
            t.join(timeout=30)

        # Everything is back: what was acknowledged must hold.
        wait_until(lambda: http(f"http://127.0.0.1:{check_port}/-/ready")[0] == 200, "the /auth group ready", 60)
        wait_until(lambda: http(f"{main_base}/-/ready")[0] == 200, "the main group ready", 60)
        time.sleep(args.bound)
        final = Load(site, ledger, args.bound, args.seed)
        for client in ledger.clients:
            if final.token(client) is None:
                ledger.lost.append(f"registration of {client[0]}")
        for token, _ in ledger.ended:
            answer = final.check("final", "/orders", token)
            if answer is None or answer.status_code != 401:
                ledger.lost.append(f"revocation answered {answer.status_code if answer is not None else 'no answer'}")
        requests_total = sum(ledger.statuses.values())
        print(f"chaos: {requests_total} requests in {args.minutes} min; faults: "
              + ", ".join(f"{k} x{v}" for k, v in sorted(faults.items())))
        print(f"chaos: acknowledged: {len(ledger.clients)} registrations, "
              f"{len(ledger.ended)} revocations and cut-off tokens ({len(ledger.cut)} clients cut off)")
        print(f"chaos: wrong decisions: {len(ledger.wrong)}; acknowledged writes lost: {len(ledger.lost)}")
        for what in (ledger.wrong + ledger.lost)[:20]:
            print(f"chaos:   {what}")
        fives = {f"{group} {status}": n for (group, status), n in sorted(ledger.statuses.items()) if status >= 500}
        closed = {f"{group} closed": n for (group, status), n in sorted(ledger.statuses.items()) if status == 0}
        print(f"chaos: 5xx and closed connections by group: {json.dumps({**fives, **closed})}")
        for kind, values in sorted(ledger.latency.items()):
            print(f"chaos: {kind:<10} n={len(values):>7}  p50={statistics.median(values) * 1000:7.1f} ms  "
                  f"p99={percentile(values, 0.99) * 1000:7.1f} ms  max={max(values) * 1000:7.1f} ms")
        return 1 if ledger.wrong or ledger.lost else 0
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
