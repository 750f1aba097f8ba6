"""The gateway edge through real nginx with the shipped config (issue 12): nothing a client sends
can choose its own policy, crash the check, or reach the upstream unjudged.

One stack per server of the /auth group, as production runs it: the `all` group under gunicorn,
the check group under uWSGI (`gatehouse serve-check`, nginx's uwsgi_pass: the shipped default) or
under gunicorn (CHECK_SERVER=gunicorn, HTTP); Debian's nginx with a back-office listener, an
upstream that records what it received, and a local issuer for user tokens. A row whose answer
depends on the server names each. Every row of the
table is sent as raw bytes (so `#`, raw non-ASCII and absolute-form targets reach nginx as
written) and asserts the status, what the upstream received (or that it received nothing), and
that nothing was written to MongoDB or Redis.
"""
from __future__ import annotations

import http.client
import json
import socket
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

import pymongo
import pytest
import redis
from hypothesis import HealthCheck, example, given, settings, strategies as st

from app.serving.nginx_config import UPSTREAM_HEADERS, header_names
from tests.conftest import ADMIN_TOKEN, ISSUER, store_state
from tests.e2e.conftest import start_gunicorn, start_nginx, start_uwsgi_check, stop
from tests.support.issuer import LocalIssuer, padding_for
from tests.support.peers import json_server
from tests.support.servers import free_port

ROUTES = {
    "/": {"ALL": {"authorization": {"expression": "groups.users"}}},
    "/public": {"ALL": {"authorization": {"expression": "true", "public": True}}},
    "/orders": {"GET": {"authorization": {"expression": "groups.admin"}},
                "DELETE": {"authorization": {"expression": "groups.admin"},
                           "backofficeAuthorization": {"expression": "groups.staff"}}},
    "/admin": {"GET": {"authorization": {"expression": "groups.admin"}}},
    "/tracks/": {"ALL": {"authorization": {"expression": "groups.admin"}, "headers": {"usagePlan": "x-usage-plan"}}},
}


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def raw(port: int, method: str, target: bytes | str, headers: list[tuple[str, bytes | str]] = ()) -> Answer:
    """One HTTP/1.1 request written byte for byte; the whole answer (Connection: close)."""
    def b(value: bytes | str) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")
    head = b(method) + b" " + b(target) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    head += b"".join(b(k) + b": " + b(v) + b"\r\n" for k, v in headers) + b"\r\n"
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        try:
            sock.sendall(head)
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # a server that refuses a request by closing the connection
    if not data:
        return Answer(0, [], b"")  # closed without an answer
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    parsed = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
    answer = Answer(int(lines[0].split()[1]), parsed, body)  # type: ignore[arg-type]
    if (answer.header("Transfer-Encoding") or "").lower() == "chunked":
        answer.body = _dechunk(body)
    return answer


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, body = body.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        out, body = out + body[:n], body[n + 2:]
    return out


class Recorder:
    """The protected upstream: answers 200 and keeps every request it received."""

    def __init__(self) -> None:
        # http.server refuses more than 100 header lines (431); this upstream takes what nginx sends.
        http.client._MAXHEADERS = 100_000  # type: ignore[attr-defined]
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server, url = json_server(self.answer)
        self.port = int(url.rsplit(":", 1)[1])

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        with self.lock:
            self.seen.append({"method": method, "path": path,
                              "headers": [(k.lower(), v) for k, v in headers.items()]})
        return 200, {"ok": True}

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            seen, self.seen = self.seen, []
        return seen


@dataclass
class Stack:
    nginx: int
    backoffice: int
    check: int
    gatehouse: int
    upstream: Recorder
    issuer: LocalIssuer
    redis_client: redis.Redis
    mongo_db: pymongo.database.Database

    folder: Any = None
    gatehouse_url: str = ""
    check_url: str = ""  # the check group's address as nginx reaches it (uwsgi://… or http://…)
    server: str = "uwsgi"  # the server of the /auth group
    logs: Any = None  # where the two groups write their log lines (tests/e2e/conftest.py)

    def token(self, **claims: Any) -> str:
        return self.issuer.token(**claims)

    def stores(self) -> tuple[int, str]:
        """Redis's write counter and a digest of every MongoDB document (tests/conftest.py)."""
        return store_state(self.redis_client, self.mongo_db)

    def log_lines(self, group: str, wait: float = 5, **match: Any) -> list[dict[str, Any]]:
        """The JSON lines of a log with these fields, waiting up to 5 s for one (uWSGI's and
        nginx's access log are written a moment later): `check` (the /auth group's decision
        log), `gatehouse` (the `all` group) or `nginx` (its access log). `wait`: 0 to read once."""
        path = {"check": self.logs / f"{'uwsgi' if self.server == 'uwsgi' else 'gunicorn'}-{self.check}.log",
                "gatehouse": self.logs / f"gunicorn-{self.gatehouse}.log",
                "nginx": self.logs / f"nginx-{self.nginx}" / "access.log"}[group]
        deadline = time.monotonic() + wait
        while True:
            # other tests' lines may hold bytes that are not UTF-8 (raw non-ASCII targets)
            lines = [json.loads(line) for line in path.read_text(errors="replace").splitlines()
                     if line.startswith("{")]
            found = [line for line in lines if all(line.get(k) == v for k, v in match.items())]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)  # poll interval: the line is written by another process


@pytest.fixture(scope="module", params=["uwsgi", "gunicorn"])
def stack(request, redis_server, mongo_server, key_files, tmp_path_factory):
    """The stack with the /auth group under `request.param`: uWSGI (`gatehouse serve-check`, the
    shipped default, nginx's uwsgi_pass) or gunicorn (CHECK_SERVER=gunicorn, HTTP)."""
    folder = tmp_path_factory.mktemp("edge")
    runtime = tmp_path_factory.mktemp("edge-nginx")
    issuer = LocalIssuer()
    upstream = Recorder()
    (folder / "auth.json").write_text(json.dumps(ROUTES))
    (folder / "gatehouse.json").write_text(json.dumps(
        {"issuers": [{"issuer": issuer.url, "audience": ["gloo-api"], "jwks_uri": f"{issuer.url}/jwks"}]}))
    redis.Redis.from_url(redis_server.url).flushdb()
    database = f"edge{uuid.uuid4().hex[:10]}"
    env = {"MONGODB_URL": f"{mongo_server.url}/{database}", "REDIS_URL": redis_server.url,
           "PRIVATE_RSA_KEY_FILE_PATH": str(key_files["rsa"]), "PRIVATE_RSA_KEY_ID": "test-rsa",
           "CLIENT_ID_HASH_SALT": "salt-" + "s" * 20, "CLIENT_SECRET_HASH_COST": "4", "MIA_JWT_ISSUER": ISSUER,
           "ADMIN_TOKEN": ADMIN_TOKEN, "DELAY_SHUTDOWN_SECONDS": "0", "LOG_LEVEL": "info",
           "ROUTES_FILE": str(folder / "auth.json"), "GATEHOUSE_CONFIG": str(folder / "gatehouse.json"),
           "USER_PROPERTIES_TO_PROXY": "name"}
    procs = []
    try:
        proc, gatehouse = start_gunicorn(env, folder, workers=1)
        procs.append(proc)
        if request.param == "uwsgi":
            proc, check, check_nginx = start_uwsgi_check(env, folder, processes=1)
        else:
            proc, check = start_gunicorn(env, folder, {"GATEHOUSE_ROLE": "check"}, workers=1)
            check_nginx = check
        procs.append(proc)
        backoffice = free_port()
        proc, base = start_nginx(folder, gatehouse, upstream.port, check=check_nginx, backoffice_port=backoffice)
        procs.append(proc)
        mongo = pymongo.MongoClient(mongo_server.url)
        yield Stack(nginx=int(base.rsplit(":", 1)[1]), backoffice=backoffice, check=int(check.rsplit(":", 1)[1]),
                    gatehouse=int(gatehouse.rsplit(":", 1)[1]), upstream=upstream, issuer=issuer,
                    redis_client=redis.Redis.from_url(redis_server.url), mongo_db=mongo[database],
                    folder=runtime, gatehouse_url=gatehouse, check_url=check_nginx,
                    server=request.param, logs=folder)
        mongo.close()
    finally:
        for proc in reversed(procs):
            stop(proc)
        upstream.server.shutdown()
        issuer.close()


JSON = ("Accept", "application/json")
BROWSER = ("Accept", "text/html,application/xhtml+xml")
PAD = "p" * 10_000


def bearer(**claims: Any) -> Callable[[Stack], tuple[str, str]]:
    return lambda s: ("Authorization", f"Bearer {s.token(**claims)}")


STAFF = bearer(groups=["staff"])
BOB = bearer(sub="bob", groups=["users"])  # allowed under `/`, not on /admin
ADMIN = bearer(groups=["admin"], name="Ada")


@dataclass
class Row:
    name: str
    method: str
    target: bytes | str
    headers: list[Any] = field(default_factory=list)  # (name, value) or a callable of the stack
    status: int | dict[str, int] = 200  # or per server of the /auth group; 0: closed, no answer
    upstream: dict[str, str | None] | None = None  # header -> value (None: absent); None: not reached
    listener: str = "nginx"
    body: Callable[[Answer], bool] | None = None


def absent(*names: str) -> dict[str, str | None]:
    return {name: None for name in names}


def sized(size: int, **claims: Any) -> Callable[[Stack], tuple[str, str]]:
    """A valid bearer token of the stack's issuer, `size` characters long give or take 4."""
    def make(s: Stack) -> tuple[str, str]:
        token = s.token(**claims, **padding_for(lambda more: s.token(**claims, **more), size))
        assert abs(len(token) - size) <= 4, len(token)
        return "Authorization", f"Bearer {token}"
    return make


def too_large(a: Answer) -> bool:
    body = json.loads(a.body)
    return a.status == 431 and without_id(body) == {"statusCode": 431, "error": "Request Header Fields Too Large",
                                                    "message": "request headers too large"}


def without_id(body: dict[str, Any]) -> dict[str, Any]:
    """A JSON error body but its `requestId`, which every one carries (a safe id)."""
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,128}", body.get("requestId") or ""), body
    return {k: v for k, v in body.items() if k != "requestId"}


# Each limit, from just under it to just over it: what passes, and what the caller gets past it
# (docs/proxies.md "Limits"). Sizes are of the whole line as nginx reads it ("X-Pad: " is 7 bytes).
GROUPS_16K = [f"g{i:03d}-" + "x" * 77 for i in range(200)] + ["admin"]  # 16,605 bytes joined: over
LIMIT_ROWS = [
    Row("header line just under 40 KB", "GET", "/public", [("X-Pad", "p" * (40 * 1024 - 7 - 4))], 200),
    Row("header line just over 40 KB: 431 JSON", "GET", "/public", [("X-Pad", "p" * (40 * 1024 - 7 + 4))], 431,
        body=too_large),
    Row("request line just under 40 KB", "GET", "/public?q=" + "a" * (40 * 1024 - 30), [], 200),
    Row("request line just over 40 KB: 414 JSON", "GET", "/public?q=" + "a" * (40 * 1024 + 10), [], 414,
        body=lambda a: json.loads(a.body)["message"] == "request line too long"),
    # total: over uwsgi_pass the check's request is one uwsgi packet (65,535 bytes); over HTTP what
    # nginx's four 40 KB buffers hold
    Row("60 KB of headers", "GET", "/public", [(f"X-P{i}", "p" * 15_000) for i in range(4)], 200),
    Row("75 KB of headers: over the uwsgi packet", "GET", "/public", [(f"X-P{i}", "p" * 15_000) for i in range(5)],
        {"uwsgi": 431, "gunicorn": 200}, body=lambda a: a.status == 200 or too_large(a)),
    Row("150 KB of headers", "GET", "/public", [(f"X-P{i}", "p" * 37_500) for i in range(4)],
        {"uwsgi": 431, "gunicorn": 200}, body=lambda a: a.status == 200 or too_large(a)),
    Row("over 160 KB of headers: nginx's 431", "GET", "/public", [(f"X-P{i}", "p" * 40_000) for i in range(5)], 431,
        body=too_large),
    # token length: 32,768 characters, own or another issuer's
    Row("bearer token just under 32,768 characters", "GET", "/admin", [sized(32_768 - 8, groups=["admin"])], 200,
        {"miausergroups": "admin"}),
    Row("bearer token just over 32,768 characters: 401 naming the limit", "GET", "/admin",
        [sized(32_768 + 8, groups=["admin"]), JSON], 401,
        body=lambda a: "over Gatehouse's limit of 32,768" in (a.header("WWW-Authenticate") or "")),
    Row("a 33 KB token that is not a JWT: 401 naming the limit", "GET", "/admin",
        [("Authorization", "Bearer " + "a" * 33_000), JSON], 401,
        body=lambda a: "33,000 characters, over Gatehouse's limit" in (a.header("WWW-Authenticate") or "")),
    # answer: each identity value up to MAX_HEADER_VALUE_BYTES (16 KB), left out past it; nginx reads
    # the check's answer into 64 KB (its 4 KB default made such answers a 500)
    Row("200 groups of 40 characters reach the upstream", "GET", "/admin",
        [bearer(groups=[f"g{i:03d}-" + "x" * 35 for i in range(199)] + ["admin"])], 200,
        {"miausergroups": ",".join(sorted([f"g{i:03d}-" + "x" * 35 for i in range(199)] + ["admin"]))}),
    Row("groups over 16 KB are left out, the request still judged", "GET", "/admin", [bearer(groups=GROUPS_16K)],
        200, {"miausergroups": None}),
    # the identity of a 31 KB token: 11 KB of groups and an 11 KB name in one answer
    Row("a 22 KB answer", "GET", "/admin", [bearer(groups=GROUPS_16K[:135] + ["admin"], name="n" * 11_000)], 200,
        {"miausergroups": ",".join(sorted(GROUPS_16K[:135] + ["admin"])),
         "miauserproperties": json.dumps({"name": "n" * 11_000}, separators=(",", ":"))}),
]


ROWS = [
    # 1. the back-office policy is chosen by the listener, never by the client
    Row("isbackoffice true ignored", "DELETE", "/orders", [STAFF, ("isbackoffice", "true")], 403),
    Row("IsBackoffice 1 ignored", "DELETE", "/orders", [STAFF, ("IsBackoffice", "1")], 403),
    Row("isbackoffice yes ignored", "DELETE", "/orders", [STAFF, ("isbackoffice", "yes")], 403),
    Row("back-office listener applies backofficeAuthorization", "DELETE", "/orders", [STAFF], 200,
        {"isbackoffice": "true", "miausergroups": "staff"}, listener="backoffice"),
    Row("client isbackoffice never reaches the upstream", "DELETE", "/orders", [ADMIN, ("isbackoffice", "true")], 200,
        absent("isbackoffice")),
    # 2. anything nginx accepts gets 2xx/401/403 (never a 500 from a limit)
    Row("10000-byte header on a protected route", "GET", "/orders", [("X-Pad", PAD), JSON], 401),
    Row("10000-byte header on a public route", "GET", "/public", [("X-Pad", PAD)], 200, {"x-pad": PAD}),
    Row("110 header lines", "GET", "/public", [(f"X-H{i}", "v") for i in range(110)], 200, {"x-h109": "v"}),
    Row("800 header lines", "GET", "/orders", [(f"X-H{i}", "v") for i in range(800)] + [JSON], 401),
    # nginx takes at most 1,000 header lines (Host, Connection and Accept are three of these)
    Row("1000 header lines, nginx's most", "GET", "/orders", [("a", "")] * 997 + [JSON], 401),
    Row("1001 header lines: nginx's own 431", "GET", "/orders", [("a", "")] * 998 + [JSON], 431, body=too_large),
    Row("four 15 KB header lines", "GET", "/orders", [(f"X-P{i}", "p" * 15_000) for i in range(4)] + [JSON], 401),
    # over the uwsgi protocol the check's request holds at most 65,535 bytes: nginx cannot send this
    # one (its URI travels again in X-Original-URI), and answers 400 instead of asking
    Row("16 KB request line and three 16 KB header lines", "GET", "/orders?q=" + "q" * 16_300,
        [(f"X-P{i}", "p" * 16_300) for i in range(3)] + [JSON], {"uwsgi": 431, "gunicorn": 401},
        body=lambda a: a.status == 401 or json.loads(a.body)["message"] == "request headers too large"),
    Row("too many header lines: nginx's own 431", "GET", "/public", [(f"X-H{i}", "v") for i in range(5000)], 431,
        body=too_large),
    # gunicorn refuses a control character in a header value (nginx then answers 400); uWSGI takes it
    Row("control character in a header value", "GET", "/public", [("X-Note", "a\x01b"), JSON],
        {"uwsgi": 200, "gunicorn": 400}, body=lambda a: a.status == 200 or json.loads(a.body)["statusCode"] == 400),
    Row("9 KB query", "GET", "/public?q=" + "a" * 9000, [], 200),
    Row("10 KB cookie", "GET", "/orders", [("Cookie", "c=" + "x" * 10_000), JSON], 401),
    Row("15 KB header line", "GET", "/orders", [("X-Pad", "p" * 15_000), JSON], 401),
    Row("control character in a credential", "GET", "/orders", [("Authorization", "Bearer \x7f"), JSON],
        {"uwsgi": 401, "gunicorn": 400}),
    Row("contradictory scheme headers", "GET", "/public", [("X-Forwarded-Proto", "https"),
                                                          ("X-Forwarded-Ssl", "off")], 200),
    *LIMIT_ROWS,
    Row("malformed request: 400 JSON", "GET", "/public/../../x", [], 400,
        body=lambda a: json.loads(a.body)["statusCode"] == 400),
    Row("body over 1 MB: 413 JSON", "POST", "/public", [("Content-Length", str(2 << 20))], 413,
        body=lambda a: json.loads(a.body)["statusCode"] == 413),
    # 3. identity values outside Latin-1 reach the upstream encoded, ASCII ones as Mia sends them
    Row("Cyrillic group", "GET", "/admin", [bearer(groups=["Администраторы", "admin"])], 200,
        {"miausergroups": "UTF-8''%D0%90%D0%B4%D0%BC%D0%B8%D0%BD%D0%B8%D1%81%D1%82%D1%80%D0%B0%D1%82%D0%BE%D1%80%D1%8B,admin"}),
    Row("CJK group", "GET", "/admin", [bearer(groups=["管理员", "admin"])], 200,
        {"miausergroups": "UTF-8''%E7%AE%A1%E7%90%86%E5%91%98,admin"}),
    Row("Unicode name in miauserproperties stays JSON", "GET", "/admin", [bearer(groups=["admin"], name="開発者")], 200,
        {"miauserproperties": '{"name":"\\u958b\\u767a\\u8005"}'}),
    Row("Unicode user id", "GET", "/admin", [bearer(groups=["admin"], sub="Jürgen")], 200,
        {"miauserid": "UTF-8''J%C3%BCrgen"}),
    Row("Unicode route claim header", "GET", "/tracks/1", [bearer(groups=["admin"], usagePlan="✓ gold")], 200,
        {"x-usage-plan": "UTF-8''%E2%9C%93%20gold"}),
    Row("ASCII values keep Mia's form", "GET", "/tracks/1", [bearer(groups=["admin", "ops"], usagePlan="gold")], 200,
        {"miausergroups": "admin,ops", "x-usage-plan": "gold", "miauserid": "user-1"}),
    # 4 and 11. the path table: refused spellings are 400 and never reach the upstream
    Row("raw # with dot segments", "GET", "/public#/../admin", [JSON], 400),
    Row("raw # alone", "GET", "/public#x", [JSON], 400),
    Row("path parameter ;", "GET", "/admin;x=1", [ADMIN, JSON], 400),
    Row("encoded ;", "GET", "/admin%3Bx=1", [JSON], 400),
    Row("upper case picks another route", "GET", "/ADMIN", [JSON], 400),
    Row("upper case of a public route", "GET", "/PUBLIC", [JSON], 400),
    Row("trailing dot", "GET", "/admin.", [JSON], 400),
    Row("trailing encoded space", "GET", "/admin%20", [JSON], 400),
    Row("double encoding", "GET", "/%2561dmin", [JSON], 400),
    Row("full-width letters, encoded", "GET", "/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E", [JSON], 400),
    Row("full-width letters, raw", "GET", "/ａｄｍｉｎ".encode(), [JSON], 400),
    Row("raw non-ASCII", "GET", "/caf\xc3\xa9".encode("latin-1"), [JSON], 400),
    Row("dot segments", "GET", "/public/../admin", [JSON], 400),
    Row("encoded dot segments", "GET", "/public/%2e%2e/admin", [JSON], 400),
    Row("encoded slashes and dots", "GET", "/public%2F..%2Fadmin", [JSON], 400),
    Row("encoded backslash", "GET", "/public%5C..%5Cadmin", [JSON], 400),
    Row("encoded NUL", "GET", "/public%00", [JSON], 400),
    Row("encoded tab", "GET", "/admin%09", [JSON], 400),
    Row("leading encoded space", "GET", "/%20admin", [JSON], 400),
    Row("decomposed accent (NFKC changes it)", "GET", "/cafe%CC%81", [JSON], 400),
    Row("raw backslash", "GET", "/public\\..\\admin", [JSON], 400),
    Row("case that picks the same route is judged as spelled", "GET", "/Other/1", [ADMIN, JSON], 403),
    # issue 22 item 5: look-alikes of /admin that bob (group users) was allowed under `/`
    Row("bob on /admin", "GET", "/admin", [BOB, JSON], 403),
    Row("bob under /", "GET", "/other", [BOB], 200, {"miauserid": "bob"}),
    Row("bob: dotless ı", "GET", "/adm%C4%B1n", [BOB, JSON], 400),
    Row("bob: dotted İ, upper case", "GET", "/ADM%C4%B0N", [BOB, JSON], 400),
    Row("bob: dotted İ", "GET", "/adm%C4%B0n", [BOB, JSON], 400),
    Row("bob: combining dot above", "GET", "/admi%CC%87n", [BOB, JSON], 400),
    Row("bob: ï and a combining diaeresis", "GET", "/adm%C3%AF%CC%88n", [BOB, JSON], 400),
    Row("bob: soft hyphen", "GET", "/adm%C2%ADin", [BOB, JSON], 400),
    Row("bob: encoded ?", "GET", "/admin%3Fx=1", [BOB, JSON], 400),
    Row("bob: encoded ?, lower-case hex", "GET", "/admin%3fx=1", [BOB, JSON], 400),
    Row("bob: encoded #", "GET", "/admin%23frag", [BOB, JSON], 400),
    Row("bob: an accent that picks the same route", "GET", "/caf%C3%A9", [BOB], 200, {"miauserid": "bob"}),
    Row("bytes that are not UTF-8", "GET", "/%FF", [JSON], 400),
    Row("asterisk-form target", "OPTIONS", "*", [JSON], 400),
    Row("repeated slashes are collapsed", "GET", "//public", [], 200),
    Row("encoded slash is a separator", "GET", "/tracks%2F1", [ADMIN], 200, {"x-usage-plan": None}),
    Row("percent-encoded UTF-8 is judged decoded", "GET", "/caf%C3%A9", [JSON], 401),
    Row("encoded # in the query", "GET", "/public?x=%23y", [], 200),
    Row("lower case is exact", "GET", "/public/x", [], 200),
    # 5. the login redirect keeps the original URI byte for byte
    Row("browser login redirect", "GET", "/whoami?q=rock%20%26%20roll&plus=1%2B1", [BROWSER], 302,
        body=lambda a: a.header("Location").endswith("/web-login?redirect=/whoami?q=rock%20%26%20roll&plus=1%2B1")),
    # 6. one WWW-Authenticate
    Row("one WWW-Authenticate", "GET", "/orders", [JSON], 401,
        body=lambda a: len(a.all("WWW-Authenticate")) == 1 and json.loads(a.body)["statusCode"] == 401),
    Row("one WWW-Authenticate, refused token", "GET", "/orders", [("Authorization", "Bearer a.b.c"), JSON], 401,
        body=lambda a: a.all("WWW-Authenticate") == ['Bearer realm="gatehouse", error="invalid_token"']),
    # 7 and 10. 403: HTML page for a browser navigation, JSON for API callers
    Row("403 for an API caller is JSON", "GET", "/admin", [STAFF, JSON], 403,
        body=lambda a: without_id(json.loads(a.body)) == {"statusCode": 403, "error": "Forbidden",
                                                          "message": "not allowed"}),
    Row("403 for a browser is a page", "GET", "/admin?x=1", [STAFF, BROWSER], 403,
        body=lambda a: a.header("Content-Type").startswith("text/html") and b"user-1" in a.body
        and b"Sign out" in a.body and b"/admin?x=1" in a.body and a.header("X-Frame-Options") == "DENY"
        and "frame-ancestors 'none'" in a.header("Content-Security-Policy")),
    Row("the login page cannot be framed", "GET", "/web-login", [BROWSER], 404,
        body=lambda a: a.header("X-Frame-Options") == "DENY"
        and "frame-ancestors 'none'" in a.header("Content-Security-Policy")),
    Row("error pages cannot be framed", "GET", "/userinfo", [BROWSER], 404,
        body=lambda a: a.header("Content-Type").startswith("text/html") and a.header("X-Frame-Options") == "DENY"),
    # 8. every answer on the check paths is empty (the check group, called directly)
    Row("check: /auth/", "GET", "/auth/", [], 403, listener="check", body=lambda a: a.body == b""),
    Row("check: /auth//x", "GET", "/auth//x", [], 403, listener="check", body=lambda a: a.body == b""),
    Row("check: TRACE", "TRACE", "/auth", [], 405, listener="check", body=lambda a: a.body == b""),
    Row("check: CONNECT", "CONNECT", "/auth/x", [], 405, listener="check", body=lambda a: a.body == b""),
    # uWSGI leaves an absolute-form target whole in PATH_INFO; gunicorn parses it: both are checks
    Row("check: absolute-form target", "GET", "http://127.0.0.1/auth", [], 403, listener="check",
        body=lambda a: a.body == b""),
    Row("check: absolute-form, below /auth, TRACE", "TRACE", "http://127.0.0.1/auth/x?y", [], 405, listener="check",
        body=lambda a: a.body == b""),
    Row("check: 20 KB cookie", "GET", "/auth", [("X-Original-URI", "/orders"), ("X-Original-Method", "GET"),
                                                ("Cookie", "c=" + "x" * 20_000)], 401, listener="check",
        body=lambda a: a.body == b""),
    # past its limits gunicorn answers 431 (empty); uWSGI closes the connection without an answer
    Row("check: a 200 KB header is refused, no body", "GET", "/auth", [("X-Pad", "p" * 200_000)],
        {"uwsgi": 0, "gunicorn": 431}, listener="check", body=lambda a: a.body == b""),
    Row("check: malformed header is empty", "GET", "/auth", [("X-Note", "a\x01b")], {"uwsgi": 403, "gunicorn": 400},
        listener="check", body=lambda a: a.body == b""),
    Row("check: refused path is flagged", "GET", "/auth", [("X-Original-URI", "/admin;x"),
                                                           ("X-Original-Method", "GET")], 403, listener="check",
        body=lambda a: a.body == b"" and a.header("gatehouse-refused") == "request-target"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_edge(stack: Stack, row: Row) -> None:
    port = {"nginx": stack.nginx, "backoffice": stack.backoffice, "check": stack.check}[row.listener]
    headers = [h(stack) if callable(h) else h for h in row.headers]
    stack.upstream.take()
    before = stack.stores()
    answer = raw(port, row.method, row.target, headers)
    status = row.status[stack.server] if isinstance(row.status, dict) else row.status
    assert answer.status == status, answer.body[:300]
    seen = stack.upstream.take()
    if row.upstream is None and status != 200:
        assert seen == [], "a refused request never reaches the upstream"
    if row.upstream is not None:
        assert len(seen) == 1
        received = dict(seen[0]["headers"])
        for name, value in row.upstream.items():
            assert received.get(name) == value, (name, received.get(name))
    if row.body is not None:
        assert row.body(answer), (answer.headers, answer.body[:500])
    assert stack.stores() == before, "nothing is written to MongoDB or Redis"


def test_unicode_identity_values_decode_losslessly(stack: Stack) -> None:
    """What the upstream receives decodes back to the token's values (RFC 8187 ext-value)."""
    groups = ["Администраторы", "管理员", "開発者", "admin", "UTF-8''looks-encoded", "ops"]
    answer = raw(stack.nginx, "GET", "/admin", [bearer(groups=groups, name="Zoë ✓")(stack)])
    assert answer.status == 200
    received = dict(stack.upstream.take()[0]["headers"])
    decoded = {unquote(g[7:]) if g.startswith("UTF-8''") else g for g in received["miausergroups"].split(",")}
    assert decoded == set(groups)
    assert json.loads(received["miauserproperties"]) == {"name": "Zoë ✓"}


FORGED = "forged-by-client"
# Host and Authorization are the client's own (Authorization replaced by the BFF's token only).
UPSTREAM_LIST = [(n, v) for n, v in header_names(UPSTREAM_HEADERS) if n not in ("Host", "Authorization")]


@pytest.mark.parametrize("name,value", UPSTREAM_LIST, ids=[n for n, _ in UPSTREAM_LIST])
def test_identity_and_policy_headers_from_the_client_never_reach_the_upstream(stack: Stack, name: str,
                                                                              value: str) -> None:
    """Every header of the shipped list is set by nginx or dropped, whatever the client sent."""
    stack.upstream.take()
    answer = raw(stack.nginx, "GET", "/public", [(name, FORGED)])
    assert answer.status == 200
    received = stack.upstream.take()[0]["headers"]
    assert all(v != FORGED for k, v in received if k == name.lower()), received


def test_the_upstream_list_names_the_issue_headers() -> None:
    names = {n.lower() for n, _ in UPSTREAM_LIST}
    for wanted in ("isbackoffice", "miauserid", "miausergroups", "miauserproperties", "miaclienttype", "client-type",
                   "mia-userid", "mia-groups", "x-auth-request-user", "x-auth-request-email", "x-forwarded-user",
                   "x-remote-user", "x-http-method-override"):
        assert wanted in names


# Header names of the characters nginx passes on (and `_`, which it drops); values of any byte
# nginx accepts in a header line.
NAMES = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=40)
VALUES = st.binary(max_size=2000).map(lambda b: bytes(c for c in b if c not in b"\r\n\x00").strip(b" \t"))
BIG = st.integers(0, 15_000).map(lambda n: b"v" * n)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(headers=st.lists(st.tuples(NAMES, st.one_of(VALUES, BIG)), max_size=40),
       target=st.sampled_from(["/public", "/orders", "/admin", "/tracks/1"]),
       with_token=st.booleans())
def test_any_headers_nginx_accepts_never_yield_a_5xx(stack: Stack, headers, target, with_token) -> None:
    sent = [(n.encode(), v) for n, v in headers if n.lower() not in ("host", "connection", "content-length",
                                                                     "transfer-encoding", "expect", "upgrade")]
    if with_token:
        sent.append((b"Authorization", f"Bearer {stack.token(groups=['admin'])}".encode()))
    answer = raw(stack.nginx, "GET", target, sent)
    assert answer.status < 500, (answer.status, [(n, v[:80]) for n, v in sent])
    stack.upstream.take()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(lines=st.integers(0, 1_000), name=NAMES, value=st.one_of(VALUES, st.integers(0, 200).map(lambda n: b"v" * n)),
       big=st.lists(st.integers(0, 16_370), max_size=4), query=st.integers(0, 16_370),
       target=st.sampled_from(["/public", "/orders", "/admin"]), with_token=st.booleans())
def test_header_counts_and_sizes_up_to_nginx_limits_never_yield_a_5xx(stack: Stack, lines, name, value, big, query,
                                                                      target, with_token) -> None:
    """Up to nginx's limits in count (1,000 header lines), line length (40 KB, request line too) and
    total (4 × 40 KB buffers): nginx's own 4xx or the check's answer, never a 5xx."""
    sent: list[tuple[str | bytes, str | bytes]] = [(f"X-B{i}", "b" * n) for i, n in enumerate(big)]
    if name.lower() not in ("host", "connection", "content-length", "transfer-encoding", "expect", "upgrade"):
        sent += [(name, value)] * lines
    if with_token:
        sent.append(("Authorization", f"Bearer {stack.token(groups=['admin'])}"))
    answer = raw(stack.nginx, "GET", f"{target}?q={'q' * query}", sent)
    assert answer.status < 500, (answer.status, lines, name, value[:40], big, query)
    stack.upstream.take()


# Request targets of any byte an HTTP/1.1 request line can carry (no space, CR, LF or NUL).
TARGET_BYTES = st.binary(min_size=0, max_size=300).map(lambda b: bytes(c for c in b if c not in b" \r\n\x00"))
SPELLINGS = st.lists(st.sampled_from([b"/", b"//", b".", b"..", b"%2e", b"%2f", b"%25", b"%00", b"#", b";", b"?",
                                      b"%", b"\\", b"admin", b"ADMIN", b"public", b"%EF%BD%81", b"\xef\xbd\x81",
                                      b"%C3%A9", b"\xff", b" "[:0], b"~", b"%5C", b"%3B", b"&", b"="]), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(tail=st.one_of(TARGET_BYTES, SPELLINGS.map(b"".join)), with_token=st.booleans())
@example(tail=b"/public", with_token=False)  # `//public`: the upstream gets it as sent
def test_any_request_target_nginx_accepts_never_yields_a_5xx_nor_an_unjudged_upstream_call(
        stack: Stack, tail: bytes, with_token: bool) -> None:
    """A refused spelling never reaches the upstream; an allowed one reaches it as sent."""
    target = b"/" + tail
    sent = [(b"Authorization", f"Bearer {stack.token(groups=['admin'])}".encode())] if with_token else []
    stack.upstream.take()
    answer = raw(stack.nginx, "GET", target, sent)
    assert answer.status < 500, (answer.status, target)
    seen = stack.upstream.take()
    if answer.status in (400, 401, 403, 414):
        assert seen == [], target
    elif answer.status == 200:
        assert [s["path"].encode("latin-1") for s in seen] == [target], "the upstream gets the target judged"


def test_a_cached_back_office_allow_is_never_reused_on_the_main_listener(stack: Stack) -> None:
    backoffice = free_port()
    proc, base = start_nginx(stack.folder, stack.gatehouse_url, stack.upstream.port, cache=True, cache_ttl="30s",
                             check=stack.check_url, backoffice_port=backoffice)
    try:
        staff = [STAFF(stack)]
        assert raw(backoffice, "DELETE", "/orders", staff).status == 200
        assert raw(int(base.rsplit(":", 1)[1]), "DELETE", "/orders", staff + [JSON]).status == 403
        assert raw(backoffice, "DELETE", "/orders", staff).status == 200
    finally:
        stop(proc)
        stack.upstream.take()


@pytest.mark.parametrize("target,status", [("http://127.0.0.1/public", 200), ("http://127.0.0.1/admin", 401),
                                           ("http://127.0.0.1/public/../admin", 400)])
def test_an_absolute_form_target_is_judged_as_the_origin_form_the_upstream_receives(stack: Stack, target: str,
                                                                                     status: int) -> None:
    """nginx turns `GET http://host/path` into the origin-form `/path` for both the check
    ($request_uri) and the upstream, so what is judged is what the upstream reads."""
    stack.upstream.take()
    assert raw(stack.nginx, "GET", target, [JSON]).status == status
    seen = stack.upstream.take()
    assert [s["path"] for s in seen] == (["/public"] if status == 200 else [])


def test_an_unreachable_check_group_fails_closed_with_500(stack: Stack) -> None:
    """Only a request nginx never sent to the check (too large for a uwsgi packet) is the client's
    400; a check group that cannot be reached is a failure: 500, nothing reaches the upstream."""
    scheme = stack.check_url.split(":", 1)[0]
    proc, base = start_nginx(stack.folder, stack.gatehouse_url, stack.upstream.port,
                             check=f"{scheme}://127.0.0.1:{free_port()}")
    try:
        stack.upstream.take()
        for target in ("/orders", "/public"):
            answer = raw(int(base.rsplit(":", 1)[1]), "GET", target, [JSON])
            assert (answer.status, json.loads(answer.body)["message"]) == (500, "authorization check failed")
        assert stack.upstream.take() == []
    finally:
        stop(proc)


# One id from the screen to the log: the client's X-Request-Id when safe (the pattern Gatehouse
# keeps), else nginx's own; unsafe ones are replaced and never echoed.
UNSAFE_IDS = ["t" * 129, "trace abc", "trace%0aabc", 'trace"abc']
NGINX_ID = r"[0-9a-f]{32}"


def chosen_id(answer_id: str, supplied: str | None) -> None:
    """The id an answer shows is the client's when it is safe, else one nginx made."""
    if supplied is not None and supplied not in UNSAFE_IDS:
        assert answer_id == supplied
    else:
        assert re.fullmatch(NGINX_ID, answer_id), answer_id


def with_id(supplied: str | None) -> list[tuple[str, str]]:
    return [] if supplied is None else [("X-Request-Id", supplied)]


@pytest.mark.parametrize("supplied", ["trace-abc-123", None, *UNSAFE_IDS])
def test_a_refusal_page_shows_the_id_of_its_decision_log_line(stack: Stack, supplied: str | None) -> None:
    answer = raw(stack.nginx, "GET", "/admin", [BOB(stack), BROWSER, *with_id(supplied)])
    assert answer.status == 403 and answer.header("Content-Type").startswith("text/html"), answer.body[:300]
    shown = re.search(rb'<code id="request-id">([^<]*)</code>', answer.body)
    assert shown, answer.body
    request_id = shown[1].decode()
    chosen_id(request_id, supplied)
    decisions = stack.log_lines("check", logger="gatehouse.decision", request_id=request_id)
    assert [(d["uri"], d["status"]) for d in decisions] == [("/admin", 403)]
    assert stack.log_lines("gatehouse", logger="gatehouse.access", request_id=request_id,
                           path="/web-login/forbidden"), "the page's own request carries the same id"
    assert stack.log_lines("nginx", request_id=request_id, path="/admin", status=403)
    if supplied in UNSAFE_IDS:
        assert supplied.encode() not in answer.body
        for group in ("check", "gatehouse", "nginx"):
            assert not stack.log_lines(group, wait=0, request_id=supplied)


@pytest.mark.parametrize("supplied", ["trace-json-{status}", None, "trace abc"])
@pytest.mark.parametrize("credential, status", [(None, 401), (STAFF, 403)], ids=["401", "403"])
def test_nginx_json_refusals_carry_the_id_of_their_decision_log_line(stack: Stack, credential, status: int,
                                                                    supplied: str | None) -> None:
    supplied = supplied and supplied.format(status=status)  # one id per request
    headers = [JSON, *with_id(supplied)] + ([credential(stack)] if credential else [])
    answer = raw(stack.nginx, "GET", "/admin", headers)
    assert answer.status == status, answer.body
    request_id = json.loads(answer.body)["requestId"]
    chosen_id(request_id, supplied)
    decisions = stack.log_lines("check", logger="gatehouse.decision", request_id=request_id)
    assert [(d["uri"], d["status"]) for d in decisions] == [("/admin", status)]
    assert stack.log_lines("nginx", request_id=request_id, path="/admin", status=status)


@pytest.mark.parametrize("supplied", ["trace-token-1", None, "t" * 129])
def test_gatehouse_json_errors_and_the_upstream_carry_the_same_id(stack: Stack, supplied: str | None) -> None:
    answer = raw(stack.nginx, "POST", "/oauth/token", [JSON, ("Content-Type", "application/x-www-form-urlencoded"),
                                                        ("Content-Length", "0"), *with_id(supplied)])
    assert answer.status == 400, answer.body
    request_id = json.loads(answer.body)["requestId"]
    chosen_id(request_id, supplied)
    assert answer.header("X-Request-Id") == request_id
    assert stack.log_lines("gatehouse", logger="gatehouse.access", request_id=request_id, status=400)
    assert stack.log_lines("nginx", request_id=request_id, path="/oauth/token", status=400)

    stack.upstream.take()
    assert raw(stack.nginx, "GET", "/whoami", [BOB(stack), JSON, *with_id(supplied)]).status == 200
    [seen] = stack.upstream.take()
    received = [v for k, v in seen["headers"] if k == "x-request-id"]
    assert len(received) == 1
    chosen_id(received[0], supplied)
    assert stack.log_lines("nginx", request_id=received[0], path="/whoami", status=200)
