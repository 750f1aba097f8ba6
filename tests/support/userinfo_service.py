"""A small Authentication Manager for Mia's scenario 2: resolves bearer tokens via /userinfo."""
from __future__ import annotations

import time
from typing import Any

from tests.support.peers import json_server

USERS = {
    "Bearer tok-admin": {"userID": "u-admin", "groups": ["admin"], "email": "admin@example.com"},
    "Bearer tok-user": {"userID": "u-user", "groups": ["users"], "email": "user@example.com"},
    "Bearer tok-guest": {"userID": "u-guest", "groups": ["guests"]},
}


class UserinfoService:
    def __init__(self) -> None:
        self.mode = "ok"  # ok | error | slow
        self.calls = 0
        self.server, base = json_server(self.answer)
        self.url = f"{base}/userinfo"

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self.calls += 1
        if self.mode == "error":
            return 500, {"error": "boom"}
        if self.mode == "slow":
            time.sleep(3)  # mode `slow`: the peer's delay is what the test is about
        user = USERS.get(headers.get("Authorization", ""))
        return (200, user) if user else (401, {"error": "unknown token"})

    def close(self) -> None:
        self.server.shutdown()
