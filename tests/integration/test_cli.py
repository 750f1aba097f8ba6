"""The `gatehouse` command against the real stores."""
from __future__ import annotations

import json

import jwt as pyjwt
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
