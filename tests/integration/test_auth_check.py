"""/auth with Gatehouse's own client-credentials tokens (Flask client, real Redis and Mongo)."""
from __future__ import annotations

import base64
import json

import pytest

from app import create_app
from app.settings import load_settings
from tests.conftest import ADMIN, basic
from tests.support.servers import within

ROUTES = {
    "/": {"ALL": {"authorization": {"expression": "false"}}},
    "/public": {"GET": {"authorization": {"expression": "true", "public": True}}},
    "/petstore/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "petstore"}},
    "/tracks/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "tracks",
                         "headers": {"usagePlan": "x-usage-plan"}}},
    "/orders": {"GET": {"authorization": {"expression": "permissions.orders"}},
                "DELETE": {"authorization": {"expression": "permissions.admin"}}},
}


@pytest.fixture
def auth_app(env, tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(ROUTES))
    app = create_app(load_settings({**env, "ROUTES_FILE": str(path), "USER_PROPERTIES_TO_PROXY": "client_id,scope"}))
    return app


@pytest.fixture
def c(auth_app):
    return auth_app.test_client()


def token(c, scope: str, **meta) -> str:
    reg = c.post("/register", json={"client_name": "t", "scope": "petstore tracks", **meta}, headers=ADMIN).json
    r = c.post("/oauth/token", data={"grant_type": "client_credentials", "scope": scope},
               headers=basic(reg["client_id"], reg["client_secret"]))
    return r.json["access_token"], reg


def check(c, uri: str, method: str = "GET", bearer: str | None = None, **headers):
    h = {"X-Original-URI": uri, "X-Original-Method": method, **headers}
    if bearer is not None:
        h["Authorization"] = f"Bearer {bearer}"
    r = c.get("/auth", headers=h)
    assert r.data == b"", "auth answers never carry a body"
    return r


def test_gloo_api_products(c):
    tracks, reg = token(c, "tracks", allowed_custom_claims={"usagePlan": "gold"})
    both, _ = token(c, "petstore tracks")
    r = check(c, "/tracks/1", bearer=tracks)
    assert r.status_code == 204 and r.headers["mia-allowed"] == "1"
    assert r.headers["mia-userid"] == reg["client_id"] and r.headers["x-usage-plan"] == "gold"
    assert json.loads(r.headers["mia-userproperties"]) == {"client_id": reg["client_id"], "scope": "tracks"}
    assert check(c, "/petstore/pets", bearer=tracks).status_code == 403
    assert check(c, "/petstore/pets", bearer=both).status_code == 204
    assert check(c, "/tracks/1", bearer=both).status_code == 204
    r = check(c, "/petstore/pets")
    assert r.status_code == 401 and r.headers["mia-allowed"] == "0"


def test_decision_table(c):
    plain, _ = token(c, "tracks", permissions=["orders"])
    assert check(c, "/public").status_code == 204
    assert check(c, "/orders").status_code == 401
    assert check(c, "/orders", bearer=plain).status_code == 204
    assert check(c, "/orders", "DELETE", bearer=plain).status_code == 403
    assert check(c, "/unmatched", bearer=plain).status_code == 403, "the root route is false"
    assert check(c, "/orders?x=1", bearer=plain, **{"X-Original-Method": "get"}).status_code == 204
    r = c.post("/auth/anything", headers={"Original-Request-Uri": "/orders", "Original-Request-Method": "GET",
                                           "Authorization": f"Bearer {plain}"})
    assert r.status_code == 204, "Mia's header names and any /auth/... path"


def test_revoked_token_refused(c):
    tok, reg = token(c, "tracks")
    assert check(c, "/tracks/1", bearer=tok).status_code == 204
    c.post("/oauth/revoke", data={"token": tok}, headers=basic(reg["client_id"], reg["client_secret"]))
    r = check(c, "/tracks/1", bearer=tok)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(good: str) -> list[tuple[str, str]]:
    head, body, sig = good.split(".")
    return [
        ("truncated", good[:-10]), ("two segments", f"{head}.{body}"), ("garbage", "not-a-jwt"),
        ("wrong signature", f"{head}.{body}.{sig[::-1]}"),
        ("alg none", f"{b64({'alg': 'none', 'kid': 'test-rsa'})}.{body}."),
        ("HS256 confusion", f"{b64({'alg': 'HS256', 'kid': 'test-rsa'})}.{body}.{sig}"),
        ("unknown kid", f"{b64({'alg': 'RS256', 'kid': 'other'})}.{body}.{sig}"),
        ("kid is a list", f"{b64({'alg': 'RS256', 'kid': ['x']})}.{body}.{sig}"),
        ("expired", "EXPIRED"), ("huge", "a." * 5000 + "b"),
    ]


def test_bad_tokens_never_allowed(c, env, tmp_path):
    good, _ = token(c, "tracks")
    import time
    from jose import jwt
    from app.core.keys import load_private_key
    key = load_private_key(open(env["PRIVATE_RSA_KEY_FILE_PATH"], "rb").read(), None, "test-rsa")
    expired = jwt.encode({"iss": "https://gatehouse.test", "sub": "x", "jti": "e", "iat": 1, "exp": int(time.time()) - 60,
                          "scope": "tracks"}, key.private, algorithm="RS256", headers={"kid": "test-rsa"})
    for name, bad in bad_tokens(good):
        bad = expired if bad == "EXPIRED" else bad
        r = check(c, "/tracks/1", bearer=bad)
        assert r.status_code == 401, name
        assert r.headers["mia-allowed"] == "0" and "mia-userid" not in r.headers


BAD_REQUESTS = [
    ("missing X-Original-URI", {"X-Original-Method": "GET"}, 403),
    ("missing X-Original-Method", {"X-Original-URI": "/tracks/1"}, 403),
    ("unknown method", {"X-Original-URI": "/tracks/1", "X-Original-Method": "BREW"}, 403),
    ("traversal", {"X-Original-URI": "/public/../orders", "X-Original-Method": "GET"}, 403),
    ("encoded traversal", {"X-Original-URI": "/public/%2e%2e/orders", "X-Original-Method": "GET"}, 403),
    ("encoded slashes collapse", {"X-Original-URI": "/%2Fpublic", "X-Original-Method": "GET"}, 204),
    ("garbage cookie", {"X-Original-URI": "/orders", "X-Original-Method": "GET", "Cookie": "sid=%%%; x"}, 401),
    ("basic instead of bearer", {"X-Original-URI": "/orders", "X-Original-Method": "GET", "Authorization": "Basic eA=="}, 401),
]


@pytest.mark.parametrize("name,headers,status", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests(c, name, headers, status):
    r = c.get("/auth", headers=headers)
    assert r.status_code == status and r.data == b""


def test_claim_values_cannot_inject_headers(c):
    tok, _ = token(c, "tracks", allowed_custom_claims={"usagePlan": "gold\r\nx-admin: 1"})
    r = check(c, "/tracks/1", bearer=tok)
    assert r.status_code == 204 and "x-usage-plan" not in r.headers and "x-admin" not in r.headers


def test_redis_down_fails_closed(env, tmp_path):
    from tests.support.servers import RedisServer
    server = RedisServer(tmp_path / "r")
    server.start()
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(ROUTES))
    app = create_app(load_settings({**env, "REDIS_URL": server.url, "ROUTES_FILE": str(path)}))
    cl = app.test_client()
    tok, _ = token(cl, "tracks")
    server.stop()
    r = check(cl, "/tracks/1", bearer=tok)
    assert r.status_code == 503
    server.start()
    # After a failed pull, checks fail closed at once for a moment (no pile-up on a hung Redis);
    # then the next one pulls again (a Redis restarted empty: everything reloaded from MongoDB).
    assert within(lambda: check(cl, "/tracks/1", bearer=tok).status_code == 204, 1.5)
    server.stop()


def test_non_strict_mode(env, tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(ROUTES))
    cl = create_app(load_settings({**env, "ROUTES_FILE": str(path), "STRICT_MODE": "false"})).test_client()
    r = check(cl, "/orders")
    assert r.status_code == 200 and r.headers["mia-allowed"] == "0"


def test_route_file_errors_stop_start_up(env, tmp_path):
    from app.settings import ConfigError
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"/a": {"GET": {"authorization": {"expression": "groups.admin &&"}}}}))
    with pytest.raises(ConfigError) as info:  # the start: wsgi.py's create_app()
        create_app(load_settings({**env, "ROUTES_FILE": str(path)}))
    assert info.value.problems == [
        "ROUTES_FILE: route /a GET authorization.expression 'groups.admin &&': expected a value, found end of expression at column 16"]


def routes_env(env, tmp_path, **extra):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({**ROUTES, "/staff": {"GET": {"authorization": {"expression": "groups.staff"}}}}))
    return {**env, "ROUTES_FILE": str(path), **extra}


TRUSTED = {"miauserid": "u-1", "miausergroups": "staff,users", "miauserproperties": '{"email":"a@b.c"}'}


def test_trusted_headers_only_in_trust_mode(env, tmp_path):
    off = create_app(load_settings(routes_env(env, tmp_path))).test_client()
    assert check(off, "/staff", **TRUSTED).status_code == 401, "client-sent identity headers are never trusted"
    on = create_app(load_settings(routes_env(env, tmp_path, TRUST_MIA_USER_HEADERS="true",
                                             USER_PROPERTIES_TO_PROXY="email"))).test_client()
    r = check(on, "/staff", **TRUSTED)
    assert r.status_code == 204 and r.headers["mia-userid"] == "u-1"
    assert r.headers["mia-groups"] == "staff,users" and json.loads(r.headers["mia-userproperties"]) == {"email": "a@b.c"}
    assert check(on, "/staff", **{**TRUSTED, "miausergroups": "users"}).status_code == 403


def test_authorization_headers_short_circuit(env, tmp_path):
    cl = create_app(load_settings(routes_env(env, tmp_path, AUTHORIZATION_HEADERS_TO_PROXY="x-api-token"))).test_client()
    tok, _ = token(cl, "tracks")
    r = check(cl, "/tracks/1", bearer=tok)
    assert r.status_code == 401, "Authorization is not a listed credential header: anonymous without lookup"
    assert "invalid_token" not in r.headers["WWW-Authenticate"]
    assert check(cl, "/tracks/1", bearer=tok, **{"x-api-token": "1"}).status_code == 204
