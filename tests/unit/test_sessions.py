"""SessionService with in-memory ports and a hand-driven clock: rotation, reuse, the
concurrent-refresh grace, the fixed end of a session, revocation."""
from __future__ import annotations

import time

import pytest

from app.core import tokens
from app.core.errors import InvalidToken, Unauthenticated
from app.core.limits import MAX_GROUPS, IdentityTooLarge
from app.core.keys import KeySet, generate_private_key_pem, load_private_key
from app.core.sealing import Sealer, new_key
from app.core.revocation import Revocations
from app.core.login.sessions import SESSION, SESSION_JWT_BUDGET, AppConfig, SessionService
from tests.support.fakes import (MemoryDocuments, MemoryRevocationFeed, MemoryRevocationStore, MemorySessionLog,
                         MemoryUsers)

KEYS = KeySet(load_private_key(generate_private_key_pem("ec"), None, "k1"))
APP = AppConfig(id="web", providers={}, redirect_url="https://app.test/web-login/oauth/callback",
                issuer="https://gatehouse.test", session_expires_in=600, refresh_expires_in=3600)


class Clock:
    def __init__(self) -> None:
        # Starts at the wall clock: the JWT checks compare exp and iat with it (a session JWT
        # "issued" a month ahead is refused as iat in the future).
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world():
    clock = Clock()
    users, log, store = MemoryUsers(), MemorySessionLog(), MemoryDocuments(clock)
    revocations = Revocations(MemoryRevocationStore(), MemoryRevocationFeed(clock), clock)
    service = SessionService({"web": APP}, KEYS, store, log, users, Sealer(new_key().encode()), revocations,
                             clock=clock)
    user = users.merge_login("", "dev", {"providerUserId": "alice", "email": "a@x"}, ["users"], int(clock.now))
    return service, clock, users, log, user


def test_rotation_and_reuse_after_the_grace_ends_the_session(world):
    service, clock, _, log, user = world
    first = service.open(APP, "dev", user, {"id_token": "x"})
    second = service.refresh(first.refresh_token)
    assert second.sid == first.sid and second.refresh_token != first.refresh_token
    clock.now += 5
    with pytest.raises(Unauthenticated, match="already used"):  # within the grace: session kept
        service.refresh(first.refresh_token)
    assert log.active_sids(user["userId"]) == [first.sid]
    clock.now += 30
    with pytest.raises(Unauthenticated, match="session has been ended"):
        service.refresh(first.refresh_token)
    assert log.active_sids(user["userId"]) == []
    with pytest.raises(Unauthenticated):
        service.refresh(second.refresh_token)


def test_a_session_ends_at_a_fixed_time(world):
    service, clock, _, _, user = world
    issued = service.open(APP, "dev", user, {})
    for _ in range(3):
        clock.now += 1000
        issued = service.refresh(issued.refresh_token)
    clock.now += 700  # 3700 s after the login: past refresh_expires_in
    with pytest.raises(Unauthenticated):
        service.refresh(issued.refresh_token)


def test_refresh_reads_groups_again_and_revocation_counts_open_sessions(world):
    service, clock, users, _, user = world
    a = service.open(APP, "dev", user, {})
    service.open(APP, "dev", user, {})
    users.docs[0]["groups"] = ["admin"]
    refreshed = service.refresh(a.refresh_token)
    assert tokens.unverified_claims(refreshed.access_token)["groups"] == ["admin"]
    assert service.verify(refreshed.access_token)["user"]["groups"] == ["admin"]
    assert service.revoke_user(user["userId"]) == 2
    assert service.revoke_user(user["userId"]) == 0
    with pytest.raises(InvalidToken, match="ended"):
        service.verify(refreshed.access_token)


def test_provider_tokens_are_sealed(world):
    service, _, _, _, user = world
    issued = service.open(APP, "dev", user, {"id_token": "provider-id-token"})
    record = service.store.get("session", issued.sid)
    assert "provider-id-token" not in str(record)
    assert service.provider_tokens(record) == {"id_token": "provider-id-token"}
    other = Sealer(new_key().encode())
    assert other.open(record["provider"]) is None


def test_the_groups_travel_once_in_a_small_session_jwt(world):
    service, _, _, _, user = world
    issued = service.open(APP, "dev", user, {})
    claims = tokens.unverified_claims(issued.access_token)
    assert claims["groups"] == ["users"] and "groups" not in claims["user"]
    assert claims["user"]["email"] == "a@x"
    assert service.verify(issued.access_token)["user"] == {"userId": user["userId"], "email": "a@x",
                                                           "groups": ["users"]}


def big_user(users, clock, groups: int = 200, name: str = "Zoë Łukasiewicz 渡辺 " * 20):
    user = users.merge_login("", "dev", {"providerUserId": "zoe", "email": "zoe@x", "name": name}, [],
                             int(clock.now))
    stored = next(d for d in users.docs if d["userId"] == user["userId"])
    stored["groups"] = [f"grp_{i:03d}_" + "x" * 32 for i in range(groups)]
    return {**user, "groups": stored["groups"]}


@pytest.mark.parametrize("groups, name", [(200, "Zoë"), (0, "渡辺 Ōtsuka Дмитриевна " * 45),
                                          (MAX_GROUPS, "Z")])
def test_a_large_identity_stays_in_the_session_record(world, groups, name):
    """Past the budget the JWT names its session; verify answers the whole user from the record."""
    service, clock, users, _, _ = world
    user = big_user(users, clock, groups, name)
    issued = service.open(APP, "dev", user, {})
    assert len(issued.access_token) <= SESSION_JWT_BUDGET
    claims = tokens.unverified_claims(issued.access_token)
    assert "groups" not in claims and "user" not in claims and claims["user_in"] == "session"
    verified = service.verify(issued.access_token)
    assert verified["user"]["groups"] == user["groups"] and verified["user"]["name"] == name
    refreshed = service.refresh(issued.refresh_token)
    assert len(refreshed.access_token) <= SESSION_JWT_BUDGET
    assert service.verify(refreshed.access_token)["user"]["groups"] == user["groups"]


def test_a_session_jwt_whose_record_holds_no_user_is_refused(world):
    """Never decided as a user without groups: a record gone or without its user is a refusal."""
    service, clock, users, _, _ = world
    issued = service.open(APP, "dev", big_user(users, clock), {})
    record = service.store.get(SESSION, issued.sid)
    service.store.put(SESSION, issued.sid, {k: v for k, v in record.items() if k != "user"}, 3600)
    with pytest.raises(InvalidToken, match="holds no user"):
        service.verify(issued.access_token)
    service.store.delete(SESSION, [issued.sid])
    with pytest.raises(InvalidToken, match="ended or never existed"):
        service.verify(issued.access_token)


def test_a_jwt_signed_before_the_groups_travelled_once_still_verifies(world):
    """Session JWTs issued by an earlier version carry the groups inside `user` too."""
    service, clock, _, _, user = world
    issued = service.open(APP, "dev", user, {})
    claims = tokens.unverified_claims(issued.access_token)
    old = tokens.sign(KEYS, {**claims, "user": {**claims["user"], "groups": ["users"]}}, typ="JWT")
    assert service.verify(old)["user"]["groups"] == ["users"]


def test_a_user_past_the_group_limit_gets_no_session(world):
    service, clock, users, log, _ = world
    user = big_user(users, clock, MAX_GROUPS + 1)
    with pytest.raises(IdentityTooLarge, match=f"at most {MAX_GROUPS} groups per user"):
        service.open(APP, "dev", user, {})
    assert log.active_sids(user["userId"]) == []
