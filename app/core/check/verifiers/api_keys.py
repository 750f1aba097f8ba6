"""API keys: a key presented in a header or cookie resolves to a clientType; only
the keys' SHA-256 hashes are configured."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...credentials import sha256_hex

api_key_hash = sha256_hex


@dataclass(frozen=True)
class ApiKeys:
    """API keys stored as SHA-256 hashes -> clientType; read from `client-key`/`secret`
    headers or the `client_key` cookie."""

    by_hash: dict[str, str]
    headers: tuple[str, ...] = ("client-key", "secret")
    cookie: str = "client_key"

    def presented(self, headers: Any, cookies: Any) -> str | None:
        """The key the request presents: the first of the headers that has one, else the cookie."""
        for name in self.headers:
            value = headers.get(name)
            if value:
                return value  # type: ignore[no-any-return]
        return (cookies.get(self.cookie) or None) if cookies is not None else None

    def client_type_of(self, key: str) -> str | None:
        return self.by_hash.get(api_key_hash(key))
