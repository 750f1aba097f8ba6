"""The demo upstream of `gatehouse dev`: a page that shows the identity headers nginx passed
on after Gatehouse's check, the BFF demo SPA at /spa/, and an API at /api/whoami that verifies
the access token nginx forwards against the provider's JWKS, as a resource server would
(`python -m gatehouse_dev.demo_upstream --port 9000 --provider-url http://127.0.0.1:9400`)."""
from __future__ import annotations

import argparse
import html
import json
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jose import jwt
from jose.exceptions import JOSEError

IDENTITY = ("miauserid", "miausergroups", "miauserproperties", "miaclienttype", "x-usage-plan")
# Never echoed back: a page must not be able to read credentials through the demo.
REDACTED = ("authorization", "cookie")
SPA = Path(__file__).resolve().parent / "spa.html"  # the demo single-page app (package data)


class ProviderKeys:
    """The provider's JWKS, fetched once and again on an unknown kid (at most every 10 s)."""

    def __init__(self, provider_url: str | None) -> None:
        self.provider_url = provider_url
        self.jwks: dict[str, Any] = {"keys": []}
        self.fetched = 0.0
        self.lock = threading.Lock()

    def verify(self, token: str) -> dict[str, Any]:
        if not self.provider_url:
            raise JOSEError("no provider configured")
        with self.lock:
            kid = jwt.get_unverified_header(token).get("kid")
            if not any(k.get("kid") == kid for k in self.jwks["keys"]) and time.monotonic() - self.fetched > 10:
                with urllib.request.urlopen(f"{self.provider_url}/jwks", timeout=5) as answer:  # noqa: S310 - loopback
                    self.jwks = json.load(answer)
                self.fetched = time.monotonic()
            jwks = self.jwks
        return dict(jwt.decode(token, jwks, algorithms=["RS256"], issuer=self.provider_url,
                               options={"verify_aud": False}))


def shown(value: str) -> str:
    """A header value as a person reads it: RFC 8187-encoded items (`UTF-8''%D0%90...`, what
    Gatehouse sends for values outside ASCII) decoded, item by item for a comma list."""
    return ",".join(urllib.parse.unquote(item[7:]) if item[:7].upper() == "UTF-8''" else item
                    for item in value.split(","))


def page(path: str, headers: dict[str, str]) -> str:
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td><code>{html.escape(shown(headers.get(name, '')))}</code>"
                   f"</td></tr>" for name in IDENTITY)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo upstream</title>
<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}}
th{{text-align:left;padding-right:1rem}}td code{{background:#f3f3f3;padding:0 .3rem}}</style></head><body>
<h1>Hello from the protected upstream</h1><p>Path <code>{html.escape(path)}</code>. nginx asked Gatehouse, which
allowed the request and sent these identity headers:</p><table>{rows}</table>
<p><a href="/admin">/admin</a> (group admin only) · <a href="/public">/public</a> (anyone) ·
<a href="/spa/">the BFF single-page app</a> · <a href="/logout?redirect=/">log out</a></p></body></html>"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer: headers and body are buffered and sent together when the request is
    # done. Written separately (http.server's default), the body waits for the peer to
    # acknowledge the headers (Nagle), which a delayed ACK holds back ~40 ms: 44 ms per request
    # through nginx, measured. No Nagle either, should an answer ever outgrow the buffer.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    keys = ProviderKeys(None)

    def whoami(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """A resource server: trusts the bearer token only after checking it with the provider."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 401, {"error": "no bearer token"}
        try:
            claims = self.keys.verify(token.strip())
        except (JOSEError, OSError, ValueError) as exc:
            return 401, {"error": f"token refused: {type(exc).__name__}"}
        return 200, {"verified": "signature, issuer and expiry checked against the provider's JWKS",
                     "sub": claims.get("sub"), "groups": claims.get("groups", []), "scope": claims.get("scope"),
                     "expiresAt": claims.get("exp"), "miauserid": headers.get("miauserid", "")}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        headers = {k.lower(): v for k, v in self.headers.items()}
        status = 200
        if self.path.split("?")[0].startswith("/api/"):
            status, answer = self.whoami(headers)
            body, kind = json.dumps(answer).encode() + b"\n", "application/json"
        elif self.path.split("?")[0] in ("/spa", "/spa/"):
            body, kind = SPA.read_bytes(), "text/html; charset=utf-8"
        elif "application/json" in headers.get("accept", ""):
            shown = {k: v for k, v in headers.items() if k not in REDACTED}
            body, kind = json.dumps({"path": self.path, "headers": shown}).encode() + b"\n", "application/json"
        else:
            body, kind = page(self.path, headers).encode(), "text/html; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--provider-url", default=None, help="the OIDC provider whose access tokens /api/ accepts")
    args = parser.parse_args()
    Handler.keys = ProviderKeys(args.provider_url)
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
