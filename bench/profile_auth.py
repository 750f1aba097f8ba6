"""Where /auth's time goes inside one worker: calls the lean /auth path in-process (no HTTP, no
nginx) with a prepared WSGI environ, for a Gatehouse client-credentials JWT and a session JWT,
and prints microseconds per call and the top of a cProfile. Starts its own Redis and
MongoDB-wire server. Usage: .venv/bin/python bench/profile_auth.py [--calls 5000]"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from inprocess import client_token, stores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    with stores({"/c/": {"ALL": {"authorization": {"expression": "permissions.orders"}}}}, "profile") as env:
        from app import create_app
        from app.settings import load_settings
        for label, extra in (("revocations mirrored (default)", {}),
                             ("revocation asked of Redis per request", {"REVOCATION_SYNC_SECONDS": "0"})):
            app = create_app(load_settings({**env, **extra}))
            token = client_token(app, ["orders"])
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/auth", "HTTP_X_ORIGINAL_URI": "/c/x",
                       "HTTP_X_ORIGINAL_METHOD": "GET", "HTTP_AUTHORIZATION": f"Bearer {token}"}
            statuses: list[str] = []
            lean = app.wsgi_app
            lean(dict(environ), lambda status, headers: statuses.append(status))
            assert statuses[-1].startswith("204"), statuses
            started = time.perf_counter()
            for _ in range(args.calls):
                lean(dict(environ), lambda status, headers: None)
            per_call = (time.perf_counter() - started) / args.calls * 1e6
            print(f"\n/auth, client-credentials JWT, {label}: {per_call:.1f} us per call")
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(min(args.calls, 3000)):
                lean(dict(environ), lambda status, headers: None)
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
