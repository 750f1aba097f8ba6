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

    def client_type(self, headers: Any, cookies: Any) -> str | None:
        for name in self.headers:
            value = headers.get(name)
            if value:
                return self.by_hash.get(api_key_hash(value))
        value = cookies.get(self.cookie) if cookies is not None else None
        return self.by_hash.get(api_key_hash(value)) if value else None
