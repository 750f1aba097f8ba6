"""BFF session use and refresh (app/core/login/bff.py) on in-memory ports with a driven clock: the
margin, one refresh per session under concurrency, waiting for and taking over a refresh,
rotation, refusal and outage."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app.core.login.bff import BffConfig, BffService
from app.core.errors import DependencyUnavailable
from app.core.login.providers import Endpoints, ProviderConfig
from app.core.sealing import Sealer, new_key
from tests.support.fakes import MemoryBffTokens, MemoryDocuments, MemoryKeyValue, MemoryReplayGuard
from tests.support.clock import Clock

SID = "s" * 43
PROVIDER = ProviderConfig(id="bff", type="oidc", client_id="spa", client_secret="secret",
                          discovery_url="https://idp.example/.well-known/openid-configuration")
ENDPOINTS = Endpoints(authorize="https://idp.example/authorize", token="https://idp.example/token")


class Directory:
    def resolve(self, app_id: str, provider: ProviderConfig) -> tuple[Endpoints, Any]:
        return ENDPOINTS, None


class Provider:
    """A token endpoint that rotates refresh tokens; optionally slow, refusing or down."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[dict[str, str]] = []
        self.status = 200
        self.delay = delay
        self.live = {"rt-0"}
        self._mutex = threading.Lock()

    def get_json(self, url: str, bearer: str | None = None) -> dict[str, Any]:
        raise AssertionError("not used")

    def redeem(self, url: str, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        time.sleep(self.delay)  # a slow provider: the delay is what the test is about
        with self._mutex:
            self.calls.append(form)
            n = len(self.calls)
            if self.status != 200:
                return self.status, {"error": "invalid_grant" if self.status == 400 else "temporarily_unavailable"}
            if form["refresh_token"] not in self.live:
                return 400, {"error": "invalid_grant"}
            self.live = {f"rt-{n}"}
            return 200, {"access_token": f"at-{n}", "refresh_token": f"rt-{n}", "expires_in": 300}


def make(provider: Provider, clock: Clock | None = None, margin: int = 30, wait: float = 10.0):
    clock = clock or Clock()
    sessions = MemoryBffTokens()
    sealer = Sealer(new_key().encode())
    cfg = BffConfig(mode="bff", provider=PROVIDER, redirect_url="https://app.example/bff/oauth/callback",
                    post_logout_redirect_url="https://app.example/bff/logout/callback", refresh_margin=margin,
                    refresh_wait_seconds=wait)
    bff = BffService(cfg, Directory(), provider, MemoryDocuments(clock), sessions,  # type: ignore[arg-type]
                     MemoryReplayGuard(MemoryKeyValue(clock)), sealer, clock=clock, sleep=clock.sleep)
    now = int(clock())
    sessions.create(SID, {"v": 1, "iss": "https://idp.example", "sub": "u1", "psid": None,
                          "user": {"sub": "u1", "groups": ["g"]}, "createdAt": now, "expiresAt": now + 3600,
                          "atExp": now + 100, "tokens": sealer.seal({"access_token": "at-0", "refresh_token": "rt-0"})},
                    3600, [])
    return bff, sessions, clock


def test_outside_the_margin_no_refresh():
    provider = Provider()
    bff, _, _ = make(provider)
    active = bff.active(SID)
    assert active is not None and active.access_token == "at-0" and provider.calls == []


def test_within_the_margin_one_refresh_and_the_rotated_token_is_kept():
    provider = Provider()
    bff, sessions, clock = make(provider)
    clock.now += 80  # 20 s left, margin 30
    assert bff.active(SID).access_token == "at-1"
    assert bff.active(SID).access_token == "at-1"  # fresh now: no second call
    clock.now += 290
    assert bff.active(SID).access_token == "at-2"
    assert [c["refresh_token"] for c in provider.calls] == ["rt-0", "rt-1"]  # the rotated one was used


def test_a_refused_refresh_ends_the_session():
    provider = Provider()
    provider.status = 400
    bff, sessions, clock = make(provider)
    clock.now += 80
    assert bff.active(SID) is None and sessions.load(SID) is None


def test_provider_down_uses_a_still_valid_token_and_fails_closed_once_expired():
    provider = Provider()
    provider.status = 503
    bff, sessions, clock = make(provider)
    clock.now += 80
    assert bff.active(SID).access_token == "at-0"  # still valid for 20 s
    clock.now += 30
    with pytest.raises(DependencyUnavailable):
        bff.active(SID)
    assert sessions.load(SID) is not None  # kept for the next try


def test_while_another_refreshes_a_valid_token_is_used_without_waiting():
    provider = Provider()
    bff, sessions, clock = make(provider)
    clock.now += 80
    sessions.lock(SID, 10_000)  # another worker holds the refresh
    assert bff.active(SID).access_token == "at-0" and provider.calls == []


def test_an_expired_token_waits_for_the_holder_and_takes_over_when_it_gives_up():
    provider = Provider()
    bff, sessions, clock = make(provider, wait=5)
    clock.now += 200  # expired
    token = sessions.lock(SID, 10_000)
    released = {"done": False}

    def sleep(seconds: float) -> None:  # the holder gives up after a while, without a result
        clock.now += seconds
        if clock.now > 1_000_201 and not released["done"]:
            sessions.unlock(SID, token)
            released["done"] = True
    bff.sleep = sleep
    assert bff.active(SID).access_token == "at-1" and len(provider.calls) == 1


def test_waiting_too_long_is_a_503():
    provider = Provider()
    bff, sessions, clock = make(provider, wait=2)
    clock.now += 200
    sessions.lock(SID, 10_000)
    with pytest.raises(DependencyUnavailable):
        bff.active(SID)
    assert provider.calls == []


def test_twenty_threads_at_expiry_make_one_refresh():
    provider = Provider(delay=0.2)
    clock = Clock()
    bff, _, _ = make(provider, clock)
    clock.now += 200
    bff.sleep = lambda seconds: time.sleep(0.01)  # real waiting: the holder is a real thread
    with ThreadPoolExecutor(20) as pool:
        tokens = list(pool.map(lambda _: bff.active(SID).access_token, range(20)))
    assert tokens == ["at-1"] * 20 and len(provider.calls) == 1


def test_a_refusal_other_than_invalid_grant_keeps_the_session():
    provider = Provider()
    provider.status = 429
    bff, sessions, clock = make(provider)
    clock.now += 80
    assert bff.active(SID).access_token == "at-0" and sessions.load(SID) is not None
