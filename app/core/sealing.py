"""Provider tokens at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256) under
the configured PROVIDER_TOKEN_KEY before they reach Redis; never in a session JWT."""
from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data, separators=(",", ":")).encode()).decode("ascii")

    def open(self, sealed: str | None) -> dict[str, Any] | None:
        """The data, or None when it is missing or was sealed under another key."""
        if not sealed:
            return None
        try:
            data = json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError):
            return None
        return data if isinstance(data, dict) else None


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")
