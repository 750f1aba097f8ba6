"""POST /auth/explain and `gatehouse check`: the matched rule, the principal, the outcome."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from app.settings import load_settings
from tests.conftest import ADMIN, basic

ROUTES = {"/orders": {"GET": {"authorization": {"expression": "permissions.orders"}, "apiProduct": "shop"}}}


@pytest.fixture
def setup(env, tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(ROUTES))
    full_env = {**env, "ROUTES_FILE": str(path)}
    c = create_app(load_settings(full_env)).test_client()
    reg = c.post("/register", json={"client_name": "x", "scope": "shop", "permissions": ["orders"]}, headers=ADMIN).json
    token = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   headers=basic(reg["client_id"], reg["client_secret"])).json["access_token"]
    return full_env, c, token, reg


def test_explain_endpoint(setup):
    _, c, token, reg = setup
    r = c.post("/auth/explain", json={"method": "GET", "uri": "/orders?x=1",
                                      "headers": {"Authorization": f"Bearer {token}"}}, headers=ADMIN)
    assert r.status_code == 200
    body = r.json
    assert body["outcome"] == "allow" and body["reason"] == "allowed"
    assert body["rule"]["path"] == "/orders" and body["rule"]["expression"] == "permissions.orders"
    assert body["principal"]["id"] == reg["client_id"] and body["principal"]["source"] == "gatehouse-jwt"
    r = c.post("/auth/explain", json={"method": "GET", "uri": "/orders"}, headers=ADMIN)
    assert (r.json["outcome"], r.json["reason"]) == ("unauthenticated", "no scope for API product shop")


@pytest.mark.parametrize("body,headers,status", [
    ({"method": "GET", "uri": "/orders"}, {}, 401),
    ({"method": "BREW", "uri": "/orders"}, ADMIN, 400),
    ({"uri": "/orders"}, ADMIN, 400),
    ({"method": "GET", "uri": "/orders", "extra": 1}, ADMIN, 400),
])
def test_explain_refusals(setup, body, headers, status):
    _, c, _, _ = setup
    r = c.post("/auth/explain", json=body, headers=headers)
    assert r.status_code == status and r.json["statusCode"] == status


def test_check_command(setup):
    env, _, token, _ = setup
    run = CliRunner().invoke(main, ["check", "--method", "GET", "--uri", "/orders", "--token", token],
                             env={**env, "GATEHOUSE_CONFIG": ""})
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["outcome"] == "allow"
    run = CliRunner().invoke(main, ["check", "--method", "GET", "--uri", "/nope", "--header", "client-key: x"],
                             env={**env, "GATEHOUSE_CONFIG": ""})
    assert json.loads(run.output)["reason"] == "no route matches"
    bad = CliRunner().invoke(main, ["check", "--method", "GET", "--uri", "/x", "--header", "nocolon"],
                             env={**env, "GATEHOUSE_CONFIG": ""})
    assert bad.exit_code == 1 and "Name: value" in bad.output
