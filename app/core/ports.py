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
