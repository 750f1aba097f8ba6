"""MongoDB (pymongo): `clients`, `credentials`, `users` and `sessions`; indexes created at start-up."""
from __future__ import annotations

import functools
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TypeVar

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..core.errors import DependencyUnavailable
from ..core.records import Client, Revocation
from .documents import changes_to_doc, client_to_doc, doc_to_client

T = TypeVar("T")


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """Any driver failure (down, timeout, not primary) becomes a 503: fail closed."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except PyMongoError as exc:
            raise DependencyUnavailable("MongoDB is unavailable") from exc

    return wrapper


def redacted(url: str) -> str:
    """A MongoDB URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


def connect(url: str, database: str | None, timeout_ms: int) -> pymongo.database.Database:
    """A client with bounded timeouts on every operation (SPEC §10)."""
    client: pymongo.MongoClient = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms, appname="gatehouse", tz_aware=False)
    name = database or client.get_default_database(default="gatehouse").name
    return client[name]


class MongoClients:
    def __init__(self, db: pymongo.database.Database) -> None:
        self.coll = db["clients"]
        self.db = db

    @guarded
    def ensure_indexes(self) -> None:
        self.coll.create_index("clientId", unique=True, name="clientId_unique")
        self.db["credentials"].create_index("clientIdHash", unique=True, name="clientIdHash_unique")

    @guarded
    def insert(self, client: Client) -> None:
        self.coll.insert_one(client_to_doc(client))

    @guarded
    def get(self, client_id: str) -> Client | None:
        doc = self.coll.find_one({"clientId": client_id}, {"_id": 0})
        return doc_to_client(doc) if doc else None

    @guarded
    def list(self) -> list[Client]:
        return [doc_to_client(d) for d in
                self.coll.find({}, {"_id": 0}).sort([("createdAt", 1), ("clientId", 1)])]

    @guarded
    def update(self, client_id: str, changes: dict[str, Any]) -> Client | None:
        doc = self.coll.find_one_and_update(
            {"clientId": client_id}, {"$set": changes_to_doc(changes)},
            projection={"_id": 0}, return_document=ReturnDocument.AFTER)
        return doc_to_client(doc) if doc else None

    @guarded
    def touch_last_login(self, client_id: str, when: int) -> None:
        self.coll.update_one({"clientId": client_id}, {"$set": {"lastLogin": when}})

    @guarded
    def ping(self) -> None:
        self.db.command("ping")


class MongoCredentials:
    def __init__(self, db: pymongo.database.Database) -> None:
        self.coll = db["credentials"]

    @guarded
    def put(self, client_id_hash: str, secret_hash: str, when: int) -> None:
        self.coll.update_one({"clientIdHash": client_id_hash},
                             {"$set": {"secretHash": secret_hash, "updatedAt": when}},
                             upsert=True)

    @guarded
    def get(self, client_id_hash: str) -> str | None:
        doc = self.coll.find_one({"clientIdHash": client_id_hash}, {"secretHash": 1})
        return doc.get("secretHash") if doc else None

    @guarded
    def delete(self, client_id_hash: str) -> None:
        self.coll.delete_one({"clientIdHash": client_id_hash})


class MongoUsers:
    """`users`, unique on (realm, providerId, providerUserId). The provider owns name, email
    and username (refreshed at each login); groups, metadata and the rest belong to MongoDB."""

    def __init__(self, db: pymongo.database.Database) -> None:
        self.coll = db["users"]

    @guarded
    def ensure_indexes(self) -> None:
        self.coll.create_index([("realm", 1), ("providerId", 1), ("providerUserId", 1)], unique=True,
                               name="provider_identity_unique")
        self.coll.create_index("userId", unique=True, name="userId_unique")

    @guarded
    def merge_login(self, realm: str, provider_id: str, profile: dict[str, Any],
                    default_groups: list[str], now: int) -> dict[str, Any]:
        key = {"realm": realm, "providerId": provider_id, "providerUserId": profile["providerUserId"]}
        fields = {k: profile.get(k) for k in ("name", "email", "username")}
        update = {"$set": {**fields, "lastLogin": now, "updatedAt": now},
                  "$setOnInsert": {"userId": uuid.uuid4().hex, "groups": list(default_groups),
                                   "metadata": {}, "createdAt": now}}
        try:
            doc = self.coll.find_one_and_update(key, update, upsert=True, projection={"_id": 0},
                                                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            # Two first logins of one user at once: the other one created it; refresh that.
            doc = self.coll.find_one_and_update(key, {"$set": update["$set"]}, projection={"_id": 0},
                                                return_document=ReturnDocument.AFTER)
        if doc is None:
            raise DependencyUnavailable("MongoDB did not return the user")
        return dict(doc)

    @guarded
    def get(self, user_id: str) -> dict[str, Any] | None:
        doc = self.coll.find_one({"userId": user_id}, {"_id": 0})
        return dict(doc) if doc else None

    @guarded
    def seed(self, realm: str, provider_id: str, provider_user_id: str, groups: list[str], now: int) -> None:
        """Give a user groups before their first login (dev runner, `gatehouse users`)."""
        self.coll.update_one(
            {"realm": realm, "providerId": provider_id, "providerUserId": provider_user_id},
            {"$set": {"groups": list(groups), "updatedAt": now},
             "$setOnInsert": {"userId": uuid.uuid4().hex, "metadata": {}, "createdAt": now}}, upsert=True)


class MongoSessions:
    """`sessions`: one record per login session, expired by a TTL index on `expiresAt`."""

    def __init__(self, db: pymongo.database.Database) -> None:
        self.coll = db["sessions"]

    @guarded
    def ensure_indexes(self) -> None:
        self.coll.create_index("sid", unique=True, name="sid_unique")
        self.coll.create_index([("userId", 1), ("endedAt", 1)], name="user_active")
        self.coll.create_index("expiresAt", expireAfterSeconds=0, name="expiresAt_ttl")

    @guarded
    def opened(self, record: dict[str, Any]) -> None:
        self.coll.insert_one({**record, "expiresAt": datetime.fromtimestamp(record["expiresAt"], timezone.utc),
                              "endedAt": None})

    @guarded
    def ended(self, sids: list[str], now: int) -> None:
        self.coll.update_many({"sid": {"$in": list(sids)}, "endedAt": None}, {"$set": {"endedAt": now}})

    @guarded
    def active_sids(self, user_id: str) -> list[str]:
        return [d["sid"] for d in self.coll.find({"userId": user_id, "endedAt": None}, {"sid": 1})]


class MongoRevocations:
    """`revocations`: what must never come back, one document per (kind, key), `_id`
    `<kind>:<key>`, removed by a TTL index once `until` has passed (and never read after it)."""

    def __init__(self, db: pymongo.database.Database) -> None:
        self.coll = db["revocations"]

    @guarded
    def ensure_indexes(self) -> None:
        self.coll.create_index("until", expireAfterSeconds=0, name="until_ttl")

    @staticmethod
    def _when(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)

    @staticmethod
    def _entry(doc: dict[str, Any]) -> Revocation:
        until = doc["until"].replace(tzinfo=timezone.utc).timestamp()
        return Revocation(str(doc["kind"]), str(doc["key"]), float(doc["at"]), until)

    @guarded
    def record(self, entry: Revocation) -> None:
        self.coll.update_one({"_id": f"{entry.kind}:{entry.key}"},
                             {"$max": {"at": entry.at, "until": self._when(entry.until)},
                              "$setOnInsert": {"kind": entry.kind, "key": entry.key}}, upsert=True)

    @guarded
    def active(self, now: float) -> list[Revocation]:
        return [self._entry(d) for d in self.coll.find({"until": {"$gt": self._when(now)}})]

    @guarded
    def find(self, keys: Sequence[tuple[str, str]], now: float) -> list[Revocation]:
        ids = [f"{kind}:{key}" for kind, key in keys]
        return [self._entry(d) for d in self.coll.find({"_id": {"$in": ids}, "until": {"$gt": self._when(now)}})]
