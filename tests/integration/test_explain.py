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


def test_explain_names_a_refused_credential(setup):
    """The reason of a 401 says which credential was refused and why (the decision log's words)."""
    _, c, token, reg = setup
    assert c.post("/oauth/revoke", data={"token": token},
                  headers=basic(reg["client_id"], reg["client_secret"])).status_code == 200
    body = c.post("/auth/explain", json={"method": "GET", "uri": "/orders",
                                         "headers": {"Authorization": f"Bearer {token}"}}, headers=ADMIN).json
    assert (body["outcome"], body["code"], body["source"]) == ("unauthenticated", "revoked", "jwt")
    assert body["reason"] == "jwt credential refused: token has been revoked"
    body = c.post("/auth/explain", json={"method": "GET", "uri": "/orders",
                                         "headers": {"Authorization": "Bearer x.y.z"}}, headers=ADMIN).json
    assert (body["code"], body["source"]) == ("credential_refused", "bearer")


def cli(env, *args):
    return CliRunner().invoke(main, ["check", *args], env={**env, "GATEHOUSE_CONFIG": ""})


@pytest.mark.parametrize("case,args,extra_env,status,code,says", [
    ("allowed", ["--uri", "/orders"], {}, 0, "allowed", None),
    ("no route", ["--uri", "/nope", "--header", "client-key: x"], {}, 1, "no_route", "refused (no_route)"),
    ("revoked", ["--uri", "/orders"], {}, 1, "revoked", "refused (revoked): jwt credential refused: token has been revoked"),
    ("anonymous", ["--uri", "/orders", "--no-token"], {}, 1, "missing_scope", "no scope for API product shop"),
    ("bad header", ["--uri", "/x", "--header", "nocolon"], {}, 2, None, "Name: value"),
    ("bad config", ["--uri", "/orders"], {"HTTP_PORT": "x"}, 2, None, "HTTP_PORT: Not a valid integer"),
    ("Redis down", ["--uri", "/orders"], {"REDIS_URL": "redis://127.0.0.1:1/0"}, 2, None, "cannot decide"),
])
def test_check_command_exit_status(setup, case, args, extra_env, status, code, says):
    """0 allowed, 1 refused (naming why, e.g. revoked), 2 the check could not be made."""
    env, c, token, reg = setup
    if case == "revoked":
        c.post("/oauth/revoke", data={"token": token}, headers=basic(reg["client_id"], reg["client_secret"]))
    token_args = [] if "--no-token" in args else ["--token", token]
    run = cli({**env, **extra_env}, "--method", "GET", *[a for a in args if a != "--no-token"], *token_args)
    assert run.exit_code == status, run.output
    if code is not None:
        assert json.loads(run.stdout)["code"] == code
    if says is not None:
        assert says in run.stderr
    assert "Traceback" not in run.output
