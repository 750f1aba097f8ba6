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

from tests.servers import MongoServer, RedisServer  # noqa: E402


@contextlib.contextmanager
def stores(routes: dict[str, Any], name: str) -> Iterator[dict[str, str]]:
    """The environment of a Gatehouse using fresh stores and `routes`; stops them after."""
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
        yield {"MONGODB_URL": f"{mongo_server.url}/{name}", "REDIS_URL": redis_server.url,
               "PRIVATE_RSA_KEY_FILE_PATH": str(tmp / "key.pem"), "PRIVATE_RSA_KEY_ID": "k",
               "CLIENT_ID_HASH_SALT": "x" * 20, "JWT_ISSUER": f"https://gatehouse.{name}",
               "ROUTES_FILE": str(tmp / "auth.json"), "LOG_LEVEL": "error"}
    finally:
        redis_server.stop()
        mongo_server.stop()


def client_token(app: Any, permissions: list[str]) -> str:
    """A registered client's access token, issued directly (no token endpoint round trip)."""
    from app.core.grants import client_credentials
    svc = app.extensions["gatehouse"]
    client, _ = svc.registry.register({"name": "bench", "auth_method": "client_secret_basic",
                                       "scopes": permissions, "permissions": permissions})
    return client_credentials.issue(svc.tokens.cc, svc.settings.keys, client, None, [],
                                    int(time.time())).access_token
