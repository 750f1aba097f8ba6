"""The shipped nginx config in front of Gatehouse and an echoing upstream."""
from __future__ import annotations

import base64
import json
import re

import pytest

from tests.conftest import ADMIN
from tests.e2e.conftest import echoed, http
from tests.support.peers import json_server
from tests.support.servers import within

ROUTES = {
    "/": {"ALL": {"authorization": {"expression": "false"}}},
    "/public": {"GET": {"authorization": {"expression": "true", "public": True}}},
    "/orders": {"GET": {"authorization": {"expression": "permissions.orders"}}},
    "/admin": {"GET": {"authorization": {"expression": "permissions.admin"}}},
    "/petstore/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "petstore"}},
    "/tracks/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "tracks",
                         "headers": {"usagePlan": "x-usage-plan"}}},
}


@pytest.fixture
def routes_env(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(ROUTES))
    return {"ROUTES_FILE": str(path), "USER_PROPERTIES_TO_PROXY": "client_id"}


def client_token(base: str, scope: str, **meta) -> tuple[str, dict]:
    body = json.dumps({"client_name": "e2e", "scope": "petstore tracks", "permissions": ["orders"], **meta}).encode()
    status, _, raw = http(f"{base}/register", "POST", {**ADMIN, "Content-Type": "application/json"}, body)
    assert status == 201, raw
    reg = json.loads(raw)
    basic = base64.b64encode(f"{reg['client_id']}:{reg['client_secret']}".encode()).decode()
    status, _, raw = http(f"{base}/oauth/token", "POST", {"Authorization": f"Basic {basic}",
                          "Content-Type": "application/x-www-form-urlencoded"},
                          f"grant_type=client_credentials&scope={scope}".encode())
    assert status == 200, raw
    return json.loads(raw)["access_token"], reg


@pytest.fixture
def stack(gunicorn_server, nginx_server, echo, routes_env):
    gatehouse = gunicorn_server(routes_env)
    return nginx_server(gatehouse, echo)


def test_identity_headers_reach_upstream_and_client_copies_are_replaced(stack):
    token, reg = client_token(stack, "tracks", allowed_custom_claims={"usagePlan": "gold"})
    status, _, body = http(f"{stack}/tracks/42", headers={
        "Authorization": f"Bearer {token}", "miauserid": "forged", "miausergroups": "admin",
        "miauserproperties": '{"forged":true}', "x-usage-plan": "platinum"})
    assert status == 200
    seen = echoed(body)["headers"]
    assert seen["miauserid"] == reg["client_id"]
    assert "miausergroups" not in seen or seen["miausergroups"] == ""
    assert json.loads(seen["miauserproperties"]) == {"client_id": reg["client_id"]}
    assert seen["x-usage-plan"] == "gold"
    assert seen["authorization"] == f"Bearer {token}", "the client's own bearer goes through"


def test_anonymous_on_public_route_gets_no_identity(stack):
    status, _, body = http(f"{stack}/public", headers={"miauserid": "forged", "miausergroups": "admin"})
    assert status == 200
    seen = echoed(body)["headers"]
    assert seen.get("miauserid", "") == "" and seen.get("miausergroups", "") == ""


def test_api_call_gets_401_json_browser_gets_login_redirect(stack):
    status, headers, body = http(f"{stack}/orders", headers={"Accept": "application/json"})
    assert status == 401 and json.loads(body)["statusCode"] == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, headers, _ = http(f"{stack}/orders?page=2", headers={"Accept": "text/html,application/xhtml+xml"})
    assert status == 302 and headers["Location"].endswith("/web-login?redirect=/orders?page=2")


def test_403_passes_through_as_json(stack):
    token, _ = client_token(stack, "tracks")
    status, _, body = http(f"{stack}/admin", headers={"Authorization": f"Bearer {token}"})
    answer = json.loads(body)
    assert status == 403 and re.fullmatch(r"[0-9a-f]{32}", answer.pop("requestId"))
    assert answer == {"statusCode": 403, "error": "Forbidden", "message": "not allowed"}


def test_gloo_products_through_nginx(stack):
    tracks, _ = client_token(stack, "tracks")
    both, _ = client_token(stack, "petstore tracks")
    assert http(f"{stack}/tracks/1", headers={"Authorization": f"Bearer {tracks}"})[0] == 200
    assert http(f"{stack}/petstore/1", headers={"Authorization": f"Bearer {tracks}"})[0] == 403
    assert http(f"{stack}/petstore/1", headers={"Authorization": f"Bearer {both}"})[0] == 200
    assert http(f"{stack}/tracks/1", headers={"Authorization": f"Bearer {both}"})[0] == 200


BAD = [
    ("malformed jwt", {"Authorization": "Bearer abc.def"}, "/orders", 401),
    ("alg none", {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, "/orders", 401),
    ("garbage cookie", {"Cookie": "sid=%%%%; a=b"}, "/orders", 401),
    ("huge header", {"Authorization": "Bearer " + "a" * 50000}, "/orders", 431),
    ("encoded traversal", {}, "/public/%2e%2e/admin", 400),
    ("dot segments", {}, "/public/../admin", 400),
    ("internal location is not reachable", {}, "/_gatehouse/auth", 404),
]


@pytest.mark.parametrize("name,headers,path,status", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_through_nginx(stack, name, headers, path, status):
    got, _, _ = http(f"{stack}{path}", headers={"Accept": "application/json", **headers})
    assert got == status


def test_the_check_receives_the_request_s_one_id(gunicorn_server, nginx_server, echo, routes_env):
    """The check's X-Request-Id is the client's when safe, else nginx's $request_id (one per
    client request); an unsafe one never reaches the check."""
    received: list[dict[str, str]] = []

    def check(method, path, headers, body):
        received.append({k.lower(): v for k, v in headers.items()})
        return 200, {}

    recorder, check_url = json_server(check)
    try:
        site = nginx_server(gunicorn_server(routes_env), echo, check=check_url)
        for supplied in ["chosen-by-the-client", "not safe", "not safe"]:
            assert http(f"{site}/orders", headers={"X-Request-Id": supplied})[0] == 200
    finally:
        recorder.shutdown()
    ids = [r.get("x-request-id") for r in received[-3:]]
    assert ids[0] == "chosen-by-the-client"
    assert all(re.fullmatch(r"[0-9a-f]{32}", i or "") for i in ids[1:]), ids
    assert ids[1] != ids[2]


def test_decision_cache(gunicorn_server, nginx_server, echo, routes_env):
    gatehouse = gunicorn_server(routes_env)
    cached = nginx_server(gatehouse, echo, cache=True, cache_ttl="3s")
    token, reg = client_token(cached, "tracks")
    other, _ = client_token(cached, "petstore")

    def checks_answered() -> float:
        text = http(f"{gatehouse}/-/metrics")[2].decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith('gatehouse_http_requests_total{endpoint="auth_check.check"'))

    before = checks_answered()
    for _ in range(3):
        assert http(f"{cached}/tracks/1", headers={"Authorization": f"Bearer {token}"})[0] == 200
    # Each worker adds its counts to /-/metrics within a second (app/observability.py FLUSH_SECONDS).
    assert within(lambda: checks_answered() - before == 1, 10), "the same credential and route hit the cache"
    assert http(f"{cached}/tracks/1", headers={"Authorization": f"Bearer {other}"})[0] == 403, \
        "another credential never reuses a cached decision"
    assert http(f"{cached}/petstore/1", headers={"Authorization": f"Bearer {token}"})[0] == 403, \
        "another route never reuses a cached decision"
    basic = base64.b64encode(f"{reg['client_id']}:{reg['client_secret']}".encode()).decode()
    http(f"{cached}/oauth/revoke", "POST", {"Authorization": f"Basic {basic}",
         "Content-Type": "application/x-www-form-urlencoded"}, f"token={token}".encode())
    assert http(f"{gatehouse}/auth", headers={"X-Original-URI": "/tracks/1", "X-Original-Method": "GET",
                                              "Authorization": f"Bearer {token}"})[0] == 401
    # Within the TTL the cached allow may still answer; after it, the revocation holds.
    assert within(lambda: http(f"{cached}/tracks/1", headers={"Authorization": f"Bearer {token}"})[0] != 200, 10,
                  interval=0.5), "revoked token still allowed after the cache TTL"
    assert http(f"{cached}/tracks/1", headers={"Authorization": f"Bearer {token}"})[0] == 401


def test_gloo_products_with_an_external_issuer_and_rotation(gunicorn_server, nginx_server, echo, routes_env, tmp_path):
    from tests.support.issuer import LocalIssuer
    issuer = LocalIssuer()
    try:
        cfg = tmp_path / "gatehouse.json"
        cfg.write_text(json.dumps({"issuers": [{"issuer": issuer.url, "audience": ["gloo-api"],
                                                "jwks_uri": f"{issuer.url}/jwks"}]}))
        gatehouse = gunicorn_server({**routes_env, "GATEHOUSE_CONFIG": str(cfg), "JWKS_REFETCH_COOLDOWN_SECONDS": "1"},
                                    workers=1)
        base = nginx_server(gatehouse, echo)
        tracks = issuer.token(scope="tracks", usagePlan="gold")
        status, _, body = http(f"{base}/tracks/1", headers={"Authorization": f"Bearer {tracks}"})
        assert status == 200 and echoed(body)["headers"]["x-usage-plan"] == "gold"
        assert echoed(body)["headers"]["miauserid"] == "user-1"
        assert http(f"{base}/petstore/1", headers={"Authorization": f"Bearer {tracks}"})[0] == 403
        both = issuer.token(scope="petstore tracks")
        assert http(f"{base}/petstore/1", headers={"Authorization": f"Bearer {both}"})[0] == 200
        issuer.rotate()
        rotated = issuer.token(scope="tracks")
        # The new kid is fetched once the refetch cooldown has passed, not before.
        assert within(lambda: http(f"{base}/tracks/1", headers={"Authorization": f"Bearer {rotated}"})[0] == 200, 10,
                      interval=0.2)
    finally:
        issuer.close()


def test_mia_scenario_2_through_nginx(gunicorn_server, nginx_server, echo, tmp_path):
    from app.core.check.verifiers.api_keys import api_key_hash
    from tests.support.userinfo_service import UserinfoService
    service = UserinfoService()
    try:
        routes = tmp_path / "mia.json"
        routes.write_text(json.dumps({
            "/area": {"GET": {"authorization": {"expression": "groups.admin || groups.users"}}},
            "/typed": {"GET": {"authorization": {"expression": "(clientType == 'A' || clientType == 'B') && (groups.admin || groups.users)"}}}}))
        cfg = tmp_path / "mia-config.json"
        cfg.write_text(json.dumps({"api_keys": [{"sha256": api_key_hash("key-b"), "clientType": "B"}]}))
        gatehouse = gunicorn_server({"ROUTES_FILE": str(routes), "GATEHOUSE_CONFIG": str(cfg), "USERINFO_URL": service.url,
                                     "HEADERS_TO_PROXY": "authorization", "USERINFO_TIMEOUT_SECONDS": "1"}, workers=1)
        base = nginx_server(gatehouse, echo)
        status, _, body = http(f"{base}/area", headers={"Authorization": "Bearer tok-user"})
        assert status == 200 and echoed(body)["headers"]["miauserid"] == "u-user"
        assert echoed(body)["headers"]["miausergroups"] == "users"
        assert http(f"{base}/area", headers={"Authorization": "Bearer tok-guest"})[0] == 403
        assert http(f"{base}/typed", headers={"Authorization": "Bearer tok-admin", "client-key": "key-b"})[0] == 200
        assert http(f"{base}/typed", headers={"Authorization": "Bearer tok-admin"})[0] == 403
        service.mode = "error"
        assert http(f"{base}/area", headers={"Authorization": "Bearer tok-user"})[0] == 503, \
            "userinfo down: the check fails closed (503, which nginx passes on), never 200"
    finally:
        service.close()


def token_from(base: str, source: str, client_id: str, secret: str, forwarded: str | None = None) -> int:
    """POST /oauth/token through nginx from a chosen loopback address (127.0.0.x)."""
    import http.client
    import urllib.parse
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    headers = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode(),
               "Content-Type": "application/x-www-form-urlencoded"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    try:
        conn.request("POST", "/oauth/token", body=b"grant_type=client_credentials", headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_failed_client_authentications_through_nginx_count_per_client_address(gunicorn_server, nginx_server, echo):
    """Issue 13 item 6 through the shipped nginx (TRUSTED_PROXY_COUNT=1, as docs/production.md
    sets): wrong secrets from one address lock out that address only; the client keeps working
    from another, and a forged X-Forwarded-For does not move the attacker's count (nginx replaces it)."""
    gatehouse = gunicorn_server({"TRUSTED_PROXY_COUNT": "1", "AUTH_FAILURE_LIMIT": "3"})
    base = nginx_server(gatehouse, echo)
    status, _, raw = http(f"{base}/register", "POST", {**ADMIN, "Content-Type": "application/json"},
                          json.dumps({"client_name": "victim"}).encode())
    assert status == 201, raw
    reg = json.loads(raw)
    cid, secret = reg["client_id"], reg["client_secret"]
    for _ in range(3):
        assert token_from(base, "127.0.0.2", cid, "wrong") == 401
    assert token_from(base, "127.0.0.2", cid, secret) == 429, "the address that failed is held back"
    assert token_from(base, "127.0.0.2", cid, secret, forwarded="127.0.0.3") == 429, "XFF from the client is not trusted"
    assert token_from(base, "127.0.0.3", cid, secret) == 200, "the client itself is not locked out"
    assert token_from(base, "127.0.0.1", cid, secret) == 200
