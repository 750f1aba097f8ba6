"""An RFC 7662 introspection endpoint for tests: opaque tokens, Basic-authenticated callers."""
from __future__ import annotations

import base64
import threading
from typing import Any
from urllib.parse import parse_qs

from tests.support.peers import json_server


class IntrospectionServer:
    def __init__(self, client_id: str = "rs", client_secret: str = "rs-secret") -> None:
        self.tokens: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.up = True
        self.hang_seconds = 0.0  # > 0: every call waits this long before answering (a hung provider)
        self._closed = threading.Event()  # close() ends the calls still hanging
        self.expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.server, base = json_server(self.answer)
        self.url = f"{base}/introspect"

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self.calls += 1
        if self.hang_seconds:
            self._closed.wait(self.hang_seconds)  # a hung introspection endpoint, until close()
        if not self.up:
            return 503, {}
        if headers.get("Authorization") != self.expected:
            return 401, {"error": "invalid_client"}
        token = (parse_qs(body.decode()).get("token") or [""])[0]
        return 200, self.tokens.get(token, {"active": False})

    def close(self) -> None:
        self._closed.set()
        self.server.shutdown()
