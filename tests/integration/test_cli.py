"""The `gatehouse` command against the real stores."""
from __future__ import annotations

import json

import jwt as pyjwt
import pytest
from click.testing import CliRunner

from app.cli import main
from tests.conftest import basic


def run(env, *args, ok=True):
    result = CliRunner().invoke(main, list(args), env={**env, "GATEHOUSE_CONFIG": ""}, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_clients_lifecycle(env, client):
    created = json.loads(run(env, "clients", "create", "--name", "cli", "--scope", "a", "--scope", "b",
                             "--permission", "p").output)
    cid, secret = created["client_id"], created["client_secret"]
    assert created["scope"] == "a b"
    assert [c["clientId"] for c in json.loads(run(env, "clients", "list").output)] == [cid]
    assert json.loads(run(env, "clients", "show", cid).output)["permissions"] == ["p"]
    assert client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(cid, secret)).status_code == 200
    new_secret = json.loads(run(env, "clients", "rotate-secret", cid).output)["client_secret"]
    assert client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(cid, secret)).status_code == 401
    assert client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(cid, new_secret)).status_code == 200
    live = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(cid, new_secret)).json["access_token"]
    assert json.loads(run(env, "clients", "disable", cid).output)["state"] == "DISABLED"
    assert client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic(cid, new_secret)).status_code == 401
    assert tokeninfo(client, live) == 401, "a disabled client's live tokens are refused"
    assert json.loads(run(env, "clients", "enable", cid).output)["state"] == "ENABLED"
    fresh = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic(cid, new_secret)).json["access_token"]
    assert tokeninfo(client, fresh) == 200 and tokeninfo(client, live) == 401
    assert json.loads(run(env, "clients", "revoke-tokens", cid).output)["state"] == "ENABLED"
    assert tokeninfo(client, fresh) == 401


def tokeninfo(client, token: str) -> int:
    return int(client.get("/tokeninfo", headers={"Authorization": f"Bearer {token}"}).status_code)


def test_client_commands_say_what_happens():
    for command, words in (("disable", "every token it holds is refused"), ("enable", "stay refused"),
                           ("revoke-tokens", "stays enabled"), ("rotate-secret", "revoke-tokens")):
        result = CliRunner().invoke(main, ["clients", command, "--help"])
        assert result.exit_code == 0 and words in " ".join(result.output.split()), result.output


def test_cli_errors(env):
    result = run(env, "clients", "show", "nope", ok=False)
    assert result.exit_code == 1 and "no such client" in result.output
    result = run({**env, "CLIENT_ID_HASH_SALT": "short"}, "clients", "list", ok=False)
    assert result.exit_code == 1 and "CLIENT_ID_HASH_SALT: must be at least 16" in result.output
    result = run({**env, "HTTP_PORT": "x"}, "check-config", ok=False)
    assert result.exit_code == 2
    assert "configuration OK" in run(env, "check-config").output


def test_keys_generate_and_assertion(env, tmp_path, client):
    out = tmp_path / "k.pem"
    info = json.loads(run(env, "keys", "generate", "--type", "ec", "--out", str(out)).output)
    assert info["alg"] == "ES256" and out.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "k.pem.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert run(env, "keys", "generate", "--out", str(out), ok=False).exit_code == 1, "never overwrites"
    enc = tmp_path / "enc.pem"
    run({**env, "KEY_PW": "pw-1"}, "keys", "generate", "--out", str(enc), "--password-env", "KEY_PW")
    assert b"ENCRYPTED" in enc.read_bytes()
    # an EC client registered with that key gets a token with the printed assertion
    created = json.loads(run(env, "clients", "create", "--name", "ec", "--auth-method", "private_key_jwt",
                             "--public-key-file", str(tmp_path / "k.pem.pub")).output)
    assertion = run(env, "assertion", "--client-id", created["client_id"], "--key", str(out),
                    "--audience", "https://gatehouse.test/oauth/token").output.strip()
    assert pyjwt.get_unverified_header(assertion)["alg"] == "ES256"
    r = client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert r.status_code == 200, r.json


# -- where the CLI finds its configuration --

def config_file_of(env: dict[str, str], path) -> None:
    """The environment's settings written as a config file (lower-case keys), with a login app."""
    from app.settings import ENV_NAMES
    from tests.conftest import PROVIDER_TOKEN_KEY, login_app
    data = {key: env[name] for key, names in ENV_NAMES.items() for name in reversed(names) if name in env}
    data.update(apps={"web": login_app("http://127.0.0.1:9")}, provider_token_key=PROVIDER_TOKEN_KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


NOTHING_FOUND = ("Error: no configuration found: looked at --config (not given), GATEHOUSE_CONFIG (not set) and "
                 "./var/gatehouse.yaml (no such file); pass --config FILE (`gatehouse dev` writes "
                 "<var-dir>/gatehouse.yaml) or set GATEHOUSE_CONFIG=FILE")


@pytest.mark.parametrize("case,args,where,status,says", [
    ("before the command", ["--config", "{F}", "users", "list"], None, 0, "0 of 0 users"),
    ("after the command", ["users", "list", "--config", "{F}"], None, 0, "0 of 0 users"),
    ("both, the same", ["--config", "{F}", "users", "list", "--config", "{F}"], None, 0, "0 of 0 users"),
    ("GATEHOUSE_CONFIG", ["users", "list"], "env", 0, "0 of 0 users"),
    ("./var/gatehouse.yaml", ["users", "list"], "var", 0, "0 of 0 users"),
    ("before check-config", ["--config", "{F}", "check-config"], None, 0, "configuration OK"),
    ("nothing found", ["users", "list"], "none", 2, NOTHING_FOUND),
    ("nothing found, check-config", ["check-config"], "none", 2, NOTHING_FOUND),
    ("nothing found, clients", ["clients", "list"], "none", 2, NOTHING_FOUND),
    ("two different files", ["--config", "{F}", "users", "list", "--config", "other.yaml"], None, 2,
     "--config given twice"),
    ("before dev", ["--config", "{F}", "dev"], None, 2, "takes its --config after `dev`"),
])
def test_cli_finds_its_configuration(env, tmp_path, monkeypatch, case, args, where, status, says):
    """--config before or after the command, GATEHOUSE_CONFIG, ./var/gatehouse.yaml (what `gatehouse
    dev` writes in its default var directory); with none, one line naming where it looked."""
    from app.settings import ENV_NAMES
    elsewhere = tmp_path / "elsewhere" / "gatehouse.yaml"  # `gatehouse dev --var-dir` outside the checkout
    config_file_of(env, elsewhere)
    workdir = tmp_path / "work"
    workdir.mkdir()
    if where == "var":
        config_file_of(env, workdir / "var" / "gatehouse.yaml")
    monkeypatch.chdir(workdir)
    # nothing from the environment: the settings come from the file, or from nowhere
    cleared = {name: None for names in ENV_NAMES.values() for name in names}
    cleared["GATEHOUSE_CONFIG"] = str(elsewhere) if where == "env" else None
    result = CliRunner().invoke(main, [str(elsewhere) if a == "{F}" else a for a in args], env=cleared)
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output
    if status == 0:
        assert says in result.output
    else:
        lines = result.stderr.strip().splitlines()
        assert says in lines[-1], result.stderr
        if says == NOTHING_FOUND:
            assert lines == [NOTHING_FOUND] and result.stdout == ""


# -- check-config says what will happen --

NO_ROUTES = "warning: every /auth check will be refused: no routes_file (ROUTES_FILE)"


@pytest.mark.parametrize("case,routes,apps,environ,warnings", [
    ("complete", {"/x": {"GET": {"authorization": {"expression": "true"}}}}, True, {}, []),
    ("no routes_file", None, True, {}, [NO_ROUTES]),
    ("an empty route file", {}, False, {},
     ["warning: every /auth check will be refused: ROUTES_FILE ({routes}) has no routes"]),
    ("apps, sessions not read", {"/x": {"GET": {"authorization": {"expression": "true"}}}}, True,
     {"CREDENTIAL_SOURCES": "jwt"},
     ["warning: /auth never accepts a login session of the configured apps: CREDENTIAL_SOURCES leaves out session"]),
    ("userinfo not read", None, False, {"CREDENTIAL_SOURCES": "jwt", "USERINFO_URL": "https://users.example.test/me"},
     [NO_ROUTES, "warning: /auth never accepts a caller of USERINFO_URL, although it is configured: "
                 "CREDENTIAL_SOURCES leaves out userinfo"]),
    ("trusted headers not read", {"/x": {"GET": {"authorization": {"expression": "true"}}}}, False,
     {"CREDENTIAL_SOURCES": "jwt", "TRUST_MIA_USER_HEADERS": "true"},
     ["warning: /auth never accepts the miauserid headers, although TRUST_MIA_USER_HEADERS is on: "
      "CREDENTIAL_SOURCES leaves out trusted-headers"]),
    ("all sources read", {"/x": {"GET": {"authorization": {"expression": "true"}}}}, True,
     {"USERINFO_URL": "https://users.example.test/me", "TRUST_MIA_USER_HEADERS": "true"}, []),
])
def test_check_config_warns_of_dead_features(env, tmp_path, case, routes, apps, environ, warnings):
    """A valid configuration that leaves a feature dead: one warning line each, still exit 0 (as
    start-up still starts), and the count in the OK line; a complete one has none."""
    from tests.conftest import login_app, with_apps
    run_env = {**env, **environ}
    if apps:
        run_env = with_apps(run_env, tmp_path, {"web": login_app("http://127.0.0.1:9")})
    path = tmp_path / "routes.json"
    if routes is not None:
        path.write_text(json.dumps(routes))
        run_env["ROUTES_FILE"] = str(path)
    result = CliRunner().invoke(main, ["check-config"], env={"GATEHOUSE_CONFIG": "", **run_env})
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [w.format(routes=path) for w in warnings]
    counted = f"; {len(warnings)} warning{'s' if len(warnings) > 1 else ''}" if warnings else ""
    assert result.stdout == f"configuration OK (issuer {env['MIA_JWT_ISSUER']}, key test-rsa{counted})\n"
