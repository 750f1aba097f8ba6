"""The /auth edge (app/auth_edge.py), the one place the check's answer is produced: for each case
its status, its exact headers and an empty body; the check paths answer nothing else; and the
per-worker cache of verified tokens never changes a decision — not across credentials, routes or
methods, and not after a revocation or logout."""
from __future__ import annotations

import hashlib
import json
import re

import pytest
from werkzeug.test import Client

from app import create_app
from app.auth_edge import AuthEdge
from app.settings import load_settings
from tests.conftest import ADMIN, basic
from tests.support.servers import RedisServer

ROUTES = {
    "/": {"ALL": {"authorization": {"expression": "false"}}},
    "/public": {"GET": {"authorization": {"expression": "true", "public": True}}},
    "/orders": {"GET": {"authorization": {"expression": "permissions.orders"}},
                "DELETE": {"authorization": {"expression": "permissions.admin"}}},
    "/typed": {"ALL": {"authorization": {"expression": "clientType == \"A\""}}},
    "/keyed": {"ALL": {"authorization": {"expression": "clientType == \"A\"", "public": True}}},
}


def make(env, tmp_path, **extra):
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_keys": [{"sha256": hashlib.sha256(b"key-a").hexdigest(), "clientType": "A"}]}))
    return create_app(load_settings({**env, "ROUTES_FILE": str(routes), "GATEHOUSE_CONFIG": str(config),
                                     "USER_PROPERTIES_TO_PROXY": "client_id,scope", **extra}))


def issue(c, **meta) -> tuple[str, dict]:
    reg = c.post("/register", json={"client_name": "t", **meta}, headers=ADMIN).json
    r = c.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reg["client_id"], reg["client_secret"]))
    return r.json["access_token"], reg


def answer(app, method: str, path: str, headers: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
    """Status line, headers (lower-cased names, each once) and body of the edge's answer."""
    # use_cookies=False: werkzeug's client otherwise replaces a Cookie header with its (empty) jar.
    client = Client(app.wsgi_app, use_cookies=False)
    response = client.open(path, method=method, headers={"X-Request-Id": "req-1", **headers})
    names = [k.lower() for k in response.headers.keys()]
    assert len(names) == len(set(names)), f"a header answered twice: {names}"
    return response.status, {k.lower(): v for k, v in response.headers.items()}, response.get_data()


def expected(status: str, headers: dict[str, str], client_id: str = "", request_id: str = "req-1") -> dict[str, str]:
    """The headers of every check answer, then the case's own."""
    common = {"content-type": "text/html; charset=utf-8", "x-request-id": request_id}
    if not status.startswith("204"):
        common["content-length"] = "0"
    return {**common, **{k: v.replace("{client}", client_id) for k, v in headers.items()}}


@pytest.fixture
def setup(env, tmp_path):
    app = make(env, tmp_path)
    c = app.test_client()
    good, reg = issue(c, permissions=["orders"])
    other, _ = issue(c, permissions=[])
    revoked, revoked_reg = issue(c, permissions=["orders"])
    return app, c, good, other, reg


ALLOWED_CLIENT = {"mia-allowed": "1", "mia-userid": "{client}", "mia-groups": "", "mia-clienttype": "",
                  "mia-userproperties": '{"client_id":"{client}","scope":""}'}
REFUSED = {"mia-allowed": "0"}
NO_IDENTITY = {**REFUSED, "www-authenticate": 'Bearer realm="gatehouse"'}
BAD_TOKEN = {**REFUSED, "www-authenticate": 'Bearer realm="gatehouse", error="invalid_token"'}

# case, check method, check path, headers, credential -> status line, headers besides the common ones
CASES = [
    ("allowed", "GET", "/auth", {"X-Original-URI": "/orders?x=1", "X-Original-Method": "GET"}, "good",
     "204 NO CONTENT", ALLOWED_CLIENT),
    ("forbidden", "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "DELETE"}, "good",
     "403 FORBIDDEN", REFUSED),
    ("no permission", "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"}, "other",
     "403 FORBIDDEN", REFUSED),
    ("anonymous", "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"}, None,
     "401 UNAUTHORIZED", NO_IDENTITY),
    ("public", "HEAD", "/auth/x/y", {"X-Original-URI": "/public", "X-Original-Method": "GET"}, None,
     "204 NO CONTENT", {"mia-allowed": "1"}),
    ("malformed token", "POST", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"}, "garbage",
     "401 UNAUTHORIZED", BAD_TOKEN),
    ("tampered token", "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"}, "tampered",
     "401 UNAUTHORIZED", BAD_TOKEN),
    ("no uri", "GET", "/auth", {"X-Original-Method": "GET"}, "good", "403 FORBIDDEN", REFUSED),
    ("bad method", "PUT", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "BREW"}, "good",
     "403 FORBIDDEN", REFUSED),
    ("mia headers", "GET", "/auth", {"Original-Request-Uri": "/orders", "Original-Request-Method": "get"}, "good",
     "204 NO CONTENT", ALLOWED_CLIENT),
    ("api key", "OPTIONS", "/auth", {"X-Original-URI": "/keyed", "X-Original-Method": "GET", "client-key": "key-a"},
     None, "204 NO CONTENT", {"mia-allowed": "1", "mia-clienttype": "A"}),
    ("api key cookie", "GET", "/auth", {"X-Original-URI": "/keyed", "X-Original-Method": "GET",
                                        "Cookie": "client_key=key-a; sid=; x=\"y\""}, None,
     "204 NO CONTENT", {"mia-allowed": "1", "mia-clienttype": "A"}),
    ("api key plain cookies: the first value", "GET", "/auth",
     {"X-Original-URI": "/keyed", "X-Original-Method": "GET", "Cookie": "other=1;client_key=key-a; client_key=key-b"},
     None, "204 NO CONTENT", {"mia-allowed": "1", "mia-clienttype": "A"}),
    ("api key alone is no identity", "GET", "/auth", {"X-Original-URI": "/typed", "X-Original-Method": "GET",
                                                      "Cookie": "client_key=key-a"}, None,
     "401 UNAUTHORIZED", NO_IDENTITY),
    ("content headers", "POST", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET",
                                          "Content-Type": "text/plain", "Content-Length": "0"}, "good",
     "204 NO CONTENT", ALLOWED_CLIENT),
    ("traversal", "GET", "/auth", {"X-Original-URI": "/public/../orders", "X-Original-Method": "GET"}, None,
     "403 FORBIDDEN", {**REFUSED, "gatehouse-refused": "request-target"}),
]


@pytest.mark.parametrize("name, method, path, headers, credential, status, headers_out", CASES,
                         ids=[c[0] for c in CASES])
def test_each_case_answers_its_status_and_headers_with_an_empty_body(setup, name, method, path, headers, credential,
                                                                      status, headers_out):
    app, _, good, other, reg = setup
    tokens = {"good": good, "other": other, "garbage": "a.b.c", "tampered": good[:-4] + "AAAA"}
    if credential:
        headers = {**headers, "Authorization": f"Bearer {tokens[credential]}"}
    assert answer(app, method, path, headers) == (status, expected(status, headers_out, reg["client_id"]), b"")


@pytest.mark.parametrize("supplied", ["bad id!", "", "x" * 129])
def test_a_malformed_request_id_is_replaced(setup, supplied):
    app = setup[0]
    status, headers, body = answer(app, "GET", "/auth", {"X-Original-URI": "/public", "X-Original-Method": "GET",
                                                         "X-Request-Id": supplied})
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    assert (status, headers, body) == ("204 NO CONTENT", expected(status, {"mia-allowed": "1"},
                                                                  request_id=headers["x-request-id"]), b"")


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/auth/", 403), ("GET", "/auth//x", 403), ("GET", "/auth/a/../b", 403),
    ("TRACE", "/auth", 405), ("CONNECT", "/auth/x", 405), ("FOO", "/auth", 405)])
def test_every_answer_on_the_check_paths_is_empty(setup, method, path, status):
    """Not Flask's 404 JSON, 308 HTML or 405 JSON: the check paths never answer a body."""
    _, c, _, _, _ = setup
    answer = c.open(path, method=method)
    assert (answer.status_code, answer.data) == (status, b"")
    assert answer.headers["Content-Length"] == "0"
    if status == 405:
        assert "TRACE" not in answer.headers["Allow"] and "GET" in answer.headers["Allow"]


def test_flask_itself_has_no_check_view(setup):
    """One edge: behind it, Flask knows no /auth route (its 404 is JSON, never a decision)."""
    app = setup[0]
    assert isinstance(app.wsgi_app, AuthEdge)
    assert "/auth" not in {rule.rule for rule in app.url_map.iter_rules()}
    inner = Client(app.wsgi_app.app).get("/auth", headers={"X-Original-URI": "/public", "X-Original-Method": "GET"})
    assert inner.status_code == 404 and "mia-allowed" not in inner.headers


def test_paths_that_are_not_the_check_go_to_flask(setup):
    app, c, good, _, _ = setup
    assert c.open("/auth/explain", method="OPTIONS").status_code == 200  # the explain view's
    explained = c.post("/auth/explain", json={"method": "GET", "uri": "/orders",
                                              "headers": {"Authorization": f"Bearer {good}"}}, headers=ADMIN)
    assert explained.status_code == 200 and explained.json["outcome"] == "allow"


def test_non_strict_mode_answers_200_with_the_verdict_in_mia_allowed(env, tmp_path):
    app = make(env, tmp_path, STRICT_MODE="false")
    assert answer(app, "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"}) == \
        ("200 OK", expected("200 OK", NO_IDENTITY), b"")


def test_redis_down_answers_an_empty_503_that_is_not_cached(env, tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    app = make(env, tmp_path, REDIS_URL=server.url)
    c = app.test_client()
    token, _ = issue(c, permissions=["orders"])
    server.stop()
    headers = {"X-Original-URI": "/orders", "X-Original-Method": "GET", "Authorization": f"Bearer {token}"}
    status = "503 SERVICE UNAVAILABLE"
    assert answer(app, "GET", "/auth", headers) == (status, expected(status, {"cache-control": "no-store", "retry-after": "5"}), b"")


# -- the verified-token cache ------------------------------------------------------------------

def check(c, token: str | None, uri="/orders", method="GET", **headers):
    h = {"X-Original-URI": uri, "X-Original-Method": method, **headers}
    if token:
        h["Authorization"] = f"Bearer {token}"
    return c.get("/auth", headers=h)


def test_cached_verification_never_carries_a_decision(setup):
    app, c, good, other, reg = setup
    verified = app.extensions["gatehouse"].authorizer.verified
    assert check(c, good).status_code == 204 and len(verified) >= 1
    assert check(c, good, method="DELETE").status_code == 403  # other method, same token
    assert check(c, good, uri="/").status_code == 403  # other route
    r = check(c, other)
    assert r.status_code == 403 and r.headers.get("mia-userid") != reg["client_id"]  # other credential
    assert check(c, good).headers["mia-userid"] == reg["client_id"]


def test_a_revoked_token_stops_at_once_though_its_verification_is_cached(setup):
    app, c, _, _, _ = setup
    token, reg = issue(c, permissions=["orders"])
    assert check(c, token).status_code == 204
    assert check(c, token).status_code == 204  # from the cache
    revoked = c.post("/oauth/revoke", data={"token": token}, headers=basic(reg["client_id"], reg["client_secret"])) \
        if "client_secret" in reg else None
    assert revoked is not None and revoked.status_code == 200
    assert check(c, token).status_code == 401


def test_without_revocation_checking_no_store_is_asked(env, tmp_path):
    app = make(env, tmp_path, REVOCATION_CHECK="false")
    c = app.test_client()
    token, reg = issue(c, permissions=["orders"])
    assert check(c, token).status_code == 204
    c.post("/oauth/revoke", data={"token": token}, headers=basic(reg["client_id"], reg["client_secret"]))
    # documented: with REVOCATION_CHECK=false /auth trusts a valid signature until exp
    assert check(c, token).status_code == 204
    assert c.get("/tokeninfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_invalid_tokens_are_not_cached(setup):
    app, c, good, _, _ = setup
    verified = app.extensions["gatehouse"].authorizer.verified
    before = len(verified)
    for bad in ("a.b.c", good[:-4] + "AAAA", good + "x"):
        assert check(c, bad).status_code == 401
    assert len(verified) == before


def test_an_api_key_alone_forwards_its_client_type(setup):
    _, c, _, _, _ = setup
    r = c.get("/auth", headers={"X-Original-URI": "/keyed", "X-Original-Method": "GET", "client-key": "key-a"})
    assert r.status_code == 204 and r.headers["mia-clienttype"] == "A" and "mia-userid" not in r.headers


@pytest.mark.parametrize("suffix", ["!!!!", "$" * 400, "....", " x", "\u00e9"])
def test_non_canonical_spellings_of_a_valid_token_are_refused_and_not_cached(setup, suffix):
    app, c, good, _, _ = setup
    verified = app.extensions["gatehouse"].authorizer.verified
    before = len(verified)
    assert check(c, good + suffix).status_code == 401
    assert len(verified) == before
