"""POST /auth/explain and `gatehouse check`: the matched rule, the principal, the outcome."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from app.settings import load_settings
from tests.conftest import ADMIN, basic, login_app, store_state, with_apps

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
    ({"method": "GET", "uri": "/orders", "client": "c", "headers": {"authorization": "Bearer x"}}, ADMIN, 400),
    ({"method": "GET", "uri": "/orders", "token": "t", "client": "c"}, ADMIN, 400),
    ({"method": "GET", "uri": "/orders", "user": ""}, ADMIN, 400),
    ({"method": "GET", "uri": "/orders", "user": "u" * 321}, ADMIN, 400),
    ({"method": "GET", "uri": "/orders", "user": "nobody"}, ADMIN, 404),
    ({"method": "GET", "uri": "/orders", "client": "nobody"}, ADMIN, 404),
    ({"method": "GET", "uri": "/orders", "client": "nobody"}, {}, 401),
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
    ("bad method", ["--uri", "/orders", "--method", "BREW"], {}, 2, "bad_request", "cannot decide: unknown method"),
    ("bad config", ["--uri", "/orders"], {"HTTP_PORT": "x"}, 2, None, "HTTP_PORT: Not a valid integer"),
    ("Redis down", ["--uri", "/orders"], {"REDIS_URL": "redis://127.0.0.1:1/0"}, 2, None, "cannot decide"),
])
def test_check_command_exit_status(setup, case, args, extra_env, status, code, says):
    """0 allowed, 1 refused (naming why, e.g. revoked), 2 the check could not be made."""
    env, c, token, reg = setup
    if case == "revoked":
        c.post("/oauth/revoke", data={"token": token}, headers=basic(reg["client_id"], reg["client_secret"]))
    token_args = [] if "--no-token" in args else ["--token", token]
    method = [] if "--method" in args else ["--method", "GET"]
    run = cli({**env, **extra_env}, *method, *[a for a in args if a != "--no-token"], *token_args)
    assert run.exit_code == status, run.output
    if code is not None:
        assert json.loads(run.stdout)["code"] == code
    if says is not None:
        assert says in run.stderr
    assert "Traceback" not in run.output


# -- ask before it happens: a user (by id or email) or a client named, not a credential in hand --

ASK_ROUTES = {**ROUTES, "/admin": {"GET": {"authorization": {"expression": "groups.admin && claims.user.name != 'x'"}}},
              "/reports": {"GET": {"authorization": {"expression": "groups.admin"},
                                   "backofficeAuthorization": {"expression": "groups.users || groups.ops"}}}}
ADMIN_GROUP = "Администраторы"


def stores(c) -> tuple[int, str]:
    """The stores' state: a question that writes nothing leaves it as it was."""
    svc = c.application.extensions["gatehouse"]
    return store_state(svc.redis, svc.mongo)


@pytest.fixture
def ask(env, tmp_path):
    """An app with a login app (users belong to its realm), a client, a token, an admin user, a
    plain user and a blocked user; the environment the CLI reads the same configuration from."""
    routes = tmp_path / "ask.json"
    routes.write_text(json.dumps(ASK_ROUTES))
    full_env = {**with_apps(env, tmp_path, {"web": login_app("http://127.0.0.1:9")}), "ROUTES_FILE": str(routes),
                "USER_PROPERTIES_TO_PROXY": "name"}
    c = create_app(load_settings(full_env)).test_client()
    reg = c.post("/register", json={"client_name": "shop", "scope": "shop", "permissions": ["orders"]},
                 headers=ADMIN).json
    token = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                   headers=basic(reg["client_id"], reg["client_secret"])).json["access_token"]
    people = {}
    for key, body in (("ann", {"email": "Ann.Lee@example.test", "name": "Анна Ли",
                               "groups": [ADMIN_GROUP, "admin", *[f"g{i:03}" for i in range(98)]]}),
                      ("bob", {"email": "bob@example.test", "groups": ["users"]}),
                      ("eve", {"email": "eve@example.test", "groups": ["admin"], "blocked": True})):
        r = c.post("/users", json=body, headers=ADMIN)
        assert r.status_code == 201, r.json
        people[key] = r.json["userId"]
    return {"env": full_env, "c": c, "client": reg["client_id"], "token": token, **people}


ASK_CASES = [
    # case, whom to ask about, uri, HTTP status, outcome, code, reason
    ("user by id", {"user": "$ann"}, "/admin", 200, "allow", "allowed", "allowed"),
    ("user by email", {"user": "ann.lee@EXAMPLE.test"}, "/admin", 200, "allow", "allowed", "allowed"),
    ("user without the group", {"user": "$bob"}, "/admin", 200, "forbidden", "expression_false",
     "expression \"groups.admin && claims.user.name != 'x'\" is false"),
    ("user, no scope", {"user": "$ann"}, "/orders", 200, "forbidden", "missing_scope", "no scope for API product shop"),
    ("blocked user", {"user": "$eve"}, "/admin", 200, "unauthenticated", "session_ended",
     "session credential refused: user is blocked: their sessions have ended and logins are refused"),
    ("client", {"client": "$client"}, "/orders", 200, "allow", "allowed", "allowed"),
    ("client, no route", {"client": "$client"}, "/nope", 200, "unauthenticated", "no_route", "no route matches"),
    ("token", {"token": "$token"}, "/orders", 200, "allow", "allowed", "allowed"),
    ("unknown user", {"user": "nobody@example.test"}, "/admin", 404, None, None, "no such user: 'nobody@example.test'"),
    ("unknown client", {"client": "nope"}, "/orders", 404, None, None, "no such client"),
    ("user and client", {"user": "$ann", "client": "$client"}, "/orders", 400, None, None, "give one of"),
]


def named(ask, who: dict) -> dict:
    return {k: ask[v[1:]] if v.startswith("$") else v for k, v in who.items()}


@pytest.mark.parametrize("case,who,uri,status,outcome,code,reason", ASK_CASES, ids=[c[0] for c in ASK_CASES])
def test_explain_for_a_user_or_client_before_they_call(ask, case, who, uri, status, outcome, code, reason):
    """POST /auth/explain with `user` (userId or email), `client` or `token`: the decision a check
    would make for them now, from MongoDB, writing nothing (no session, no token, no counter)."""
    c = ask["c"]
    before = stores(c)
    r = c.post("/auth/explain", json={"method": "GET", "uri": uri, **named(ask, who)}, headers=ADMIN)
    assert r.status_code == status, r.json
    if "token" not in who:  # a token is checked as /auth checks it; a named caller only read
        assert stores(c) == before, "explain wrote to Redis or MongoDB"
    if outcome is None:
        assert reason in json.dumps(r.json, ensure_ascii=False)
        return
    body = r.json
    assert (body["outcome"], body["code"], body["reason"]) == (outcome, code, reason)
    if case == "user by id" or case == "user by email":
        assert body["principal"]["id"] == ask["ann"] and body["principal"]["kind"] == "user"
        assert ADMIN_GROUP in body["principal"]["groups"] and len(body["principal"]["groups"]) == 100
        assert body["rule"]["path"] == "/admin"
        assert body["headers"]["mia-userid"] == ask["ann"]
        assert json.loads(body["headers"]["mia-userproperties"]) == {"name": "Анна Ли"}
    admin_terms = {"user by id": True, "user by email": True, "user without the group": False}
    if case in admin_terms:  # each term of the rule's expression, with its value for this user
        assert body["terms"] == [{"term": "groups.admin", "value": admin_terms[case]},
                                 {"term": "claims.user.name != 'x'", "value": True}]
    elif outcome != "allow":
        assert body["terms"] is None, "decided before the expression: no terms"
    if case == "client":
        assert body["terms"] == [{"term": "permissions.orders", "value": True}]
        assert body["principal"]["id"] == ask["client"] and body["principal"]["scopes"] == ["shop"]
        assert body["principal"]["permissions"] == ["orders"]


def test_explain_follows_the_store(ask):
    """The answer is MongoDB's now: a group granted a moment ago counts, as it would at the user's next login."""
    c = ask["c"]
    ask_bob = {"method": "GET", "uri": "/admin", "user": ask["bob"]}
    assert c.post("/auth/explain", json=ask_bob, headers=ADMIN).json["outcome"] == "forbidden"
    assert c.patch(f"/users/{ask['bob']}", json={"addGroups": ["admin"]}, headers=ADMIN).status_code == 200
    assert c.post("/auth/explain", json=ask_bob, headers=ADMIN).json["outcome"] == "allow"
    assert c.delete(f"/clients/{ask['client']}", headers=ADMIN).status_code == 200
    body = c.post("/auth/explain", json={"method": "GET", "uri": "/orders", "client": ask["client"]},
                  headers=ADMIN).json
    assert (body["outcome"], body["code"]) == ("unauthenticated", "credential_refused")
    assert "client is disabled" in body["reason"]


@pytest.mark.parametrize("case,who,uri,status,outcome,code,reason", ASK_CASES, ids=[c[0] for c in ASK_CASES])
def test_explain_command(ask, case, who, uri, status, outcome, code, reason):
    """`gatehouse explain --user|--client|--token`: the same answer; exit 0 allowed, 1 refused,
    2 no such user or client (one line) or a bad question."""
    env = ask["env"]
    args = [a for k, v in named(ask, who).items() for a in (f"--{k}", v)]
    before = stores(ask["c"])
    run = CliRunner().invoke(main, ["explain", "--method", "GET", "--uri", uri, *args], env=env)
    if "token" not in who:
        assert stores(ask["c"]) == before, "explain wrote to Redis or MongoDB"
    assert "Traceback" not in run.output
    if outcome is None:
        assert run.exit_code == 2, run.output
        line = f"cannot decide: {reason}" if status == 404 else reason
        assert line in run.stderr, run.stderr
        if status == 404:
            assert run.stderr.strip() == line and run.stdout == ""
        return
    assert run.exit_code == (0 if outcome == "allow" else 1), run.output
    body = json.loads(run.stdout)
    assert (body["outcome"], body["code"], body["reason"]) == (outcome, code, reason)
    if outcome != "allow":
        assert run.stderr.strip() == f"refused ({code}): {reason}"


def test_explain_an_email_two_users_share(env, tmp_path):
    """An email names one user per realm: shared by two, the question is 400 (give the userId)."""
    partners = {**login_app("http://127.0.0.1:9"), "realm": "partners"}
    c = create_app(load_settings(with_apps(env, tmp_path, {"web": login_app("http://127.0.0.1:9"),
                                                            "partners": partners}, default_app_id="web"))).test_client()
    ids = [c.post("/users", json={"email": "sam@example.test", "realm": realm}, headers=ADMIN).json["userId"]
           for realm in ("demo", "partners")]
    r = c.post("/auth/explain", json={"method": "GET", "uri": "/x", "user": "SAM@example.test"}, headers=ADMIN)
    assert r.status_code == 400 and "2 users have the email 'SAM@example.test': give the userId" in r.json["message"]
    r = c.post("/auth/explain", json={"method": "GET", "uri": "/x", "user": ids[1]}, headers=ADMIN)
    assert r.status_code == 200 and r.json["principal"]["id"] == ids[1]


@pytest.mark.parametrize("headers,outcome,terms", [
    ({}, "forbidden", [{"term": "groups.admin", "value": False}]),
    ({"isbackoffice": "true"}, "allow",
     [{"term": "groups.users", "value": True}, {"term": "groups.ops", "value": False}]),
])
def test_explain_terms_of_the_block_that_judged(ask, headers, outcome, terms):
    """Through the backoffice listener the rule's backoffice expression judges: its terms are shown."""
    body = ask["c"].post("/auth/explain", json={"method": "GET", "uri": "/reports", "user": ask["bob"],
                                                "headers": headers}, headers=ADMIN).json
    assert (body["outcome"], body["terms"]) == (outcome, terms)
