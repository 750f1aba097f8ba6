"""Ports: what core needs from storage, named for their role. Adapters implement them."""
from __future__ import annotations

from typing import Any, Iterable, Protocol

from .records import Client


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


class RevocationList(Protocol):
    def revoke(self, jti: str, ttl_seconds: int) -> None: ...

    def is_revoked(self, jti: str) -> bool: ...


class RateLimiter(Protocol):
    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds to wait when any key is over its limit, else None."""
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


class UserRepository(Protocol):
    """MongoDB `users`, unique on (realm, providerId, providerUserId)."""

    def merge_login(self, realm: str, provider_id: str, profile: dict[str, Any],
                    default_groups: list[str], now: int) -> dict[str, Any]:
        """Create on first login (with default groups), else refresh the profile fields only."""
        ...

    def get(self, user_id: str) -> dict[str, Any] | None: ...


class SessionLog(Protocol):
    """MongoDB `sessions`: login sessions for listing and revocation."""

    def opened(self, record: dict[str, Any]) -> None: ...

    def ended(self, sids: list[str], now: int) -> None: ...

    def active_sids(self, user_id: str) -> list[str]: ...


class BffSessionStore(Protocol):
    """BFF sessions (Redis, the documents flask-session writes): read and update them outside
    Flask's session machinery, serialise refreshes, and find them for back-channel logout."""

    def get(self, sid: str) -> dict[str, Any] | None: ...

    def update(self, sid: str, doc: dict[str, Any]) -> bool:
        """Overwrite an existing session, keeping its expiry; False when it is gone."""
        ...

    def delete(self, sids: Iterable[str]) -> int: ...

    def lock(self, sid: str, ttl_ms: int) -> str | None:
        """Take the session's refresh lock; its token, or None when another holder has it."""
        ...

    def unlock(self, sid: str, token: str) -> None:
        """Release the lock only if it is still ours."""
        ...

    def index(self, sid: str, keys: list[str], ttl_seconds: int) -> None: ...

    def indexed(self, key: str) -> list[str]: ...


class RevocationFeed(Protocol):
    """Revoked token ids and ended session ids, in the order they were published (a sequence the
    store assigns), each with the time (epoch seconds) after which it no longer matters."""

    def publish(self, kind: str, key: str, until: float) -> None: ...

    def since(self, kind: str, after: int) -> tuple[list[tuple[str, float]], int]:
        """Entries published after sequence number `after`, and the feed's current sequence
        number (lower than `after` when the feed was emptied and started again)."""
        ...
