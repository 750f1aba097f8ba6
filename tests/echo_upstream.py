"""A small upstream that answers with the request headers it received, as JSON."""
from __future__ import annotations

from http.server import ThreadingHTTPServer

from tests.peers import json_server


def start_echo() -> tuple[ThreadingHTTPServer, int]:
    server, _ = json_server(lambda method, path, headers, body: (200, {
        "path": path, "method": method, "headers": {k.lower(): v for k, v in headers.items()}}))
    return server, server.server_address[1]
