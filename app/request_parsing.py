"""Request parsing: what the views, the /auth edge and the uWSGI group read from a request,
in one place that turns bad input into a 4xx (form and JSON bodies, query strings, the login
page's return target, the Cookie header, the check request from the WSGI environ and its socket
peer). Parsing only: answers, pages and cookies are written elsewhere (app/responses.py, the
blueprints). Named for what it does rather than `http`, which would shadow the standard
library's `http` for any code that has app/ on its import path, and make every reader ask which
of the two is meant."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import quote

from flask import request
from marshmallow import Schema, ValidationError
from werkzeug.http import parse_cookie

from .core.errors import BadRequest, GatehouseError, InvalidRequest
from .core.issuer.machine_tokens import TokenRequest
from .core.check.policy.dialects import CheckRequest
from .schemas import problems

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# A Cookie header of plain `name=value` pairs (`; ` or `;` between them, ASCII, nothing quoted or
# padded): werkzeug's parse_cookie reads it as a split on `;` and `=` would, so it is read so.
PLAIN_COOKIES = re.compile(r'[^ \t=";]+=[^ \t";]*(?:; ?[^ \t=";]+=[^ \t";]*)*')


def token_request() -> TokenRequest:
    """The OAuth endpoints take form bodies only (RFC 6749 §3.2)."""
    if request.mimetype != FORM:
        raise InvalidRequest(f"the body must be {FORM}")
    form = {key: request.form.getlist(key) for key in request.form.keys()}
    return TokenRequest(authorization=request.headers.get("Authorization"), form=form,
                        source=request.remote_addr or "unknown")


def load_json(schema: Schema, error: type[GatehouseError] = BadRequest) -> dict[str, Any]:
    """Validate a JSON object body with one schema."""
    body = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if not isinstance(body, dict):
        raise error("the body must be a JSON object (Content-Type: application/json)")
    try:
        return schema.load(body)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise error(problems(exc)) from exc


def load_args(schema: Schema) -> dict[str, Any]:
    """Validate the query string with one schema (a repeated parameter counts once)."""
    try:
        return schema.load(request.args.to_dict())  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise BadRequest(problems(exc)) from exc


def login_page_redirect() -> str | None:
    """`redirect` (or ingress-nginx's `rd`) of /web-login. nginx's login redirect appends the
    original URI unencoded (`/web-login?redirect=/a?b=1&c=2`: nginx cannot URL-encode), so a
    value that starts with a raw `/` is everything after `redirect=`, kept byte for byte: never
    decoded, since it is already a URI (`/search?q=a%26b` must come back as it was). An encoded value
    (`redirect=%2Fa%3Fb%3D1`, `redirect=https%3A...`) or one beside `appId` without a query of
    its own is a parameter like any other, decoded once; either way it is validated."""
    raw = request.query_string.decode("latin-1")
    if raw.startswith("redirect=/"):
        target = raw[len("redirect="):]
        if "?" in target or "appId" not in request.args:
            return target
    # ingress-nginx's auth-signin appends `rd=<scheme>://<host><escaped request URI>`: the same
    # return target under its name, validated by the same validator.
    redirect, rd = request.args.get("redirect"), request.args.get("rd")
    if redirect and rd and redirect != rd:
        raise BadRequest("give the return target as redirect or as rd, not both")
    return redirect or rd


def parse_cookies(header: str) -> Mapping[str, str]:
    """werkzeug's reading of a Cookie header; plain pairs without its general parser."""
    if header.isascii() and PLAIN_COOKIES.fullmatch(header):
        cookies: dict[str, str] = {}
        for pair in header.split(";"):
            name, _, value = pair.lstrip(" ").partition("=")
            cookies.setdefault(name, value)
        return cookies
    return parse_cookie(header)


def origin_path(path: str) -> str:
    """The path of an absolute-form request target (`http://host/auth`, RFC 9112 §3.2.2), which
    uWSGI's HTTP socket leaves whole in PATH_INFO where gunicorn parses it; any other path as it is.
    So a check path called in absolute form is a check path under either server (an empty answer)."""
    if path.startswith("/"):
        return path
    scheme, sep, rest = path.partition("://")
    if not sep or not scheme.isalpha():
        return path
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


@dataclass(frozen=True)
class SocketPeer:
    """What app/serving/uwsgi_app.py finds on each request under uWSGI, from the connection itself: the peer's
    address on the HTTP socket; None on the uwsgi socket, whose REMOTE_ADDR is whatever the sender
    wrote in its packet (nginx's `uwsgi_param REMOTE_ADDR $remote_addr`: the end client). An object,
    not a string: no request variable a sender writes can pass for it."""

    address: str | None


SOCKET_PEER = "gatehouse.socket_peer"


def socket_peer(environ: Mapping[str, Any]) -> str | None:
    """The address of the check request's real socket peer, the only one TRUSTED_PROXY_CIDRS judges:
    gunicorn's REMOTE_ADDR (its own accept's); under uWSGI (its Python plugin sets `uwsgi.version`
    itself) the SocketPeer of app/serving/uwsgi_app.py, and None without one."""
    if "uwsgi.version" not in environ:
        return environ.get("REMOTE_ADDR")
    peer = environ.get(SOCKET_PEER)
    return peer.address if isinstance(peer, SocketPeer) else None


def check_request(environ: Mapping[str, Any], prefix: str = "") -> CheckRequest:
    """The check request as the forward-auth dialects read it: the socket peer's address, method, and
    the request-target as received (gunicorn's RAW_URI; else the path re-quoted) below the prefix."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not isinstance(raw, str) or not raw.startswith("/"):
        path = (environ.get("SCRIPT_NAME") or "") + origin_path(environ.get("PATH_INFO") or "")
        query = environ.get("QUERY_STRING") or ""
        raw = quote(path.encode("latin-1", "replace"), safe="/;=,:@!$&'()*+~-._") + (f"?{query}" if query else "")
    root = (environ.get("SCRIPT_NAME") or "") + prefix
    if root and raw.startswith(root):
        raw = raw[len(root):]
    return CheckRequest(socket_peer(environ), environ.get("REQUEST_METHOD") or "", raw)
