"""The decision log: one JSON line per /auth decision — who, what, which route, the decision and
its reason in /auth/explain's words — at the configured level (all, refusals, off), never a
credential; the decision counter by reason; and the token endpoint's issuance lines."""
from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from app import create_app
from app.observability import redact_uri
from app.settings import load_settings
from tests.conftest import ADMIN, basic

ROUTES = {
    "/orders": {"GET": {"authorization": {"expression": "permissions.orders"}},
                "DELETE": {"authorization": {"expression": "permissions.admin"}}},
    "/public": {"GET": {"authorization": {"expression": "true", "public": True}}},
}


# A well-formed JWT from an issuer Gatehouse does not know (header.claims.signature, unsigned).
FOREIGN = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2Vsc2V3aGVyZS5leGFtcGxlIiwic3ViIjoieCJ9.c2lnbmF0dXJl"


@pytest.fixture
def lines(log_lines):
    return log_lines


def make(env, tmp_path, level=None, **extra):
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    if level is not None:
        extra["DECISION_LOG"] = level
    app = create_app(load_settings({**env, "ROUTES_FILE": str(routes), "LOG_LEVEL": "info", **extra}))
    c = app.test_client()
    reg = c.post("/register", json={"client_name": "t", "permissions": ["orders"]}, headers=ADMIN).json
    token = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   headers=basic(reg["client_id"], reg["client_secret"])).json["access_token"]
    return c, reg, token


def check(c, uri, method="GET", token=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return c.get("/auth", headers={"X-Original-URI": uri, "X-Original-Method": method, "X-Request-Id": "req-7",
                                   **headers}).status_code


# case, uri, method, credential, status, decision, code, reason, source, route
CASES = [
    ("allowed", "/orders?access_token=abc&x=1", "GET", "token", 204, "allow", "allowed", "allowed",
     "gatehouse-jwt", "GET /orders"),
    ("expression false", "/orders/1", "DELETE", "token", 403, "forbidden", "expression_false",
     "expression 'permissions.admin' is false", "gatehouse-jwt", "DELETE /orders"),
    ("revoked", "/orders", "GET", "revoked", 401, "unauthenticated", "revoked",
     "jwt credential refused: token has been revoked", "jwt", "GET /orders"),
    ("bad signature", "/orders", "GET", "tampered", 401, "unauthenticated", "credential_refused",
     "jwt credential refused: token is invalid or expired", "jwt", "GET /orders"),
    ("opaque token no source knows", "/orders", "GET", "opaque", 401, "unauthenticated", "credential_refused",
     "bearer credential refused: no configured source knows this token", "bearer", "GET /orders"),
    ("anonymous", "/orders", "GET", None, 401, "unauthenticated", "no_identity", "no identity", None,
     "GET /orders"),
    ("no route", "/nowhere?code=s3cr3t", "GET", None, 401, "unauthenticated", "no_route", "no route matches",
     None, None),
    ("dot segments", "/public/../orders", "GET", None, 403, "forbidden", "path_refused",
     "path refused: dot segments", None, None),
    ("unknown method", "/orders", "BREW", None, 403, "forbidden", "bad_request", "unknown method", None, None),
    ("unknown issuer", "/orders", "GET", "foreign", 401, "unauthenticated", "credential_refused",
     "jwt credential refused: unknown issuer", "jwt", "GET /orders"),
]


@pytest.mark.parametrize("case,uri,method,credential,status,decision,code,reason,source,route", CASES,
                         ids=[c[0] for c in CASES])
def test_each_decision_is_one_line_with_its_reason(env, tmp_path, lines, case, uri, method, credential, status,
                                                    decision, code, reason, source, route):
    c, reg, token = make(env, tmp_path, "all")
    presented = {"token": token, "revoked": token, "tampered": token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB"),
                 "opaque": "opaque-credential-0123456789", "foreign": FOREIGN}
    if credential == "revoked":
        assert c.post("/oauth/revoke", data={"token": token},
                      headers=basic(reg["client_id"], reg["client_secret"])).status_code == 200
    before = REGISTRY.get_sample_value("gatehouse_auth_decisions_total", {"decision": decision, "reason": code}) or 0
    lines.lines.clear()
    assert check(c, uri, method, presented.get(credential)) == status
    [line] = lines.docs("gatehouse.decision")
    assert lines.docs("gatehouse.access") == []  # the decision line replaces the access line
    assert line["request_id"] == "req-7" and line["method"] == method
    assert line["decision"] == decision and line["status"] == status
    assert (line["code"], line["reason"], line["source"], line["route"]) == (code, reason, source, route)
    assert line["principal"] == (f"client:{reg['client_id']}" if decision != "unauthenticated" and credential
                                 else None)
    assert isinstance(line["duration_ms"], float)
    raw = "\n".join(lines.lines)
    assert token not in raw and token.split(".")[2] not in raw and "s3cr3t" not in raw and "opaque-credential" not in raw
    after = REGISTRY.get_sample_value("gatehouse_auth_decisions_total", {"decision": decision, "reason": code})
    assert after == before + 1


def test_the_logged_uri_keeps_the_request_but_not_its_credentials(env, tmp_path, lines):
    c, _, token = make(env, tmp_path, "all")
    check(c, "/orders?access_token=abc&x=1", token=token)
    [line] = lines.docs("gatehouse.decision")
    assert line["uri"] == "/orders?access_token=REDACTED&x=1"


@pytest.mark.parametrize("uri,logged", [
    ("/a?x=1&y=2", "/a?x=1&y=2"),
    ("/a?code=abc&state=xyz", "/a?code=REDACTED&state=REDACTED"),
    ("/a?ID_TOKEN=e.y.j&Client_Secret=s&api%5Fkey=k", "/a?ID_TOKEN=REDACTED&Client_Secret=REDACTED&api%5Fkey=REDACTED"),
    ("/a?password=p&password=q&flag", "/a?password=REDACTED&password=REDACTED&flag"),
    ("/a?x=1;token=abc", "/a?x=1;token=REDACTED"),
    ("/x;jsessionid=abc/y;v=2", "/x;jsessionid=REDACTED/y;v=2"),
    # a URL in a parameter: its own query, literal or encoded
    ("/a?next=/x?token=abc&y=1", "/a?next=/x?token=REDACTED&y=1"),
    ("/a?next=%2Fx%3Fcode%3Dabc%26v%3D1&y=1", "/a?next=REDACTED&y=1"),
    ("/a?next=https%3A%2F%2Fh%2Fx%3Fv%3D1&y=%3F", "/a?next=https%3A%2F%2Fh%2Fx%3Fv%3D1&y=%3F"),
    ("/a?X-Amz-Security-Token=t&oauth_token=t&accessToken=t&pwd=t&SAMLResponse=t&id_token_hint=t",
     "/a?X-Amz-Security-Token=REDACTED&oauth_token=REDACTED&accessToken=REDACTED&pwd=REDACTED"
     "&SAMLResponse=REDACTED&id_token_hint=REDACTED"),
    ("/a?user[password]=p&token[]=t&access.token=t&access+token=t&%20token=t",
     "/a?user[password]=REDACTED&token[]=REDACTED&access.token=REDACTED&access+token=REDACTED&%20token=REDACTED"),
    ("/a?x=%2F%20y#frag", "/a?x=%2F%20y"),
    # WSGI hands the request's bytes over as latin-1 characters: UTF-8 `é` arrives as two
    ("/caf\u00c3\u00a9\n?x=%41", "/caf%C3%A9%0A?x=%2541"),
    ("/caf\u00e9", "/caf%E9"),
    ("/" + "a" * 3000, "/" + "a" * 2047 + "..."),
    ("/" + "\u00e9" * 3000, "/" + "%E9" * 682 + "%..."),
])
def test_redact_uri(uri, logged):
    assert redact_uri(uri) == logged


@pytest.mark.parametrize("level,allowed_lines,refused_lines", [("all", 1, 1), ("refusals", 0, 1), ("off", 0, 0)])
def test_levels(env, tmp_path, lines, level, allowed_lines, refused_lines):
    c, _, token = make(env, tmp_path, level)
    before = REGISTRY.get_sample_value("gatehouse_auth_decisions_total", {"decision": "allow", "reason": "allowed"}) or 0
    lines.lines.clear()
    assert check(c, "/orders", token=token) == 204
    assert len(lines.docs("gatehouse.decision")) == allowed_lines
    lines.lines.clear()
    assert check(c, "/orders") == 401
    assert len(lines.docs("gatehouse.decision")) == refused_lines
    # counted at every level, the log off or not
    assert REGISTRY.get_sample_value("gatehouse_auth_decisions_total",
                                     {"decision": "allow", "reason": "allowed"}) == before + 1


def test_refusals_is_the_default(env, tmp_path, lines):
    c, _, token = make(env, tmp_path)
    check(c, "/orders", token=token)
    check(c, "/orders")
    assert [d["decision"] for d in lines.docs("gatehouse.decision")] == ["unauthenticated"]


@pytest.mark.parametrize("value", ["verbose", "ALL", "none", "refusal"])
def test_a_bad_level_names_the_key(env, tmp_path, value):
    from app.settings import ConfigError
    with pytest.raises(ConfigError) as caught:
        load_settings({**env, "DECISION_LOG": value})
    assert any(p.startswith("DECISION_LOG") for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("level", ["refusals", "off"])
def test_a_store_down_is_an_error_line_at_every_level(env, tmp_path, lines, own_servers, level):
    """Redis gone: the check fails closed (503) and the line says so, at warning level — even
    with the decision log off (an outage must leave a trace)."""
    r, _ = own_servers
    c, _, token = make(env, tmp_path, level, REDIS_URL=r.url)
    r.stop()
    lines.lines.clear()
    assert check(c, "/orders", token=token) == 503
    [line] = lines.docs("gatehouse.decision")
    assert (line["decision"], line["status"], line["code"], line["level"]) == (
        "error", 503, "temporarily_unavailable", "warning")
    assert line["uri"] == "/orders" and line["method"] == "GET" and token not in json.dumps(line)


def test_an_api_key_alone_is_the_source(env, tmp_path, lines):
    import hashlib
    config = tmp_path / "keys.json"
    config.write_text(json.dumps({"api_keys": [{"sha256": hashlib.sha256(b"key-a").hexdigest(), "clientType": "A"}]}))
    c, _, _ = make(env, tmp_path, "all", GATEHOUSE_CONFIG=str(config))
    lines.lines.clear()
    assert check(c, "/orders", **{"client-key": "key-a"}) == 401
    [line] = lines.docs("gatehouse.decision")
    assert (line["source"], line["client_type"], line["principal"]) == ("api-key", "A", None)
    assert "key-a" not in "\n".join(lines.lines)


def test_token_issuance_names_the_client_and_method(env, tmp_path, lines):
    c, reg, token = make(env, tmp_path)
    lines.lines.clear()
    posted = c.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": reg["client_id"],
                                          "client_secret": reg["client_secret"]})
    basic_auth = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic(reg["client_id"], reg["client_secret"]))
    assert posted.status_code == basic_auth.status_code == 200
    issued = lines.docs("gatehouse.tokens")
    assert [(d["msg"], d["client_id"], d["auth_method"], d["grant_type"]) for d in issued] == [
        ("token issued", reg["client_id"], "client_secret_post", "client_credentials"),
        ("token issued", reg["client_id"], "client_secret_basic", "client_credentials")]
    assert all(d["request_id"] and d["jti"] for d in issued)
    raw = "\n".join(lines.lines)
    for secret in (posted.json["access_token"], basic_auth.json["access_token"], reg["client_secret"]):
        assert secret not in raw


def test_login_and_refresh_lines_name_the_app_provider_and_user(env, tmp_path, lines, dev_provider):
    from tests.conftest import login_app, with_apps
    from tests.integration.test_login import at_dev_provider, start
    app = create_app(load_settings({**with_apps(env, tmp_path, {"web": login_app(dev_provider.url, isWebsiteApp=False)}),
                                    "LOG_LEVEL": "info"}))
    browser = app.test_client()
    lines.lines.clear()
    session = browser.post("/oauth/token", json=at_dev_provider(start(browser), "alice")).json
    refreshed = app.test_client().post("/refreshtoken", json={"refreshToken": session["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.json
    issued = lines.docs("gatehouse.tokens")
    assert [(d["grant_type"], d["auth_method"], d["client_id"]) for d in issued] == [
        ("login", "provider:dev", "web"), ("refresh_token", "refresh_token", "web")]
    assert issued[0]["user_id"] == issued[1]["user_id"] and issued[0]["user_id"]
    raw = "\n".join(lines.lines)
    for secret in (session["accessToken"], session["refreshToken"], refreshed.json["accessToken"],
                   refreshed.json["refreshToken"]):
        assert secret not in raw
