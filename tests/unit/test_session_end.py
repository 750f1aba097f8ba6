"""Ending a login session is published to the workers' mirrors before anything else, so a
logout that fails half-way (MongoDB down) still stops the session's JWTs at /auth; a retried
logout with the JWT publishes again even though the record is gone."""
from __future__ import annotations

import pytest

from app.core.errors import DependencyUnavailable, InvalidToken
from app.core.keys import KeySet, generate_private_key_pem, load_private_key
from app.core.revocation import RevocationMirror, Revocations
from app.core.sealing import Sealer, new_key
from app.core.login.sessions import AppConfig, SessionService
from tests.support.fakes import (MemoryDocuments, MemoryRevocationFeed, MemoryRevocationStore, MemorySessionLog,
                         MemoryUsers)


class BrokenLog(MemorySessionLog):
    def ended(self, sids: list[str], now: int) -> None:
        raise DependencyUnavailable("MongoDB is unavailable")


def service(log: MemorySessionLog) -> tuple[SessionService, AppConfig]:
    app = AppConfig(id="web", providers={}, redirect_url="https://app.test/cb", issuer="https://gh.test")
    feed, store = MemoryRevocationFeed(), MemoryRevocationStore()
    keys = KeySet(load_private_key(generate_private_key_pem("rsa"), None, "k1"))
    sessions = SessionService({"web": app}, keys, MemoryDocuments(), log, MemoryUsers(), Sealer(new_key().encode()),
                              Revocations(store, feed), ended=RevocationMirror(feed, store, interval=0))
    return sessions, app


def test_a_logout_that_fails_half_way_still_ends_the_session_at_auth():
    sessions, app = service(BrokenLog())
    issued = sessions.open(app, "idp", {"userId": "u1", "groups": []}, {})
    assert sessions.verify(issued.access_token)["sub"] == "u1"
    with pytest.raises(DependencyUnavailable):
        sessions.end([issued.sid])
    with pytest.raises(InvalidToken):
        sessions.verify(issued.access_token)


def test_a_retried_logout_publishes_again_for_a_record_already_gone():
    sessions, app = service(MemorySessionLog())
    issued = sessions.open(app, "idp", {"userId": "u1", "groups": []}, {})
    sessions.store.delete("session", [issued.sid])  # the record went, the publication did not
    assert sessions.session_of(issued.access_token) is None
    sessions.forget(issued.access_token)
    with pytest.raises(InvalidToken):
        sessions.verify(issued.access_token)
    sessions.forget("not-a-token")  # nothing to do, no error
