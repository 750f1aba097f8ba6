"""What the decision log costs per /auth call, in one worker, in-process (no HTTP, no nginx):
an allowed and a refused check with a Gatehouse client-credentials JWT at DECISION_LOG=off,
refusals (the default) and all, LOG_LEVEL=info, lines written to /dev/null through the JSON
formatter. Rounds interleave the levels so a noisy neighbour hits them alike; each row is the
median over rounds. Starts its own Redis and MongoDB-wire server.
Usage: .venv/bin/python bench/decision_log.py [--calls 3000] [--rounds 7]"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

from inprocess import client_token, stores

LEVELS = ("off", "refusals", "all")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    routes = {"/c/": {"GET": {"authorization": {"expression": "permissions.orders"}},
                      "DELETE": {"authorization": {"expression": "permissions.admin"}}}}
    with stores(routes, "decision-log") as env:
        from app import create_app
        from app.settings import load_settings
        env["LOG_LEVEL"] = "info"
        apps = {level: create_app(load_settings({**env, "DECISION_LOG": level})) for level in LEVELS}
        sink = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
        for handler in logging.getLogger("gatehouse").handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sink)
        token = client_token(apps["off"], ["orders"])
        environs = {
            "allowed": {"REQUEST_METHOD": "GET", "PATH_INFO": "/auth", "HTTP_X_ORIGINAL_URI": "/c/x?q=1",
                        "HTTP_X_ORIGINAL_METHOD": "GET", "HTTP_AUTHORIZATION": f"Bearer {token}"},
            "refused (403)": {"REQUEST_METHOD": "GET", "PATH_INFO": "/auth", "HTTP_X_ORIGINAL_URI": "/c/x?q=1",
                              "HTTP_X_ORIGINAL_METHOD": "DELETE",
                              "HTTP_AUTHORIZATION": f"Bearer {token}"},
        }
        expected = {"allowed": "204", "refused (403)": "403"}
        results: dict[tuple[str, str], list[float]] = {}
        for name, environ in environs.items():
            for level in LEVELS:
                got: list[str] = []
                apps[level].wsgi_app(dict(environ), lambda status, headers: got.append(status))
                assert got[0].startswith(expected[name]), (name, level, got)
        for _ in range(args.rounds):
            for name, environ in environs.items():
                for level in LEVELS:
                    edge = apps[level].wsgi_app
                    started = time.perf_counter()
                    for _ in range(args.calls):
                        edge(dict(environ), lambda status, headers: None)
                    results.setdefault((name, level), []).append(
                        (time.perf_counter() - started) / args.calls * 1e6)
        print(f"# decision log cost: median of {args.rounds} rounds of {args.calls} calls, us per /auth call\n")
        print("| check | DECISION_LOG | us per call | vs off |")
        print("|---|---|---:|---:|")
        for name in environs:
            base = statistics.median(results[(name, "off")])
            for level in LEVELS:
                value = statistics.median(results[(name, level)])
                print(f"| {name} | {level} | {value:.1f} | {100 * (value - base) / base:+.1f}% |")


if __name__ == "__main__":
    main()
