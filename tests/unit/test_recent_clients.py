"""The token endpoint's hot path: a client that authenticated lately skips MongoDB and bcrypt,
bounded in time; a wrong secret never matches; a disabled client stops within the bound."""
from __future__ import annotations

from app.core import credentials
from app.core.issuer.client_auth import ClientAuthConfig, ClientAuthenticator, RecentClients, presented_credentials
from app.core.issuer.clients import ClientRegistry
from app.core.errors import InvalidClient
from tests.support.fakes import MemoryClients, MemoryCredentials, MemoryKeyValue, MemoryRateLimiter, MemoryReplayGuard
from tests.support.clock import Clock


class CountingCredentials(MemoryCredentials):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, client_id_hash: str) -> str | None:
        self.reads += 1
        return super().get(client_id_hash)


def world(seconds: float):
    clock = Clock()
    kv = MemoryKeyValue(clock)
    clients, secrets = MemoryClients(), CountingCredentials()
    cfg = ClientAuthConfig(issuer="https://gh.test", token_endpoint="https://gh.test/oauth/token",
                           id_hash_salt=b"salt" * 5, secret_hash_cost=4, clock_skew=10,
                           max_assertion_lifetime=300, failure_limit=100, failure_window=60)
    auth = ClientAuthenticator(cfg, clients, secrets, MemoryReplayGuard(kv), MemoryRateLimiter(kv, 60),
                               clock=clock, recent=RecentClients(seconds, clock=clock))
    registry = ClientRegistry(clients, secrets, b"salt" * 5, 4, clock=clock)
    client, secret = registry.register({"name": "c", "auth_method": "client_secret_post"})
    return clock, auth, registry, secrets, client, secret


def authenticate(auth, client_id, secret):
    creds = presented_credentials(None, {"client_id": [client_id], "client_secret": [secret]})
    return auth.authenticate(creds, "127.0.0.1")


def test_a_hot_client_skips_the_store_and_bcrypt():
    clock, auth, _, secrets, client, secret = world(10)
    assert authenticate(auth, client.client_id, secret).client_id == client.client_id
    reads = secrets.reads
    for _ in range(5):
        authenticate(auth, client.client_id, secret)
    assert secrets.reads == reads  # answered from the keyed hash
    clock.now += 11
    authenticate(auth, client.client_id, secret)
    assert secrets.reads == reads + 1  # the bound passed: checked anew


def test_a_wrong_secret_never_matches_the_cached_one():
    _, auth, _, secrets, client, secret = world(10)
    authenticate(auth, client.client_id, secret)
    for wrong in (secret + "x", secret[:-1], ""):
        try:
            authenticate(auth, client.client_id, wrong or "x")
        except InvalidClient:
            continue
        raise AssertionError("a wrong secret was accepted")


def test_the_secret_itself_is_not_kept():
    _, auth, _, _, client, secret = world(10)
    authenticate(auth, client.client_id, secret)
    kept = repr(auth.recent._entries)
    assert secret not in kept and credentials.hash_secret.__name__  # only a keyed hash is kept


def test_disabling_takes_effect_within_the_bound():
    clock, auth, registry, _, client, secret = world(10)
    authenticate(auth, client.client_id, secret)
    registry.disable(client.client_id)
    clock.now += 11
    try:
        authenticate(auth, client.client_id, secret)
    except InvalidClient as exc:
        assert "disabled" in exc.description
    else:
        raise AssertionError("a disabled client was accepted after the bound")


def test_with_the_cache_off_every_request_checks_the_secret():
    _, auth, _, secrets, client, secret = world(0)
    authenticate(auth, client.client_id, secret)
    reads = secrets.reads
    authenticate(auth, client.client_id, secret)
    assert secrets.reads == reads + 1
