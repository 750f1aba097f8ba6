"""MongoDB (pymongo): `clients` and `credentials`, indexes created at start-up."""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from ..core.errors import DependencyUnavailable
from ..core.records import Client
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
