"""One contract for every UserRepository: MongoDB (the real MongoDB-wire server) and the
in-memory one used by the unit tests."""
from __future__ import annotations

import uuid

import pymongo
import pytest

from app.adapters.mongo import MongoUsers
from app.core.errors import Conflict
from app.core.records import UserChanges, UserQuery
from tests.support.fakes import MemoryUsers


@pytest.fixture(params=["mongo", "memory"])
def users(request, mongo_server):
    if request.param == "memory":
        return MemoryUsers()
    repo = MongoUsers(pymongo.MongoClient(mongo_server.url)[f"u{uuid.uuid4().hex[:12]}"])
    repo.ensure_indexes()
    return repo


def login(users, sub, email=None, provider="dev", realm="demo", verified=None, now=100):
    return users.merge_login(realm, provider, {"providerUserId": sub, "name": sub.title(), "email": email,
                                               "username": sub, "emailVerified": verified}, ["users"], now)


def invited(email, provider=None, realm="demo", groups=("admin",), blocked=False, now=50):
    return {"userId": uuid.uuid4().hex, "realm": realm, "providerId": provider, "providerUserId": None,
            "email": email, "name": None, "username": None, "groups": list(groups), "metadata": {"team": "core"},
            "blocked": blocked, "createdAt": now, "updatedAt": now, "lastLogin": None,
            "invitedEmail": email.lower()}


def test_first_login_creates_later_logins_refresh_only_the_provider_fields(users):
    first = login(users, "alice", "alice@example.test")
    assert first["groups"] == ["users"] and first["metadata"] == {} and first["userId"]
    users.update(first["userId"], UserChanges(groups=("admin",)), 150)
    again = users.merge_login("demo", "dev", {"providerUserId": "alice", "name": "Alice A", "email": "a2@example.test",
                                              "username": "alice"}, ["users"], 200)
    assert again["userId"] == first["userId"] and again["groups"] == ["admin"]
    assert again["name"] == "Alice A" and again["email"] == "a2@example.test" and again["lastLogin"] == 200
    assert "_id" not in again
    assert users.find(UserQuery(), 10, 0)[1] == 1


def test_a_record_pre_provisioned_by_email_is_merged_at_the_first_login(users):
    made = users.create(invited("Ada@Example.test"))
    merged = login(users, "ada-sub", "ada@example.TEST")
    assert merged["userId"] == made["userId"] and merged["groups"] == ["admin"]
    assert merged["metadata"] == {"team": "core"}
    assert merged["providerId"] == "dev" and merged["providerUserId"] == "ada-sub" and "invitedEmail" not in merged
    assert users.find(UserQuery(), 10, 0)[1] == 1
    # the next login finds it by its provider identity
    assert login(users, "ada-sub", "other@example.test")["userId"] == made["userId"]


@pytest.mark.parametrize("name,invitation,provider,verified", [
    ("another provider was named", {"provider": "okta"}, "dev", None),
    ("email not verified", {}, "dev", False),
    ("another realm", {"realm": "other"}, "dev", None),
])
def test_an_email_invitation_is_not_merged_when(users, name, invitation, provider, verified):
    made = users.create(invited("bob@example.test", **invitation))
    merged = login(users, "bob-sub", "bob@example.test", provider=provider, verified=verified)
    assert merged["userId"] != made["userId"] and merged["groups"] == ["users"]
    assert users.get(made["userId"])["invitedEmail"] == "bob@example.test"


def test_an_invitation_for_the_provider_named_is_merged(users):
    made = users.create(invited("carol@example.test", provider="dev"))
    assert login(users, "carol-sub", "carol@example.test", verified=True)["userId"] == made["userId"]


def test_a_blocked_user_is_answered_unchanged(users):
    user = login(users, "dave", "dave@example.test")
    users.update(user["userId"], UserChanges(blocked=True), 150)
    again = users.merge_login("demo", "dev", {"providerUserId": "dave", "name": "New", "email": "n@example.test"},
                              [], 300)
    assert again["blocked"] is True and again["name"] == "Dave" and again["lastLogin"] == 100
    pending = users.create(invited("erin@example.test", blocked=True))
    seen = login(users, "erin-sub", "erin@example.test")
    assert seen["userId"] == pending["userId"] and seen["blocked"] is True
    assert users.get(pending["userId"])["invitedEmail"] == "erin@example.test"  # not linked


@pytest.mark.parametrize("duplicate,message", [
    (lambda u: {**u, "userId": uuid.uuid4().hex}, "providerId and providerUserId"),
    (lambda u: {**u, "providerUserId": "other"}, "userId"),
])
def test_duplicates_conflict_and_write_nothing(users, duplicate, message):
    base = {"userId": uuid.uuid4().hex, "realm": "demo", "providerId": "dev", "providerUserId": "frank",
            "groups": [], "metadata": {}, "blocked": False, "createdAt": 1}
    users.create(base)
    with pytest.raises(Conflict, match=message):
        users.create(duplicate(base))
    assert users.find(UserQuery(), 10, 0)[1] == 1


def test_an_invited_email_is_unique_per_realm(users):
    users.create(invited("gina@example.test"))
    with pytest.raises(Conflict, match="pre-provisioned with this email"):
        users.create(invited("gina@example.test"))
    users.create(invited("gina@example.test", realm="other"))
    assert users.find(UserQuery(), 10, 0)[1] == 2


def test_find_filters_and_pages(users):
    for i, (sub, groups) in enumerate([("hank", ["admin"]), ("ivy", ["users"]), ("jack", ["admin", "ops"])]):
        user = login(users, sub, f"{sub}@example.test", now=100 + i)
        users.update(user["userId"], UserChanges(groups=tuple(groups)), 200)
    users.create(invited("Kim@Example.test", groups=(), now=500))
    ivy = users.find(UserQuery(text="IV"), 10, 0)[0][0]
    users.update(ivy["userId"], UserChanges(blocked=True), 300)

    def subs(query: UserQuery, limit: int = 10, skip: int = 0) -> tuple[list[str | None], int]:
        docs, total = users.find(query, limit, skip)
        return [d.get("providerUserId") or d.get("invitedEmail") for d in docs], total

    assert subs(UserQuery()) == (["hank", "ivy", "jack", "kim@example.test"], 4)
    assert subs(UserQuery(), 2, 1) == (["ivy", "jack"], 4)
    assert subs(UserQuery(group="admin")) == (["hank", "jack"], 2)
    assert subs(UserQuery(blocked=True)) == (["ivy"], 1)
    assert subs(UserQuery(blocked=False)) == (["hank", "jack", "kim@example.test"], 3)
    assert subs(UserQuery(email="KIM@example.test")) == (["kim@example.test"], 1)
    assert subs(UserQuery(email="hank@example.test", group="ops")) == ([], 0)
    assert subs(UserQuery(text="a.c")) == ([], 0)  # the text is not a pattern
    assert subs(UserQuery(text="JACK")) == (["jack"], 1)
    assert subs(UserQuery(provider_id="dev", provider_user_id="hank")) == (["hank"], 1)
    assert subs(UserQuery(realm="nowhere")) == ([], 0)


def test_update_adds_removes_and_replaces(users):
    user = login(users, "liam")
    assert users.update(user["userId"], UserChanges(add_groups=("admin", "ops", "admin")), 2)["groups"] == [
        "users", "admin", "ops"]
    assert users.update(user["userId"], UserChanges(remove_groups=("users", "nope")), 3)["groups"] == ["admin", "ops"]
    done = users.update(user["userId"], UserChanges(groups=("x",), metadata={"a": [1]}, blocked=True), 4)
    assert (done["groups"], done["metadata"], done["blocked"], done["updatedAt"]) == (["x"], {"a": [1]}, True, 4)
    assert users.update("no-such-user", UserChanges(blocked=True), 5) is None


def test_delete(users):
    user = login(users, "mia")
    assert users.delete(user["userId"]) is True and users.get(user["userId"]) is None
    assert users.delete(user["userId"]) is False


def test_documents_inserted_by_hand_without_user_id(mongo_server):
    """Two documents without userId (and an older Gatehouse's full unique index) do not block the
    next insert; each gets a userId when read; odd values come back JSON-safe."""
    from datetime import datetime

    from bson import ObjectId
    db = pymongo.MongoClient(mongo_server.url)[f"u{uuid.uuid4().hex[:12]}"]
    db["users"].create_index("userId", unique=True, name="userId_unique")  # what older versions made
    db["users"].insert_one({"realm": "demo", "providerId": "dev", "providerUserId": "nora", "groups": ["admin"],
                            "metadata": {"ref": ObjectId(), "when": datetime(2026, 1, 2)}})
    repo = MongoUsers(db)
    repo.ensure_indexes()
    db["users"].insert_one({"realm": "demo", "name": "hand-made, no identity"})
    db["users"].insert_one({"realm": "demo", "name": "another one"})
    repo.create({**invited("olga@example.test")})
    nora = login(repo, "nora")
    assert nora["groups"] == ["admin"] and isinstance(nora["userId"], str) and nora["userId"]
    assert isinstance(nora["metadata"]["ref"], str) and nora["metadata"]["when"].startswith("2026-01-02")
    docs, total = repo.find(UserQuery(), 10, 0)
    assert total == 4 and all(isinstance(d["userId"], str) and d["userId"] for d in docs)
    assert len({d["userId"] for d in docs}) == 4
    assert repo.get(docs[1]["userId"])["name"] == "hand-made, no identity"
