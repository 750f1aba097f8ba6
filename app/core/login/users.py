"""Users managed by an administrator (Mia's users collection; docs/login.md "Users and groups"):
list, read, pre-provision before the first login (by provider identity or by email, with groups),
change groups, metadata and the blocked flag, delete. Blocking or deleting a user ends their login
and BFF sessions for good first (docs/login.md "Blocking and deleting: offboarding"); every refusal
happens before anything is written.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..errors import BadRequest, Conflict, NotFound
from ..limits import MAX_GROUPS
from ..ports import UserRepository
from .providers import ProviderDirectory
from ..records import UserChanges, UserQuery
from .sessions import AppConfig, SessionService

DEFAULT_PAGE = 50
MAX_PAGE = 500
TEXT_FIELDS = ("realm", "providerId", "providerUserId", "email", "name", "username")
STAMP_FIELDS = ("createdAt", "updatedAt", "lastLogin")


@dataclass(frozen=True)
class NewUser:
    """POST /users: who (a provider identity, or an email the first login will match), and
    what the project gives them."""

    realm: str | None = None
    provider_id: str | None = None
    provider_user_id: str | None = None
    email: str | None = None
    name: str | None = None
    username: str | None = None
    groups: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    blocked: bool = False


def user_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The user as the admin API shows it, whatever a hand-edited document holds."""
    view: dict[str, Any] = {"userId": doc.get("userId")}
    for name in TEXT_FIELDS:
        value = doc.get(name)
        view[name] = value if isinstance(value, str) else None
    if isinstance(doc.get("invitedEmail"), str):
        view["invitedEmail"] = doc["invitedEmail"]
    groups = doc.get("groups")
    view["groups"] = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []
    view["metadata"] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    view["blocked"] = doc.get("blocked") is True
    for name in STAMP_FIELDS:
        value = doc.get(name)
        view[name] = value if isinstance(value, int) and not isinstance(value, bool) else None
    return view


def is_blocked(doc: dict[str, Any] | None) -> bool:
    return doc is not None and doc.get("blocked") is True


class SubjectSessions(Protocol):
    """The BFF sessions of a provider identity (BffService)."""

    def end_identity(self, issuer: str, sub: str) -> int: ...


@dataclass(frozen=True)
class Ended:
    """What an offboarding ended: Gatehouse login sessions and BFF sessions."""

    sessions: int = 0
    bff_sessions: int = 0

    def body(self) -> dict[str, int]:
        return {"sessionsEnded": self.sessions, "bffSessionsEnded": self.bff_sessions}


class UserAdmin:
    def __init__(self, users: UserRepository, sessions: SessionService, apps: dict[str, AppConfig],
                 default_app: str | None, clock: Callable[[], float] = time.time,
                 directory: ProviderDirectory | None = None, bff: SubjectSessions | None = None) -> None:
        self.users = users
        self.sessions = sessions
        self.apps = apps
        self.directory = directory
        self.bff = bff
        self.clock = clock
        # realm -> the providers its apps log in through
        self.realms: dict[str, set[str]] = {}
        for app in apps.values():
            self.realms.setdefault(app.realm, set()).update(app.providers)
        self.default_realm = apps[default_app].realm if default_app in apps else (
            next(iter(self.realms)) if len(self.realms) == 1 else None)

    def list(self, query: UserQuery, limit: int = DEFAULT_PAGE, skip: int = 0) -> tuple[list[dict[str, Any]], int]:
        """One page of users (oldest first) and how many match."""
        docs, total = self.users.find(query, min(max(limit, 1), MAX_PAGE), max(skip, 0))
        return [user_view(d) for d in docs], total

    def _doc(self, user_id: str) -> dict[str, Any]:
        doc = self.users.get(user_id)
        if doc is None:
            raise NotFound("no such user")
        return doc

    def get(self, user_id: str) -> dict[str, Any]:
        return user_view(self._doc(user_id))

    def named(self, who: str) -> dict[str, Any]:
        """The user's record, by userId or by email (any case; one user only)."""
        doc = self.users.get(who)
        if doc is not None:
            return doc
        if "@" in who:
            docs, total = self.users.find(UserQuery(email=who), 2, 0)
            if total > 1:
                raise BadRequest(f"{total} users have the email {who!r}: give the userId")
            if docs:
                return docs[0]
        raise NotFound(f"no such user: {who!r}")

    def _realm(self, realm: str | None, provider_id: str | None) -> str:
        if realm is None:
            if self.default_realm is None:
                raise BadRequest("realm: required, the configured apps have different realms")
            realm = self.default_realm
        if realm not in self.realms:
            raise BadRequest(f"realm: no configured app has the realm {realm!r}")
        if provider_id is not None and provider_id not in self.realms[realm]:
            raise BadRequest(f"providerId: no app of the realm {realm!r} has the provider {provider_id!r}")
        return realm

    def create(self, new: NewUser) -> dict[str, Any]:
        """Pre-provision a user: their record is merged at their first login (by provider
        identity; by email when created with an email only, optionally for one provider)."""
        if (new.provider_id is None) != (new.provider_user_id is None) and new.provider_user_id is not None:
            raise BadRequest("providerId: required with providerUserId")
        if new.provider_user_id is None and not new.email:
            raise BadRequest("email: give email, or providerId and providerUserId")
        realm = self._realm(new.realm, new.provider_id)
        invited = new.email.lower() if new.provider_user_id is None and new.email else None
        if invited is not None and self.users.find(UserQuery(realm=realm, email=invited), 1, 0)[1]:
            raise Conflict("a user with this email exists already in this realm")
        now = int(self.clock())
        doc: dict[str, Any] = {
            "userId": uuid.uuid4().hex, "realm": realm, "providerId": new.provider_id,
            "providerUserId": new.provider_user_id, "email": new.email, "name": new.name,
            "username": new.username, "groups": list(dict.fromkeys(new.groups)), "metadata": dict(new.metadata),
            "blocked": new.blocked, "createdAt": now, "updatedAt": now, "lastLogin": None}
        if invited is not None:
            doc["invitedEmail"] = invited
        return user_view(self.users.create(doc))

    def change(self, user_id: str, changes: UserChanges) -> tuple[dict[str, Any], Ended | None]:
        """Apply the changes; blocking also ends every session of the user. The view, and what
        was ended (None when the change was not a block)."""
        if changes.empty():
            raise BadRequest("give at least one of groups, addGroups, removeGroups, metadata, blocked")
        if changes.groups is not None and (changes.add_groups or changes.remove_groups):
            raise BadRequest("groups: replace the groups, or add and remove some, not both")
        if changes.add_groups and changes.remove_groups:
            raise BadRequest("addGroups: add groups and remove groups in separate requests")
        if changes.add_groups:
            self._ensure_room(user_id, changes.add_groups)
        doc = self.users.update(user_id, changes, int(self.clock()))
        if doc is None:
            raise NotFound("no such user")
        # Blocked first, then the sessions end: a login or refresh meanwhile sees the flag.
        return user_view(doc), self.offboard(doc) if changes.blocked else None

    def _ensure_room(self, user_id: str, added: tuple[str, ...]) -> None:
        """addGroups may not take a user past the groups limit (the schema bounds one request)."""
        current = self._doc(user_id).get("groups")
        have = {g for g in current if isinstance(g, str)} if isinstance(current, list) else set()
        total = len(have | set(added))
        if total > MAX_GROUPS:
            raise BadRequest(f"addGroups: the user would have {total} groups; at most {MAX_GROUPS} groups per user")

    def delete(self, user_id: str) -> Ended:
        """Block, end every session, then delete: if a step fails, the user stays blocked (and
        keeps the identity that finds their BFF sessions), so the request can be repeated."""
        self._doc(user_id)
        _, ended = self.change(user_id, UserChanges(blocked=True))
        self.users.delete(user_id)
        return ended or Ended()

    def offboard(self, doc: dict[str, Any]) -> Ended:
        """End every session of a (blocked) user: their login sessions, then the BFF sessions of
        each provider identity linked to them. Each is recorded as ended for good before it is
        removed, so every worker refuses it within the revocation bound."""
        sessions = self.sessions.revoke_user(str(doc["userId"]))
        bff = 0
        if self.bff is not None:
            for issuer, sub in self.identities(doc):
                bff += self.bff.end_identity(issuer, sub)
        return Ended(sessions, bff)

    def identity_blocked(self, issuer: str, sub: str) -> bool:
        """Is a blocked user linked to the provider identity (issuer, sub)? The BFF asks at login."""
        docs, _ = self.users.find(UserQuery(provider_user_id=sub, blocked=True), MAX_PAGE, 0)
        return any((issuer, sub) in self.identities(doc) for doc in docs)

    def identities(self, doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        """The provider identities linked to the user as (issuer, subject): the OIDC issuer of
        their provider (from its discovery document, cached) and their subject there. A user
        pre-provisioned by email has none until their first login."""
        sub, provider_id, realm = doc.get("providerUserId"), doc.get("providerId"), doc.get("realm")
        if self.directory is None or not isinstance(sub, str) or not isinstance(provider_id, str):
            return ()
        found: set[tuple[str, str]] = set()
        for app in self.apps.values():
            provider = app.providers.get(provider_id) if app.realm == realm else None
            if provider is not None and provider.oidc:
                issuer = self.directory.endpoints(app.id, provider).issuer
                if issuer:
                    found.add((issuer, sub))
        return tuple(sorted(found))
