"""Where /auth's time goes inside one worker: calls the lean /auth path in-process (no HTTP, no
nginx) with a prepared WSGI environ, for a Gatehouse client-credentials JWT and a session JWT,
and prints microseconds per call and the top of a cProfile. Starts its own Redis and
MongoDB-wire server. Usage: .venv/bin/python bench/profile_auth.py [--calls 5000]"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import MongoServer, RedisServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-profile-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "metrics")
    (tmp / "metrics").mkdir()
    redis_server, mongo_server = RedisServer(tmp / "redis"), MongoServer(tmp / "mongo")
    redis_server.start()
    mongo_server.start()
    try:
        from app import create_app
        from app.core.grants import client_credentials
        from app.core.keys import generate_private_key_pem
        from app.settings import load_settings
        (tmp / "key.pem").write_bytes(generate_private_key_pem("rsa"))
        (tmp / "auth.json").write_text(json.dumps({"/c/": {"ALL": {"authorization": {"expression": "permissions.orders"}}}}))
        env = {"MONGODB_URL": f"{mongo_server.url}/profile", "REDIS_URL": redis_server.url,
               "PRIVATE_RSA_KEY_FILE_PATH": str(tmp / "key.pem"), "PRIVATE_RSA_KEY_ID": "k",
               "CLIENT_ID_HASH_SALT": "x" * 20, "JWT_ISSUER": "https://gatehouse.profile",
               "ROUTES_FILE": str(tmp / "auth.json"), "LOG_LEVEL": "error"}
        for label, extra in (("revocations mirrored (default)", {}),
                             ("revocation asked of Redis per request", {"REVOCATION_SYNC_SECONDS": "0"})):
            app = create_app(load_settings({**env, **extra}))
            svc = app.extensions["gatehouse"]
            client, _ = svc.registry.register({"name": "p", "auth_method": "client_secret_basic",
                                               "scopes": ["orders"], "permissions": ["orders"]})
            token = client_credentials.issue(svc.tokens.cc, svc.settings.keys, client, None, [], int(time.time()))
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/auth", "HTTP_X_ORIGINAL_URI": "/c/x",
                       "HTTP_X_ORIGINAL_METHOD": "GET", "HTTP_AUTHORIZATION": f"Bearer {token.access_token}"}
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
    finally:
        redis_server.stop()
        mongo_server.stop()


if __name__ == "__main__":
    main()
