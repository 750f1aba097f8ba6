"""Client registry (admin API), introspection, revocation, tokeninfo, JWKS and discovery."""
from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import ADMIN, ISSUER, basic


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_requires_admin(client, api):
    body = {"client_name": "x"}
    r = client.post("/register", json=body)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/register", json=body, headers=bearer("nope")).status_code == 401
    # a token of ours without gatehouse:admin -> 403; with it -> 201
    plain = api.register()
    token = api.token(plain["client_id"], plain["client_secret"])["access_token"]
    r = client.post("/register", json=body, headers=bearer(token))
    assert (r.status_code, r.json["error"]) == (403, "forbidden")
    admin_client = api.register(permissions=["gatehouse:admin"])
    admin_token = api.token(admin_client["client_id"], admin_client["client_secret"])["access_token"]
    assert client.post("/register", json=body, headers=bearer(admin_token)).status_code == 201


def test_open_registration(env):
    from app import create_app
    from app.settings import load_settings
    c = create_app(load_settings({**env, "OPEN_REGISTRATION": "true"})).test_client()
    assert c.post("/register", json={"client_name": "self"}).status_code == 201


BAD_REGISTRATIONS = [
    ("not json", "client_name=x", "application/x-www-form-urlencoded", "invalid_client_metadata"),
    ("json array", "[]", "application/json", "invalid_client_metadata"),
    ("broken json", "{", "application/json", "invalid_client_metadata"),
    ("no name", json.dumps({}), "application/json", "invalid_client_metadata"),
    ("bad method", json.dumps({"client_name": "x", "token_endpoint_auth_method": "none"}), "application/json", "invalid_client_metadata"),
    ("bad scope", json.dumps({"client_name": "x", "scope": "a \"b"}), "application/json", "invalid_client_metadata"),
    ("other grant", json.dumps({"client_name": "x", "grant_types": ["password"]}), "application/json", "invalid_client_metadata"),
    ("jwt without key", json.dumps({"client_name": "x", "token_endpoint_auth_method": "private_key_jwt"}), "application/json", "invalid_client_metadata"),
    ("key on secret client", json.dumps({"client_name": "x", "jwks": {"keys": []}}), "application/json", "invalid_client_metadata"),
    ("private jwk", json.dumps({"client_name": "x", "token_endpoint_auth_method": "private_key_jwt",
                                "jwks": {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "d": "y"}]}}), "application/json", "invalid_client_metadata"),
    ("permissions not list", json.dumps({"client_name": "x", "permissions": "all"}), "application/json", "invalid_client_metadata"),
]


@pytest.mark.parametrize("name,body,ctype,error", BAD_REGISTRATIONS, ids=[c[0] for c in BAD_REGISTRATIONS])
def test_bad_registrations(client, db, name, body, ctype, error):
    r = client.post("/register", data=body, content_type=ctype, headers=ADMIN)
    assert (r.status_code, r.json["error"]) == (400, error), r.json
    assert r.json["error_description"]
    assert db.clients.count_documents({}) == 0 and db.credentials.count_documents({}) == 0


def test_admin_api(client, api):
    reg = api.register(permissions=["p"])
    cid = reg["client_id"]
    shown = client.get(f"/clients/{cid}", headers=ADMIN).json
    assert shown["clientId"] == cid and shown["state"] == "ENABLED"
    assert "secret" not in set(shown) and reg["client_secret"] not in json.dumps(shown)
    assert [c["clientId"] for c in client.get("/clients", headers=ADMIN).json] == [cid]
    r = client.patch(f"/clients/{cid}", json={"scopes": ["only"], "permissions": ["a", "b"],
                                               "audience": ["api"], "allowedCustomClaims": {"usagePlan": "free"}},
                     headers=ADMIN)
    assert r.status_code == 200 and r.json["scopes"] == ["only"] and r.json["audience"] == ["api"]
    token = api.token(cid, reg["client_secret"])
    assert token["scope"] == "only"
    # rotate: the old secret stops working, the new one works
    new_secret = client.post(f"/clients/{cid}/secret", headers=ADMIN).json["client_secret"]
    assert client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(cid, reg["client_secret"])).status_code == 401
    api.token(cid, new_secret)
    # disable via DELETE, enable again via PATCH
    assert client.delete(f"/clients/{cid}", headers=ADMIN).json["state"] == "DISABLED"
    assert client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(cid, new_secret)).json["error"] == "invalid_client"
    client.patch(f"/clients/{cid}", json={"state": "ENABLED"}, headers=ADMIN)
    api.token(cid, new_secret)


BAD_PATCHES = [
    ("unknown field", {"clientId": "x"}, 400),
    ("bad state", {"state": "PAUSED"}, 400),
    ("scopes not list", {"scopes": "a"}, 400),
    ("key on secret client", {"publicKey": "x"}, 400),
]


@pytest.mark.parametrize("name,body,status", BAD_PATCHES, ids=[c[0] for c in BAD_PATCHES])
def test_bad_patches(client, api, name, body, status):
    cid = api.register()["client_id"]
    before = client.get(f"/clients/{cid}", headers=ADMIN).json
    r = client.patch(f"/clients/{cid}", json=body, headers=ADMIN)
    assert (r.status_code, r.json["statusCode"], r.json["error"]) == (status, status, "Bad Request")
    assert client.get(f"/clients/{cid}", headers=ADMIN).json == before


def test_admin_api_errors(client):
    r = client.get("/clients/nope", headers=ADMIN)
    assert r.json == {"statusCode": 404, "error": "Not Found", "message": "no such client",
                      "requestId": r.headers["X-Request-Id"]}
    assert client.get("/clients").status_code == 401
    assert client.post("/clients/nope/secret", headers=ADMIN).status_code == 404


def test_introspection_revocation_tokeninfo(client, api):
    a, b = api.register(), api.register()
    token = api.token(a["client_id"], a["client_secret"])["access_token"]
    auth_a, auth_b = basic(a["client_id"], a["client_secret"]), basic(b["client_id"], b["client_secret"])
    r = client.post("/oauth/introspect", data={"token": token}, headers=auth_b)
    assert r.json["active"] is True and r.json["client_id"] == a["client_id"] and r.json["iss"] == ISSUER
    assert client.get("/tokeninfo", headers=bearer(token)).json["sub"] == a["client_id"]
    # another client may not revoke it
    r = client.post("/oauth/revoke", data={"token": token}, headers=auth_b)
    assert (r.status_code, r.json["error"]) == (400, "unauthorized_client")
    assert client.post("/oauth/revoke", data={"token": token}, headers=auth_a).status_code == 200
    assert client.post("/oauth/introspect", data={"token": token}, headers=auth_b).json == {"active": False}
    r = client.get("/tokeninfo", headers=bearer(token))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    # invalid tokens: revocation answers 200 (RFC 7009 §2.2), introspection active=false
    assert client.post("/oauth/revoke", data={"token": "garbage"}, headers=auth_a).status_code == 200
    assert client.post("/oauth/introspect", data={"token": "a.b.c"}, headers=auth_a).json == {"active": False}


def test_revoked_admin_token_refused(client, api):
    adm = api.register(permissions=["gatehouse:admin"])
    token = api.token(adm["client_id"], adm["client_secret"])["access_token"]
    assert client.get("/clients", headers=bearer(token)).status_code == 200
    client.post("/oauth/revoke", data={"token": token}, headers=basic(adm["client_id"], adm["client_secret"]))
    assert client.get("/clients", headers=bearer(token)).status_code == 401


def test_introspection_requires_client_auth(client):
    r = client.post("/oauth/introspect", data={"token": "x"})
    assert (r.status_code, r.json["error"]) == (401, "invalid_client")
    r = client.post("/oauth/introspect", data={"token": "x"}, headers=basic("a", "b"))
    assert (r.status_code, r.json["error"]) == (401, "invalid_client")


BAD_BEARERS = ["", "Bearer", "Bearer a.b", "Bearer a.b.c", "Bearer " + "x" * 20000, "Basic abc",
               "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."]


@pytest.mark.parametrize("header", BAD_BEARERS)
def test_tokeninfo_bad_tokens(client, header):
    r = client.get("/tokeninfo", headers={"Authorization": header} if header else {})
    assert r.status_code == 401 and r.json["statusCode"] == 401


def test_tokeninfo_refuses_foreign_signature(client, api, key_files):
    from jose import jwt
    from app.core.keys import load_private_key
    other = load_private_key(key_files["old"].read_bytes(), None, "test-rsa")
    forged = jwt.encode({"iss": ISSUER, "sub": "x", "jti": "j", "iat": 1, "exp": 4102444800},
                        other.private, algorithm="RS256", headers={"kid": "test-rsa"})
    assert client.get("/tokeninfo", headers=bearer(forged)).status_code == 401


def test_discovery_generated(client):
    doc = client.get("/.well-known/openid-configuration").json
    assert doc["issuer"] == ISSUER and doc["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert doc["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "private_key_jwt"}
    assert doc["token_endpoint_auth_signing_alg_values_supported"] == ["RS256", "PS256", "ES256"]
    assert client.get("/jwks").json == client.get("/.well-known/jwks.json").json


def test_discovery_from_file_and_service_prefix(env, tmp_path):
    from app import create_app
    from app.settings import load_settings
    doc = {"issuer": "https://x", "token_endpoint": "https://x/t", "jwks_uri": "https://x/j",
           "response_types_supported": ["token"], "subject_types_supported": ["public"],
           "id_token_signing_alg_values_supported": ["RS256"], "custom": 1}
    path = tmp_path / "openid.json"
    path.write_text(json.dumps(doc))
    c = create_app(load_settings({**env, "OPENID_CONFIG_PATH": str(path), "SERVICE_PREFIX": "/cc"})).test_client()
    assert c.get("/cc/.well-known/openid-configuration").json == doc
    assert c.get("/.well-known/openid-configuration").status_code == 404
    assert c.get("/-/healthz").status_code == 200, "health routes stay outside the prefix"


def test_health_and_request_id(client):
    assert client.get("/-/healthz").json == {"status": "OK", "name": "gatehouse", "version": "0.1.0"}
    r = client.get("/-/ready", headers={"X-Request-Id": "abc-123"})
    assert r.status_code == 200 and r.json["dependencies"] == {"mongodb": "up", "redis": "up"}
    assert r.headers["X-Request-Id"] == "abc-123"
    r = client.get("/-/ready", headers={"X-Request-Id": "bad id\twith spaces"})
    assert len(r.headers["X-Request-Id"]) == 32
    assert client.get("/-/check-up").status_code == 200


def test_ready_is_503_while_shutting_down(app, client):
    app.extensions["gatehouse"].lifecycle.shutting_down.set()
    r = client.get("/-/ready")
    assert r.status_code == 503 and r.json["dependencies"]["shutdown"] == "in progress"
    assert client.get("/-/healthz").status_code == 200


def test_metrics(client, api):
    reg = api.register()
    api.token(reg["client_id"], reg["client_secret"])
    client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reg["client_id"], "bad"))
    text = client.get("/-/metrics").data.decode()
    assert 'gatehouse_tokens_issued_total{auth_method="client_secret_basic",grant_type="client_credentials"}' in text
    assert 'gatehouse_client_auth_failures_total{reason="bad_credentials"}' in text
    assert 'gatehouse_http_requests_total{endpoint="token.token",method="POST",status="401"}' in text
    assert "gatehouse_http_request_duration_seconds_bucket" in text


def test_unknown_route_and_method(client):
    assert client.get("/nope").json["statusCode"] == 404
    r = client.get("/oauth/token")
    assert r.status_code == 405 and r.json["statusCode"] == 405 and "POST" in r.headers["Allow"]


def test_logs_hold_no_secrets(client, api, caplog):
    import logging
    from app.observability import JsonFormatter
    logging.getLogger("gatehouse").setLevel(logging.INFO)
    caplog.set_level(logging.INFO, logger="gatehouse")
    reg = api.register()
    token = api.token(reg["client_id"], reg["client_secret"])["access_token"]
    client.get("/tokeninfo?x=1", headers=bearer(token))
    client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reg["client_id"], "wrong-secret"))
    err = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert '"path": "/tokeninfo"' in err
    for secret in (reg["client_secret"], token, "wrong-secret", ADMIN["Authorization"][7:]):
        assert secret not in err


def test_browsers_get_the_error_page_apis_get_json(client):
    page = client.get("/clients/x", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 401 and page.mimetype == "text/html"
    assert b"401 Unauthorized" in page.data and b"admin bearer token required" in page.data
    api = client.get("/clients/x", headers={"Accept": "application/json"})
    assert api.mimetype == "application/json" and api.json["statusCode"] == 401
    oauth = client.post("/oauth/token", data={}, headers={"Accept": "text/html"})
    assert oauth.mimetype == "application/json", "OAuth endpoints always answer RFC 6749 JSON"


@pytest.mark.parametrize("method, path, accept, status", [
    ("GET", "/clients", "application/json", 401),          # a domain error, Mia's JSON
    ("POST", "/oauth/token", "application/json", 400),     # an OAuth error (RFC 6749 JSON)
    ("GET", "/no-such-thing", "application/json", 404),    # an HTTP error
    ("GET", "/clients", "text/html", 401),                 # the error page
    ("GET", "/web-login/forbidden", "text/html", 403),     # the 403 page nginx shows
])
def test_every_error_answer_names_the_request_id_of_its_log_lines(client, caplog, method, path, accept, status):
    gatehouse = logging.getLogger("gatehouse")  # its lines do not propagate to the root logger
    level = gatehouse.level
    gatehouse.addHandler(caplog.handler)
    gatehouse.setLevel(logging.INFO)
    try:
        r = client.open(path, method=method, headers={"Accept": accept, "X-Request-Id": "trace-abc-123"})
    finally:
        gatehouse.removeHandler(caplog.handler)
        gatehouse.setLevel(level)
    assert r.status_code == status and r.headers["X-Request-Id"] == "trace-abc-123"
    if accept == "application/json":
        assert r.json["requestId"] == "trace-abc-123"
    else:
        assert '<code id="request-id">trace-abc-123</code>' in r.get_data(as_text=True)
    assert [rec.name for rec in caplog.records if getattr(rec, "request_id", None) == "trace-abc-123"
            and rec.name == "gatehouse.access"] == ["gatehouse.access"]
    bad = client.open(path, method=method, headers={"Accept": accept, "X-Request-Id": "trace abc"})
    assert "trace abc" not in bad.get_data(as_text=True) and len(bad.headers["X-Request-Id"]) == 32
