"""MongoDB (pymongo): `clients`, `credentials`, `users` and `sessions`; indexes created at start-up."""
from __future__ import annotations

import functools
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TypeVar

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from ..core.errors import Conflict, DependencyUnavailable
from ..core.records import Client, Revocation, UserChanges, UserQuery
from .documents import changes_to_doc, client_to_doc, doc_to_client

T = TypeVar("T")
Database = pymongo.database.Database  # the database type the composition root holds


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
    """A client with bounded timeouts on every operation: a hung MongoDB
    holds no request longer than MONGODB_TIMEOUT_MS."""
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


USER_INDEXES: dict[str, tuple[list[tuple[str, int]], dict[str, Any]]] = {
    # Partial: a record pre-provisioned by email has no provider identity yet, and a document
    # inserted by hand without a userId must not block the next insert (a plain unique index
    # counts every missing value as one more `null`).
    "provider_identity_unique": ([("realm", 1), ("providerId", 1), ("providerUserId", 1)],
                                 {"unique": True, "partialFilterExpression": {"providerUserId": {"$type": "string"}}}),
    "userId_unique": ([("userId", 1)], {"unique": True, "partialFilterExpression": {"userId": {"$type": "string"}}}),
    "invitedEmail_unique": ([("realm", 1), ("invitedEmail", 1)],
                            {"unique": True, "partialFilterExpression": {"invitedEmail": {"$type": "string"}}}),
    "groups": ([("groups", 1)], {}),
}
PROFILE_FIELDS = ("name", "email", "username")


def ensure_index(coll: pymongo.collection.Collection, name: str, keys: list[tuple[str, int]],
                 options: dict[str, Any]) -> None:
    """Create the index, replacing one of the same name whose definition changed (an older
    Gatehouse's full unique index becomes a partial one)."""
    existing = coll.index_information().get(name)
    if existing is not None:
        same = ([tuple(k) for k in existing.get("key", [])] == keys
                and bool(existing.get("unique")) == bool(options.get("unique"))
                and json_safe(existing.get("partialFilterExpression")) == options.get("partialFilterExpression"))
        if same:
            return
        coll.drop_index(name)
    coll.create_index(keys, name=name, **options)


def json_safe(value: Any) -> Any:
    """A document as JSON can carry it: what a hand-edited document may hold besides JSON types
    (ObjectId, datetime, bytes, ...) becomes text, so it can neither break a page nor a token."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def _duplicate(exc: DuplicateKeyError) -> Conflict:
    index = str((exc.details or {}).get("errmsg", "")) + " " + str((exc.details or {}).get("keyPattern", ""))
    if "invitedEmail" in index:
        return Conflict("a user is already pre-provisioned with this email in this realm")
    if "providerUserId" in index:
        return Conflict("a user with this providerId and providerUserId exists already in this realm")
    return Conflict("a user with this userId exists already")


class MongoUsers:
    """`users`. The provider owns name, email and username (refreshed at each login); groups,
    metadata, blocked and the rest belong to MongoDB (the admin API, `gatehouse users`)."""

    def __init__(self, db: pymongo.database.Database) -> None:
        self.coll = db["users"]

    @guarded
    def ensure_indexes(self) -> None:
        for name, (keys, options) in USER_INDEXES.items():
            ensure_index(self.coll, name, keys, options)

    def _out(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The document for core: JSON-safe, without `_id`, and with a userId (one inserted by
        hand without a usable one gets one now, unless another reader just gave it one)."""
        if not isinstance(doc.get("userId"), str) or not doc["userId"]:
            self.coll.update_one({"_id": doc["_id"], "userId": doc.get("userId")},
                                 {"$set": {"userId": uuid.uuid4().hex}})
            doc = self.coll.find_one({"_id": doc["_id"]}) or doc
        return {k: json_safe(v) for k, v in doc.items() if k != "_id"}

    @guarded
    def merge_login(self, realm: str, provider_id: str, profile: dict[str, Any],
                    default_groups: list[str], now: int) -> dict[str, Any]:
        key = {"realm": realm, "providerId": provider_id, "providerUserId": profile["providerUserId"]}
        fields = {k: profile.get(k) for k in PROFILE_FIELDS}
        refresh = {**fields, "lastLogin": now, "updatedAt": now}
        doc = self.coll.find_one(key)
        if doc is None:
            doc = self._claim_invitation(realm, provider_id, profile, refresh)
        if doc is not None:
            if doc.get("blocked") is True:
                return self._out(doc)
            doc = self.coll.find_one_and_update({"_id": doc["_id"]}, {"$set": refresh},
                                                return_document=ReturnDocument.AFTER) or doc
            return self._out(doc)
        update = {"$set": refresh,
                  "$setOnInsert": {"userId": uuid.uuid4().hex, "groups": list(default_groups),
                                   "metadata": {}, "blocked": False, "createdAt": now}}
        try:
            doc = self.coll.find_one_and_update(key, update, upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            # Two first logins of one user at once: the other one created it; refresh that.
            doc = self.coll.find_one_and_update(key, {"$set": refresh}, return_document=ReturnDocument.AFTER)
        if doc is None:
            raise DependencyUnavailable("MongoDB did not return the user")
        return self._out(doc)

    def _claim_invitation(self, realm: str, provider_id: str, profile: dict[str, Any],
                          refresh: dict[str, Any]) -> dict[str, Any] | None:
        """The record pre-provisioned for this email (for any provider, or for this one),
        linked to the provider identity in the same write; a blocked one is left as it is."""
        email = profile.get("email")
        if not isinstance(email, str) or not email or profile.get("emailVerified") is False:
            return None
        wanted = {"realm": realm, "invitedEmail": email.lower(), "providerId": {"$in": [None, provider_id]}}
        found = self.coll.find_one(wanted)
        if found is None or found.get("blocked") is True:
            return found
        return self.coll.find_one_and_update(
            {"_id": found["_id"], "invitedEmail": email.lower()},
            {"$set": {**refresh, "providerId": provider_id, "providerUserId": profile["providerUserId"]},
             "$unset": {"invitedEmail": ""}}, return_document=ReturnDocument.AFTER)

    @guarded
    def get(self, user_id: str) -> dict[str, Any] | None:
        doc = self.coll.find_one({"userId": user_id})
        return self._out(doc) if doc else None

    @guarded
    def find(self, query: UserQuery, limit: int, skip: int) -> tuple[list[dict[str, Any]], int]:
        conditions: list[dict[str, Any]] = []
        for attr, name in (("realm", "realm"), ("provider_id", "providerId"),
                           ("provider_user_id", "providerUserId"), ("group", "groups")):
            if getattr(query, attr) is not None:
                conditions.append({name: getattr(query, attr)})
        if query.blocked is not None:
            conditions.append({"blocked": True} if query.blocked else {"blocked": {"$ne": True}})
        if query.email is not None:
            exact = {"$regex": f"^{re.escape(query.email)}$", "$options": "i"}
            conditions.append({"$or": [{"email": exact}, {"invitedEmail": exact}]})
        if query.text is not None:
            part = {"$regex": re.escape(query.text), "$options": "i"}
            conditions.append({"$or": [{name: part} for name in
                                       ("name", "email", "username", "invitedEmail", "providerUserId")]})
        filter_ = {"$and": conditions} if conditions else {}
        total = self.coll.count_documents(filter_)
        docs = self.coll.find(filter_).sort([("createdAt", 1), ("_id", 1)]).skip(skip).limit(limit)
        return [self._out(d) for d in docs], total

    @guarded
    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        try:
            self.coll.insert_one(dict(doc))
        except DuplicateKeyError as exc:
            raise _duplicate(exc) from None
        return self.get(doc["userId"]) or dict(doc)

    @guarded
    def update(self, user_id: str, changes: UserChanges, now: int) -> dict[str, Any] | None:
        update: dict[str, Any] = {"$set": {"updatedAt": now}}
        if changes.groups is not None:
            update["$set"]["groups"] = list(changes.groups)
        if changes.metadata is not None:
            update["$set"]["metadata"] = dict(changes.metadata)
        if changes.blocked is not None:
            update["$set"]["blocked"] = changes.blocked
        if changes.add_groups:
            update["$addToSet"] = {"groups": {"$each": list(changes.add_groups)}}
        if changes.remove_groups:
            update["$pull"] = {"groups": {"$in": list(changes.remove_groups)}}
        doc = self.coll.find_one_and_update({"userId": user_id}, update, return_document=ReturnDocument.AFTER)
        return self._out(doc) if doc else None

    @guarded
    def delete(self, user_id: str) -> bool:
        return bool(self.coll.delete_one({"userId": user_id}).deleted_count)

    @guarded
    def seed(self, realm: str, provider_id: str, provider_user_id: str, groups: list[str], now: int) -> None:
        """Give a user groups before their first login (the dev runner's demo users)."""
        self.coll.update_one(
            {"realm": realm, "providerId": provider_id, "providerUserId": provider_user_id},
            {"$set": {"groups": list(groups), "updatedAt": now},
             "$setOnInsert": {"userId": uuid.uuid4().hex, "metadata": {}, "blocked": False, "createdAt": now}},
            upsert=True)


class MongoSessions:
    """`sessions`: one record per login session, expired by a TTL index on `expiresAt`."""

    def __init__(self, db: pymongo.database.Database) -> None:
        self.coll = db["sessions"]

    @guarded
    def ensure_indexes(self) -> None:
        self.coll.create_index("sid", unique=True, name="sid_unique")
        self.coll.create_index([("userId", 1), ("endedAt", 1)], name="user_active")
        # back-channel logout: the sessions of a provider's session id, or of its subject
        self.coll.create_index([("providerIss", 1), ("providerSid", 1)], name="provider_sid")
        self.coll.create_index([("providerIss", 1), ("providerSub", 1)], name="provider_sub")
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

    @guarded
    def active_at_provider(self, issuer: str, client_ids: list[str], provider_sid: str | None,
                           provider_sub: str | None) -> list[str]:
        if provider_sid:
            match: dict[str, Any] = {"providerIss": issuer, "providerSid": provider_sid}
        elif provider_sub:
            match = {"providerIss": issuer, "providerSub": provider_sub}
        else:
            return []
        match["providerClient"] = {"$in": list(client_ids)}
        return [d["sid"] for d in self.coll.find({**match, "endedAt": None}, {"sid": 1})]


class MongoRevocations:
    """`revocations`: what must never come back, one document per (kind, key), `_id`
    `<kind>:<key>`, removed by a TTL index once `until` has passed (and never read after it);
    `recordedAt` (the writer's clock, indexed) is when it was last recorded or strengthened, what
    workers reconcile by."""

    def __init__(self, db: pymongo.database.Database) -> None:
        self.coll = db["revocations"]

    @guarded
    def ensure_indexes(self) -> None:
        self.coll.create_index("until", expireAfterSeconds=0, name="until_ttl")
        self.coll.create_index("recordedAt", name="recorded_at")

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
                             {"$max": {"at": entry.at, "until": self._when(entry.until),
                                       "recordedAt": self._when(time.time())},
                              "$setOnInsert": {"kind": entry.kind, "key": entry.key}}, upsert=True)

    @guarded
    def active(self, now: float) -> list[Revocation]:
        return [self._entry(d) for d in self.coll.find({"until": {"$gt": self._when(now)}})]

    @guarded
    def recorded_since(self, since: float, now: float) -> list[Revocation]:
        return [self._entry(d) for d in self.coll.find({"recordedAt": {"$gte": self._when(since)},
                                                        "until": {"$gt": self._when(now)}})]

    @guarded
    def find(self, keys: Sequence[tuple[str, str]], now: float) -> list[Revocation]:
        ids = [f"{kind}:{key}" for kind, key in keys]
        return [self._entry(d) for d in self.coll.find({"_id": {"$in": ids}, "until": {"$gt": self._when(now)}})]
