"""Ports: what core needs from storage, named for their role. Adapters implement them."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, Sequence

from .records import Client, FeedBatch, Revocation, UserChanges, UserQuery


class ClientRepository(Protocol):
    def insert(self, client: Client) -> None: ...

    def get(self, client_id: str) -> Client | None: ...

    def list(self) -> list[Client]: ...

    def update(self, client_id: str, changes: dict[str, Any]) -> Client | None: ...

    def touch_last_login(self, client_id: str, when: int) -> None: ...

    def ping(self) -> None: ...


class CredentialRepository(Protocol):
    """Secret material, keyed by the HMAC of the client id (never the id itself)."""

    def put(self, client_id_hash: str, secret_hash: str, when: int) -> None: ...

    def get(self, client_id_hash: str) -> str | None: ...

    def delete(self, client_id_hash: str) -> None: ...


class ReplayGuard(Protocol):
    """Single-use values (assertion jti, state, nonce)."""

    def first_use(self, kind: str, value: str, ttl_seconds: int) -> bool: ...


class RateLimiter(Protocol):
    """Failure counters in fixed windows; each key is checked against its own limit."""

    def retry_after(self, limits: Mapping[str, int]) -> int | None:
        """Seconds to wait when any key has reached its limit (key -> limit), else None."""
        ...

    def hit(self, keys: Iterable[str]) -> None: ...

    def ping(self) -> None: ...


class DocumentStore(Protocol):
    """Short-lived JSON documents by kind and key, each with a TTL (Redis): login state,
    sessions, refresh-token records."""

    def put(self, kind: str, key: str, doc: dict[str, Any], ttl_seconds: int) -> None: ...

    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """Get and delete in one step: a second take of the same key finds nothing."""
        ...

    def replace(self, kind: str, key: str, doc: dict[str, Any], ttl_seconds: int) -> bool:
        """Overwrite only an existing document; False when it is gone."""
        ...

    def delete(self, kind: str, keys: Iterable[str]) -> int: ...

    def exists(self, kind: str, key: str) -> bool: ...

    def swap(self, take: tuple[str, str], puts: list[tuple[str, str, dict[str, Any], int]],
             replace: tuple[str, str, dict[str, Any], int]) -> str:
        """In one atomic step: delete `take`, write `puts` and overwrite `replace` — only if both
        `take` and `replace` still exist. Answers "done", "taken" (`take` was gone: nothing
        written) or "gone" (`replace` was gone: nothing written)."""
        ...


class UserRepository(Protocol):
    """MongoDB `users`: unique on `userId`, on (realm, providerId, providerUserId) once the
    provider's identity is known, and on (realm, invitedEmail) for records pre-provisioned by
    email. Documents come back JSON-safe, without MongoDB's `_id`; one without a `userId`
    (inserted by hand) is given one the first time it is read."""

    def merge_login(self, realm: str, provider_id: str, profile: dict[str, Any],
                    default_groups: list[str], now: int) -> dict[str, Any]:
        """The user logging in: the record of this provider identity; else the record
        pre-provisioned for the profile's email (unless the provider says the email is not
        verified), which is linked to the identity; else a new one with the default groups.
        The provider's fields (name, email, username) are refreshed; a blocked user's record is
        answered unchanged."""
        ...

    def get(self, user_id: str) -> dict[str, Any] | None: ...

    def find(self, query: UserQuery, limit: int, skip: int) -> tuple[list[dict[str, Any]], int]:
        """One page of the matching users (oldest first) and how many match in all."""
        ...

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Insert a pre-provisioned user; Conflict naming what is taken when its userId,
        provider identity or invited email exists already (nothing written)."""
        ...

    def update(self, user_id: str, changes: UserChanges, now: int) -> dict[str, Any] | None:
        """Apply the changes in one write; None when there is no such user."""
        ...

    def delete(self, user_id: str) -> bool: ...


class SessionLog(Protocol):
    """MongoDB `sessions`: login sessions for listing and revocation."""

    def opened(self, record: dict[str, Any]) -> None: ...

    def ended(self, sids: list[str], now: int) -> None: ...

    def active_sids(self, user_id: str) -> list[str]: ...

    def active_at_provider(self, issuer: str, client_ids: list[str], provider_sid: str | None,
                           provider_sub: str | None) -> list[str]:
        """Open sessions logged in through the provider `issuer` as one of `client_ids`, in its
        session `provider_sid`, or else (no sid given) as its subject `provider_sub`
        (back-channel logout)."""
        ...


class BffTokenStore(Protocol):
    """The BFF token record: the provider's tokens (sealed), the user's claims and the
    expiries of one BFF session, its refresh lock and the back-channel index that finds it. The
    one owner of that record: it alone creates, loads, updates and deletes it, for the BFF views
    and for /auth (flask-session owns only the browser session that names it)."""

    def create(self, sid: str, doc: dict[str, Any], ttl_seconds: int, index: Sequence[str]) -> None:
        """Store a new session's record for `ttl_seconds`, findable under each `index` key."""
        ...

    def load(self, sid: str) -> dict[str, Any] | None: ...

    def update(self, sid: str, doc: dict[str, Any]) -> bool:
        """Overwrite an existing record, keeping its expiry; False when it is gone."""
        ...

    def delete(self, sids: Iterable[str]) -> int: ...

    def lock(self, sid: str, ttl_ms: int) -> str | None:
        """Take the session's refresh lock; its token, or None when another holder has it."""
        ...

    def unlock(self, sid: str, token: str) -> None:
        """Release the lock only if it is still ours."""
        ...

    def indexed(self, key: str) -> list[str]:
        """The sessions indexed under `key` (back-channel logout)."""
        ...


class BrowserSessionStore(Protocol):
    """The BFF views' browser sessions, as flask-session serialises them: opaque bytes by key,
    each with a TTL. They name a BFF session; they hold none of its tokens."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes, ttl_seconds: int) -> None: ...

    def delete(self, key: str) -> None: ...


class RevocationFeed(Protocol):
    """Revocations fanned out to the workers (Redis), in the order they were published (a
    sequence the store assigns), under an epoch that names this feed as one server holds it: a
    feed that expired or was lost and started again, or that comes back from an older copy (a
    restart from a snapshot, a failover to a replica that lagged), has a new epoch."""

    def publish(self, entry: Revocation) -> None: ...

    def since(self, after: int) -> FeedBatch:
        """Entries published after sequence number `after`, the current sequence number and the
        epoch."""
        ...


class RevocationStore(Protocol):
    """The durable record of revocations (MongoDB `revocations`): each entry kept until its own
    `until`; it survives the loss of everything in Redis."""

    def record(self, entry: Revocation) -> None:
        """Add, or strengthen an entry with the same kind and key (latest `at`, longest `until`)."""
        ...

    def active(self, now: float) -> list[Revocation]:
        """Every entry still live at `now`."""
        ...

    def recorded_since(self, since: float, now: float) -> list[Revocation]:
        """The entries still live at `now` that were recorded or strengthened at or after `since`
        (the writer's clock): what a worker reconciles with, by an indexed time."""
        ...

    def find(self, keys: Sequence[tuple[str, str]], now: float) -> list[Revocation]:
        """The live entries among (kind, key) pairs."""
        ...
