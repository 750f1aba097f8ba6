"""API keys: not a source of the order but a clientType beside whoever the caller is (anonymous
included), from the key in a `client-key`/`secret` header or the `client_key` cookie."""
from __future__ import annotations

from ..verifiers.api_keys import ApiKeys
from .chain import Presented


class ApiKey:
    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    def match(self, request: Presented) -> str | None:
        return self.keys.presented(request.headers, request.cookies)

    def verify(self, key: str) -> str | None:
        return self.keys.client_type_of(key)
