"""Fixtures in flaskr's style: real Redis and MongoDB-wire servers, an app, a client, helpers."""
from __future__ import annotations

import base64
import json
import logging
import uuid
from pathlib import Path
from typing import Any, Iterator

import pymongo
import pytest
import redis
from hypothesis import HealthCheck, settings as hypothesis_settings

from app import create_app
from app.core.keys import generate_private_key_pem, public_pem
from app.observability import JsonFormatter
from app.settings import Settings, load_settings
from tests.support.servers import MongoServer, RedisServer


LEVELS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its folder's level (unit, integration, e2e), so `-m` selects by
    level as a path does."""
    root = Path(__file__).resolve().parent
    for item in items:
        path = Path(str(item.fspath)).resolve()
        parts = path.relative_to(root).parts if path.is_relative_to(root) else ()
        if parts and parts[0] in LEVELS:
            item.add_marker(getattr(pytest.mark, parts[0]))


# Property tests run on shared, loaded machines (CI, two cores): no per-example deadline and no
# health check that fails a test because generating its data was slow. What they check is
# correctness; speed lives in bench/.
hypothesis_settings.register_profile(
    "gatehouse", deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
hypothesis_settings.load_profile("gatehouse")

ADMIN_TOKEN = "admin-" + "x" * 40
ISSUER = "https://gatehouse.test"


def _running(server):
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from _running(RedisServer(tmp_path_factory.mktemp("redis")))


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    yield from _running(MongoServer(tmp_path_factory.mktemp("mongo")))


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[tuple[RedisServer, MongoServer]]:
    """A Redis and a MongoDB-wire server of the test's own, to stop, restart or wipe."""
    r, m = RedisServer(tmp_path / "redis"), MongoServer(tmp_path / "mongo")
    r.start()
    m.start()
    yield r, m
    r.stop()
    m.stop()


@pytest.fixture(scope="session")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Signing keys: an RSA key (active), an EC key, and a retired RSA key."""
    folder = tmp_path_factory.mktemp("keys")
    files = {}
    for name, kind in (("rsa", "rsa"), ("ec", "ec"), ("old", "rsa")):
        pem = generate_private_key_pem(kind)
        (folder / f"{name}.pem").write_bytes(pem)
        (folder / f"{name}.pub").write_bytes(public_pem(pem))
        files[name] = folder / f"{name}.pem"
        files[f"{name}.pub"] = folder / f"{name}.pub"
    return files


@pytest.fixture
def env(redis_server: RedisServer, mongo_server: MongoServer, key_files: dict[str, Path]) -> dict[str, str]:
    """Environment for one test: its own MongoDB database, an empty Redis."""
    return fresh_env(redis_server, mongo_server, key_files)


def fresh_env(redis_server: RedisServer, mongo_server: MongoServer, key_files: dict[str, Path]) -> dict[str, str]:
    """Gatehouse's environment on a MongoDB database of its own and an emptied Redis (for the
    `env` fixture and for servers a whole module shares)."""
    redis.Redis.from_url(redis_server.url).flushdb()
    return {
        "MONGODB_URL": f"{mongo_server.url}/t{uuid.uuid4().hex[:12]}",
        "REDIS_URL": redis_server.url,
        "PRIVATE_RSA_KEY_FILE_PATH": str(key_files["rsa"]),
        "PRIVATE_RSA_KEY_ID": "test-rsa",
        "CLIENT_ID_HASH_SALT": "salt-" + "s" * 20,
        "CLIENT_SECRET_HASH_COST": "4",
        "MIA_JWT_ISSUER": ISSUER,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "DELAY_SHUTDOWN_SECONDS": "0",
        "LOG_LEVEL": "error",
        "MONGODB_TIMEOUT_MS": "500",
        "REDIS_TIMEOUT_SECONDS": "0.5",
        # /auth asks Redis about revocations on every request here, so tests can assert the
        # effect at once; tests/integration/test_revocation_feed.py covers the mirrored default.
        "REVOCATION_SYNC_SECONDS": "0",
        # Every token request checks the client anew (tests disable clients and rotate secrets);
        # tests/unit/test_recent_clients.py covers the cache.
        "CLIENT_CACHE_SECONDS": "0",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app) -> pymongo.database.Database:
    return app.extensions["gatehouse"].mongo


@pytest.fixture
def rdb(app) -> redis.Redis:
    return app.extensions["gatehouse"].redis


def store_state(redis_client: redis.Redis, mongo_db: pymongo.database.Database) -> tuple[int, str]:
    """Redis's write counter (nothing is saved, so it only grows) and a digest of every MongoDB
    document: equal before and after, nothing was written."""
    import hashlib
    changes = int(redis_client.info("persistence")["rdb_changes_since_last_save"])
    digest = hashlib.sha256()
    for name in sorted(mongo_db.list_collection_names()):
        for doc in mongo_db[name].find().sort("_id"):
            digest.update(name.encode() + repr(sorted(doc.items())).encode())
    return changes, digest.hexdigest()


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Api:
    """Helpers over the test client: register clients, get tokens."""

    def __init__(self, client) -> None:
        self.client = client

    def register(self, **meta: Any) -> dict[str, Any]:
        body = {"client_name": "svc", "scope": "orders:read orders:write", **meta}
        response = self.client.post("/register", json=body, headers=ADMIN)
        assert response.status_code == 201, response.json
        return response.json

    def token(self, client_id: str, secret: str, **form: str) -> dict[str, Any]:
        response = self.client.post("/oauth/token", data={"grant_type": "client_credentials", **form},
                                    headers=basic(client_id, secret))
        assert response.status_code == 200, response.json
        return response.json


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture(scope="session")
def dev_provider(tmp_path_factory: pytest.TempPathFactory):
    """The development OIDC provider (oidc-provider-mock) as a real HTTP server."""
    from tests.support.providers import DevProvider
    yield from _running(DevProvider(tmp_path_factory.mktemp("provider")))


@pytest.fixture
def local_provider():
    from tests.support.providers import LocalProvider
    provider = LocalProvider()
    yield provider
    provider.close()


PROVIDER_TOKEN_KEY = "dGVzdC1wcm92aWRlci10b2tlbi1rZXktMzItYnl0ZXM="  # 32 bytes, URL-safe base64


def login_app(provider_url: str, callback: str = "http://127.0.0.1/web-login/oauth/callback",
              **extra: Any) -> dict[str, Any]:
    """One website app with one OIDC provider found by discovery."""
    provider = {"type": "oidc", "clientId": "gatehouse-web", "clientSecret": "web-secret",
                "discoveryUrl": f"{provider_url}/.well-known/openid-configuration", "label": "Dev IdP"}
    provider.update(extra.pop("provider", {}))
    return {"providers": {"dev": provider}, "redirectUrl": callback, "realm": "demo",
            "defaultGroups": ["users"], "isWebsiteApp": True,
            "allowedRedirectUrlsOnSuccessfulLogin": ["https://app.example.test/home"],
            "cookie": {"secure": False}, **extra}


def with_apps(env: dict[str, str], tmp_path: Path, apps: dict[str, Any], **settings: Any) -> dict[str, str]:
    """env plus a config file holding `apps` (a config-file-only setting)."""
    import json
    path = tmp_path / f"gatehouse-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"apps": apps, **settings}))
    return {**env, "GATEHOUSE_CONFIG": str(path), "PROVIDER_TOKEN_KEY": PROVIDER_TOKEN_KEY}


def login_site(env: dict[str, str], tmp_path: Path, provider_url: str, routes: dict[str, Any]) -> Any:
    """An app with browser login at one OIDC provider (`login_app`) and the given route file."""
    import json

    from app import create_app
    from app.settings import load_settings
    path = tmp_path / f"auth-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(routes))
    return create_app(load_settings({**with_apps(env, tmp_path, {"web": login_app(provider_url)}),
                                     "ROUTES_FILE": str(path)}))


class LogLines(logging.Handler):
    """The JSON lines Gatehouse writes to stderr, parsed back."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def docs(self, logger: str) -> list[dict[str, Any]]:
        return [d for d in map(json.loads, self.lines) if d["logger"] == logger]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """Every line of the `gatehouse` loggers during the test."""
    handler = LogLines()
    root = logging.getLogger("gatehouse")
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
