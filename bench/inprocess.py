"""What the in-process benchmarks share: their own Redis and MongoDB-wire server, a signing key
and a routes file in a temporary directory, the environment pointing at them, and a client
with a token to present."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import MongoServer, RedisServer  # noqa: E402

PROVIDER_TOKEN_KEY = "YmVuY2gtcHJvdmlkZXItdG9rZW4ta2V5LTMyLWJ5dGU="  # 32 bytes, URL-safe base64
# A website app whose provider is never asked: sessions are opened in-process.
BENCH_APP = {"providers": {"idp": {"type": "oidc", "clientId": "bench", "clientSecret": "x",
                                   "discoveryUrl": "http://127.0.0.1:9/.well-known/openid-configuration"}},
             "redirectUrl": "https://bench.example/web-login/oauth/callback", "isWebsiteApp": True}
# The BFF, its provider never asked either: sessions are stored in-process (bff_session).
BENCH_BFF = {"provider": {"type": "oidc", "clientId": "bench-bff", "clientSecret": "x",
                          "discoveryUrl": "http://127.0.0.1:9/.well-known/openid-configuration"},
             "redirectUrl": "https://bench.example/bff/oauth/callback"}


@contextlib.contextmanager
def stores(routes: dict[str, Any], name: str, config: dict[str, Any] | None = None) -> Iterator[dict[str, str]]:
    """The environment of a Gatehouse using fresh stores and `routes` (and `config` as its
    GATEHOUSE_CONFIG file, when given); stops them after."""
    tmp = Path(tempfile.mkdtemp(prefix=f"gatehouse-{name}-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "metrics")  # before prometheus_client loads
    (tmp / "metrics").mkdir()
    redis_server, mongo_server = RedisServer(tmp / "redis"), MongoServer(tmp / "mongo")
    redis_server.start()
    mongo_server.start()
    try:
        from app.core.keys import generate_private_key_pem
        (tmp / "key.pem").write_bytes(generate_private_key_pem("rsa"))
        (tmp / "auth.json").write_text(json.dumps(routes))
        extra = {}
        if config is not None:
            (tmp / "config.json").write_text(json.dumps(config))
            extra = {"GATEHOUSE_CONFIG": str(tmp / "config.json"), "PROVIDER_TOKEN_KEY": PROVIDER_TOKEN_KEY}
        yield {**extra, "MONGODB_URL": f"{mongo_server.url}/{name}", "REDIS_URL": redis_server.url,
               "PRIVATE_RSA_KEY_FILE_PATH": str(tmp / "key.pem"), "PRIVATE_RSA_KEY_ID": "k",
               "CLIENT_ID_HASH_SALT": "x" * 20, "JWT_ISSUER": f"https://gatehouse.{name}",
               "ROUTES_FILE": str(tmp / "auth.json"), "LOG_LEVEL": "error"}
    finally:
        redis_server.stop()
        mongo_server.stop()


def client_token(app: Any, permissions: list[str]) -> str:
    """A registered client's access token, issued directly (no token endpoint round trip)."""
    from app.core.issuer.grants import client_credentials
    svc = app.extensions["gatehouse"]
    client, _ = svc.registry.register({"name": "bench", "auth_method": "client_secret_basic",
                                       "scopes": permissions, "permissions": permissions})
    return client_credentials.issue(svc.tokens.cc, svc.composition.keys, client, None, [],
                                    int(time.time())).access_token


def session_token(app: Any, groups: list[str]) -> str:
    """A Gatehouse login session JWT of the `bench` app (BENCH_APP), opened directly."""
    svc = app.extensions["gatehouse"]
    user = {"userId": "bench-user", "groups": groups, "name": "Bench User"}
    with app.app_context():  # the "token issued" line reads the request id from flask.g
        return svc.sessions.open(svc.composition.apps["bench"], "idp", user, {}).access_token


def bff_session(app: Any, groups: list[str]) -> str:
    """A BFF session's id (the `__Host-gatehouse` cookie): its token record, sealed, written
    straight into Redis as a login stores it (the same key in every Gatehouse version)."""
    import secrets
    svc = app.extensions["gatehouse"]
    sid, now = secrets.token_urlsafe(32), int(time.time())
    doc = {"v": 1, "iss": "https://idp.bench.example", "sub": "bff-user", "psid": None,
           "user": {"sub": "bff-user", "groups": groups}, "createdAt": now, "expiresAt": now + 7200,
           "atExp": now + 7200, "tokens": svc.bff.sealer.seal({"access_token": "provider-at", "refresh_token": "rt"})}
    svc.redis.set(f"gatehouse:v1:bff:{sid}", json.dumps(doc), ex=7200)
    return sid
