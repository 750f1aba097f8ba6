"""A small upstream that answers with the request headers it received, as JSON: `headers` by
lower-case name, `raw` as (name, value) pairs in the spelling and order received (a WSGI server
would read `mia_userid` as HTTP_MIA_USERID, the variable of `miauserid`)."""
from __future__ import annotations

from http.server import ThreadingHTTPServer

from tests.support.peers import json_server


def start_echo() -> tuple[ThreadingHTTPServer, int]:
    server, _ = json_server(lambda method, path, headers, body: (200, {
        "path": path, "method": method, "headers": {k.lower(): v for k, v in headers.items()},
        "raw": list(headers.items())}))
    return server, server.server_address[1]
