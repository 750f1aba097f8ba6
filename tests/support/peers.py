"""One small threaded HTTP server for the test peers (issuer, userinfo, introspection):
each peer is a function (method, path, headers, body) -> (status, JSON body)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Answer = Callable[[str, str, Any, bytes], "tuple[int, Any]"]


def json_server(answer: Answer) -> tuple[ThreadingHTTPServer, str]:
    """Start a loopback server answering with `answer`; returns it and its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            # The target as received: http.server's `path` turns a leading `//` into `/` (CPython 3.11.4+).
            target = self.requestline.split(" ")[1] if self.requestline.count(" ") == 2 else self.path
            status, body = answer(self.command, target, self.headers, self.rfile.read(length))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller gave up waiting (a hung peer outlives the caller's timeout)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
