"""A small Authentication Manager for Mia's scenario 2: resolves bearer tokens via /userinfo."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USERS = {
    "Bearer tok-admin": {"userID": "u-admin", "groups": ["admin"], "email": "admin@example.com"},
    "Bearer tok-user": {"userID": "u-user", "groups": ["users"], "email": "user@example.com"},
    "Bearer tok-guest": {"userID": "u-guest", "groups": ["guests"]},
}


class UserinfoService:
    def __init__(self) -> None:
        self.mode = "ok"  # ok | error | slow
        self.calls = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                service.calls += 1
                if service.mode == "error":
                    status, body = 500, {"error": "boom"}
                else:
                    if service.mode == "slow":
                        time.sleep(3)
                    user = USERS.get(self.headers.get("Authorization", ""))
                    status, body = (200, user) if user else (401, {"error": "unknown token"})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/userinfo"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
