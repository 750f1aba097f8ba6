"""An RFC 7662 introspection endpoint for tests: opaque tokens, Basic-authenticated callers."""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class IntrospectionServer:
    def __init__(self, client_id: str = "rs", client_secret: str = "rs-secret") -> None:
        self.tokens: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.up = True
        expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                server.calls += 1
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                if not server.up:
                    status, body = 503, {}
                elif self.headers.get("Authorization") != expected:
                    status, body = 401, {"error": "invalid_client"}
                else:
                    token = (form.get("token") or [""])[0]
                    status, body = 200, server.tokens.get(token, {"active": False})
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
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/introspect"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
