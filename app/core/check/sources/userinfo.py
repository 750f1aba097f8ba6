"""The `userinfo` source: the caller's own headers forwarded to the userinfo endpoint
(core/check/verifiers/userinfo.py); an answer without a user names nobody."""
from __future__ import annotations

from ...principal import Principal
from ..verifiers.userinfo import UserinfoResolver
from .chain import Presented


class Userinfo:
    name = "userinfo"
    cookie = False

    def __init__(self, resolver: UserinfoResolver) -> None:
        self.resolver = resolver

    def match(self, request: Presented) -> dict[str, str] | None:
        return self.resolver.forwarded(request.headers) or None

    def verify(self, forwarded: dict[str, str]) -> Principal | None:
        return self.resolver.lookup(forwarded)
