"""Where /auth's time goes inside one worker: calls the /auth edge in-process (no HTTP, no
nginx) with the WSGI environ nginx's check subrequest produces (the shipped check headers), for
an allowed check with a Gatehouse client-credentials JWT (bearer) and with a session JWT (the
`sid` cookie), each verified once and then served from the worker's verified-token cache, with
and without the `X-Request-Id` nginx sets from `$request_id`; and with a BFF session (the
`__Host-gatehouse` cookie) and an API key (the `client-key` header, no user). Each figure is the CPU time this
process spent per call (time.process_time: on a shared machine, time spent waiting for a core
is not the check's; `--clock wall` counts elapsed time instead, which includes waiting for
Redis), the median and the minimum over rounds that interleave the scenarios,
beside the same loop calling a bare WSGI callable (what the harness itself costs).
Then the top of a cProfile per scenario, per check. Starts its own Redis and MongoDB-wire
server; Prometheus in multi-process mode, DECISION_LOG at its default, as a worker runs.

  .venv/bin/python bench/profile_auth.py [--calls 3000] [--rounds 7] [--profile 3000]

Before/after in one run: `--baseline DIR` runs the same scenarios against the Gatehouse tree in
DIR (e.g. `git archive main | tar -x -C DIR`) and against this tree, in two worker processes
with their own stores, rounds alternating between them, and prints both columns.

  .venv/bin/python bench/profile_auth.py --baseline /tmp/gatehouse-main [--calls 3000] [--rounds 7]
"""
from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

from inprocess import BENCH_APP, BENCH_BFF, ROOT, bff_session, client_token, session_token, stores

ROUTES = {"/c/": {"ALL": {"authorization": {"expression": "permissions.orders"}}},
          "/s/": {"ALL": {"authorization": {"expression": "groups.admin"}}},
          "/b/": {"ALL": {"authorization": {"expression": "groups.admin"}}},
          "/k/": {"ALL": {"authorization": {"expression": "clientType == \"bench\"", "public": True}}}}
API_KEY = "bench-api-key-0123456789abcdef"
CONFIG = {"apps": {"bench": BENCH_APP}, "bff": BENCH_BFF,
          "api_keys": [{"sha256": hashlib.sha256(API_KEY.encode()).hexdigest(), "clientType": "bench"}]}
REQUEST_ID = "5a3c0e1f9b2d4c6e8f0a1b2c3d4e5f60"  # nginx $request_id: 32 hex digits
SCENARIOS = ("client JWT", "client JWT + nginx request id", "session JWT", "session JWT + nginx request id",
             "BFF session + nginx request id", "API key + nginx request id")
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
HARNESS = "bare WSGI callable (harness)"


def nginx_environ(uri: str, credential: dict[str, str], request_id: bool) -> dict[str, Any]:
    """What a gunicorn worker receives for nginx's check subrequest (gatehouse-check-headers.conf):
    the original request in X-Original-*, the client's own headers, no body."""
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/auth", "QUERY_STRING": "",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "3001", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "wsgi.url_scheme": "http",
               "HTTP_HOST": "gatehouse_check", "HTTP_X_ORIGINAL_URI": uri, "HTTP_X_ORIGINAL_METHOD": "GET",
               "HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_FORWARDED_PROTO": "https",
               "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64)", "HTTP_ACCEPT": "*/*", **credential}
    if request_id:
        environ["HTTP_X_REQUEST_ID"] = REQUEST_ID
    return environ


def bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("204 No Content", [])
    return [b""]


class Worker:
    """One Gatehouse app with its credentials and the environs of the scenarios."""

    def __init__(self, env: dict[str, str], clock: str = "cpu") -> None:
        from app import create_app
        from app.settings import load_settings
        self.app = create_app(load_settings(env))
        self.module = sys.modules["app"].__file__
        client = {"HTTP_AUTHORIZATION": f"Bearer {client_token(self.app, ['orders'])}"}
        session = {"HTTP_COOKIE": f"sid={session_token(self.app, ['admin'])}"}
        bff = {"HTTP_COOKIE": f"__Host-gatehouse={bff_session(self.app, ['admin'])}"}
        self.clock = CLOCKS[clock]
        self.environs = {
            SCENARIOS[0]: nginx_environ("/c/x?page=2", client, False),
            SCENARIOS[1]: nginx_environ("/c/x?page=2", client, True),
            SCENARIOS[2]: nginx_environ("/s/x?page=2", session, False),
            SCENARIOS[3]: nginx_environ("/s/x?page=2", session, True),
            SCENARIOS[4]: nginx_environ("/b/x?page=2", bff, True),
            SCENARIOS[5]: nginx_environ("/k/x?page=2", {"HTTP_CLIENT_KEY": API_KEY}, True),
        }
        for name, environ in self.environs.items():  # right answers first; verifies each token once
            got: list[tuple[str, list[tuple[str, str]]]] = []
            self.app.wsgi_app(dict(environ), lambda status, headers: got.append((status, headers)))
            assert got[0][0].startswith("204"), (name, got)
            request_ids = [v for k, v in got[0][1] if k == "X-Request-Id"]
            assert len(request_ids) == 1 and (request_ids[0] == REQUEST_ID) == ("HTTP_X_REQUEST_ID" in environ)

    def round(self, calls: int) -> dict[str, float]:
        """CPU microseconds per call of each scenario, and of the harness."""
        result = {}
        for name, environ in [*self.environs.items(), (HARNESS, self.environs[SCENARIOS[0]])]:
            call = bare if name == HARNESS else self.app.wsgi_app
            started = self.clock()
            for _ in range(calls):
                call(dict(environ), lambda status, headers: None)
            result[name] = (self.clock() - started) / calls * 1e6
        return result

    def profile(self, calls: int, top: int) -> None:
        """The largest items of a cProfile of each scenario, in microseconds per check (the
        profiler's own overhead inflates them, small functions most)."""
        edge = self.app.wsgi_app
        for name, environ in self.environs.items():
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(calls):
                edge(dict(environ), lambda status, headers: None)
            profile.disable()
            stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
            rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
            print(f"\n## {name}: top {top} by own time, per check (cProfile, {calls} calls)\n")
            print("| function | calls | own us | cumulative us |")
            print("|---|---:|---:|---:|")
            for (path, line, func), (_, ncalls, own, cumulative, _) in rows:
                where = path.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
                print(f"| `{func}` {where}:{line} | {ncalls / calls:g} | {own / calls * 1e6:.2f} "
                      f"| {cumulative / calls * 1e6:.2f} |")


def medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}


def minima(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The least disturbed round of each scenario (what a neighbour's load added least to)."""
    return {name: min(r[name] for r in rounds) for name in rounds[0]}


def serve(root: str, clock: str) -> None:
    """Worker process of --baseline: the app from `root`; one line of JSON per `round N` line."""
    sys.path.insert(0, root)  # before `app` is first imported
    with stores(ROUTES, "profile", CONFIG) as env:
        worker = Worker(env, clock)
        print(json.dumps({"app": worker.module}), flush=True)
        for command in sys.stdin:
            print(json.dumps(worker.round(int(command.split()[1]))), flush=True)


def compare(baseline: str, calls: int, rounds: int, clock: str) -> None:
    workers = {}
    for label, root in (("before", baseline), ("after", str(ROOT))):
        workers[label] = subprocess.Popen([sys.executable, __file__, "--serve", root, "--clock", clock],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for label, proc in workers.items():
            assert proc.stdout is not None
            print(f"{label}: {json.loads(proc.stdout.readline())['app']}", flush=True)
        results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for i in range(rounds):
            order = ("before", "after") if i % 2 == 0 else ("after", "before")
            for label in order:
                proc = workers[label]
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(f"round {calls}\n")
                proc.stdin.flush()
                results[label].append(json.loads(proc.stdout.readline()))
        before, after = medians(results["before"]), medians(results["after"])
        low_before, low_after = minima(results["before"]), minima(results["after"])
        print(f"\n# /auth in one worker: {rounds} alternating rounds of {calls} calls, {clock.upper()} us per call\n")
        print("| scenario | before median | after median | change | before min | after min | change |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name in before:
            change = 100 * (after[name] - before[name]) / before[name]
            low_change = 100 * (low_after[name] - low_before[name]) / low_before[name]
            print(f"| {name} | {before[name]:.1f} | {after[name]:.1f} | {change:+.0f}% "
                  f"| {low_before[name]:.1f} | {low_after[name]:.1f} | {low_change:+.0f}% |")
    finally:
        for proc in workers.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", type=int, default=3000, help="calls profiled per scenario (0: none)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--baseline", help="another Gatehouse tree to compare with, rounds interleaved")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: this process's CPU time; wall: elapsed time (waits for Redis included)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.clock)
    elif args.baseline:
        compare(args.baseline, args.calls, args.rounds, args.clock)
    else:
        with stores(ROUTES, "profile", CONFIG) as env:
            worker = Worker(env, args.clock)
            rounds = [worker.round(args.calls) for _ in range(args.rounds)]
            result, low = medians(rounds), minima(rounds)
            print(f"# /auth in one worker: {args.rounds} rounds of {args.calls} calls, {args.clock.upper()} us per call\n")
            print("| scenario | median | min |")
            print("|---|---:|---:|")
            for name, value in result.items():
                print(f"| {name} | {value:.1f} | {low[name]:.1f} |")
            if args.profile:
                worker.profile(args.profile, args.top)


if __name__ == "__main__":
    main()
