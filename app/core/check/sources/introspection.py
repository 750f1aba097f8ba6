"""The `introspection` source: an opaque bearer token, asked of the configured RFC 7662
endpoint (core/check/verifiers/introspection.py)."""
from __future__ import annotations

from ...errors import InvalidToken
from ...principal import Principal
from ..verifiers.introspection import Introspector
from .chain import Presented

MAX_OPAQUE_TOKEN = 8192


class Introspection:
    name = "introspection"
    cookie = False

    def __init__(self, introspector: Introspector) -> None:
        self.introspector = introspector

    def match(self, request: Presented) -> str | None:
        token = request.bearer
        return token if token is not None and len(token) <= MAX_OPAQUE_TOKEN else None

    def verify(self, token: str) -> Principal:
        principal = self.introspector.resolve(token)
        if principal is None:
            raise InvalidToken("token is not active")
        return principal
