"""The demo upstream of `gatehouse dev`: a page that shows the identity headers nginx passed
on after Gatehouse's check (`python -m app.demo_upstream --port 9000`)."""
from __future__ import annotations

import argparse
import html
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

IDENTITY = ("miauserid", "miausergroups", "miauserproperties", "miaclienttype", "x-usage-plan")


def page(path: str, headers: dict[str, str]) -> str:
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td><code>{html.escape(headers.get(name, ''))}</code></td></tr>"
                   for name in IDENTITY)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo upstream</title>
<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}}
th{{text-align:left;padding-right:1rem}}td code{{background:#f3f3f3;padding:0 .3rem}}</style></head><body>
<h1>Hello from the protected upstream</h1><p>Path <code>{html.escape(path)}</code>. nginx asked Gatehouse, which
allowed the request and sent these identity headers:</p><table>{rows}</table>
<p><a href="/admin">/admin</a> (group admin only) · <a href="/public">/public</a> (anyone) ·
<a href="/logout?redirect=/">log out</a></p></body></html>"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "application/json" in headers.get("accept", ""):
            body, kind = json.dumps({"path": self.path, "headers": headers}).encode(), "application/json"
        else:
            body, kind = page(self.path, headers).encode(), "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    port = parser.parse_args().port
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
