"""The fast path of /auth (issue: benchmarks and the fast path): the lean WSGI dispatch answers
exactly what the Flask view answers, and the per-worker cache of verified tokens never changes
a decision — not across credentials, routes or methods, and not after a revocation or logout."""
from __future__ import annotations

import hashlib
import json

import pytest
from werkzeug.test import Client

from app import create_app
from app.auth_wsgi import LeanAuth
from app.settings import load_settings
from tests.conftest import ADMIN, basic
from tests.servers import RedisServer

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


def answer(client, method: str, path: str, headers: dict[str, str]) -> tuple[str, list[tuple[str, str]], bytes]:
    response = client.open(path, method=method, headers={"X-Request-Id": "req-1", **headers})
    return response.status, sorted((k.lower(), v) for k, v in response.headers.items()), response.get_data()


def both(app, method: str, path: str, headers: dict[str, str]):
    lean = app.wsgi_app
    assert isinstance(lean, LeanAuth)
    return answer(Client(lean), method, path, headers), answer(Client(lean.app), method, path, headers)


@pytest.fixture
def setup(env, tmp_path):
    app = make(env, tmp_path)
    c = app.test_client()
    good, reg = issue(c, permissions=["orders"])
    other, _ = issue(c, permissions=[])
    revoked, revoked_reg = issue(c, permissions=["orders"])
    return app, c, good, other, reg


CASES = [
    ("allowed", "GET", "/auth", {"X-Original-URI": "/orders?x=1", "X-Original-Method": "GET"}, "good"),
    ("forbidden", "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "DELETE"}, "good"),
    ("no permission", "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"}, "other"),
    ("anonymous", "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"}, None),
    ("public", "HEAD", "/auth/x/y", {"X-Original-URI": "/public", "X-Original-Method": "GET"}, None),
    ("malformed token", "POST", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"}, "garbage"),
    ("tampered token", "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"}, "tampered"),
    ("no uri", "GET", "/auth", {"X-Original-Method": "GET"}, "good"),
    ("bad method", "PUT", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "BREW"}, "good"),
    ("mia headers", "GET", "/auth", {"Original-Request-Uri": "/orders", "Original-Request-Method": "get"}, "good"),
    ("api key", "OPTIONS", "/auth", {"X-Original-URI": "/keyed", "X-Original-Method": "GET", "client-key": "key-a"}, None),
    ("api key cookie", "GET", "/auth", {"X-Original-URI": "/typed", "X-Original-Method": "GET",
                                        "Cookie": "client_key=key-a; sid=; x=\"y\""}, None),
    ("api key plain cookies", "GET", "/auth", {"X-Original-URI": "/typed", "X-Original-Method": "GET",
                                               "Cookie": "other=1;client_key=key-a; client_key=key-b"}, None),
    ("content headers", "POST", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET",
                                          "Content-Type": "text/plain", "Content-Length": "0"}, "good"),
    ("traversal", "GET", "/auth", {"X-Original-URI": "/public/../orders", "X-Original-Method": "GET"}, None),
    ("bad request id", "GET", "/auth", {"X-Original-URI": "/public", "X-Original-Method": "GET",
                                        "X-Request-Id": "bad id!"}, None),
]


@pytest.mark.parametrize("name, method, path, headers, credential", CASES, ids=[c[0] for c in CASES])
def test_lean_path_answers_exactly_like_the_flask_view(setup, name, method, path, headers, credential):
    app, _, good, other, _ = setup
    tokens = {"good": good, "other": other, "garbage": "a.b.c", "tampered": good[:-4] + "AAAA"}
    if credential:
        headers = {**headers, "Authorization": f"Bearer {tokens[credential]}"}
    lean, full = both(app, method, path, headers)
    if name == "bad request id":  # a generated id differs; everything else must not
        lean = (lean[0], [h for h in lean[1] if h[0] != "x-request-id"], lean[2])
        full = (full[0], [h for h in full[1] if h[0] != "x-request-id"], full[2])
    assert lean == full
    assert lean[2] == b""


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


def test_paths_that_are_not_the_check_go_to_flask(setup):
    app, c, good, _, _ = setup
    assert c.open("/auth/explain", method="OPTIONS").status_code == 200  # the explain view's
    explained = c.post("/auth/explain", json={"method": "GET", "uri": "/orders",
                                              "headers": {"Authorization": f"Bearer {good}"}}, headers=ADMIN)
    assert explained.status_code == 200 and explained.json["outcome"] == "allow"


def test_non_strict_mode_answers_alike(env, tmp_path):
    app = make(env, tmp_path, STRICT_MODE="false")
    lean, full = both(app, "GET", "/auth", {"X-Original-URI": "/orders", "X-Original-Method": "GET"})
    assert lean == full and lean[0] == "200 OK"


def test_redis_down_answers_alike(env, tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    app = make(env, tmp_path, REDIS_URL=server.url)
    c = app.test_client()
    token, _ = issue(c, permissions=["orders"])
    server.stop()
    headers = {"X-Original-URI": "/orders", "X-Original-Method": "GET", "Authorization": f"Bearer {token}"}
    lean, full = both(app, "GET", "/auth", headers)
    assert lean == full and lean[0] == "503 SERVICE UNAVAILABLE" and lean[2] == b""


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
