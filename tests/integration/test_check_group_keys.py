"""The /auth group without the private signing key: with `GATEHOUSE_ROLE=check` and only
VERIFICATION_KEYS (public PEMs), Gatehouse starts, verifies what the main group signed (against a
real Redis and MongoDB-wire server), serves those public keys, and never signs: a signing path
answers 421 naming why. Any other role still needs the private key."""
from __future__ import annotations

import json

import pytest

from app import create_app
from app.named_files import load_configuration
from app.settings import ConfigError, load_settings
from tests.conftest import basic

# Not public: only a verified credential gets through.
ROUTES = {"/": {"ALL": {"authorization": {"expression": "true"}}}}
SIGNING = ("PRIVATE_RSA_KEY_FILE_PATH", "PRIVATE_RSA_KEY_ID")


def without_signing_key(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in SIGNING}


@pytest.fixture
def routes(tmp_path) -> str:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(ROUTES))
    return str(path)


@pytest.fixture
def check_group(env, key_files, routes):
    settings = load_settings({**without_signing_key(env), "GATEHOUSE_ROLE": "check", "ROUTES_FILE": routes,
                              "VERIFICATION_KEYS": f"test-rsa={key_files['rsa.pub']}"})
    return create_app(settings).test_client()


def auth(c, token: str):
    return c.get("/auth", headers={"X-Original-URI": "/orders", "X-Original-Method": "GET",
                                   "Authorization": f"Bearer {token}"})


def test_the_check_group_verifies_what_the_main_group_signed(api, check_group, key_files):
    reg = api.register()
    token = api.token(reg["client_id"], reg["client_secret"])["access_token"]
    answer = auth(check_group, token)
    assert answer.status_code == 204, answer.headers
    assert answer.headers["mia-allowed"] == "1"
    assert auth(check_group, token[:-4] + "AAAA").status_code == 401
    # It publishes what it holds: the public half of the main group's key, under its kid.
    assert [k["kid"] for k in check_group.get("/jwks").json["keys"]] == ["test-rsa"]
    assert check_group.get("/.well-known/openid-configuration").json["id_token_signing_alg_values_supported"] == ["RS256"]


def test_the_check_group_never_signs(api, check_group):
    reg = api.register()
    refused = check_group.post("/oauth/token", data={"grant_type": "client_credentials"},
                               headers=basic(reg["client_id"], reg["client_secret"]))
    assert refused.status_code == 421, refused.data
    assert refused.json["error"] == "misdirected_request"
    assert "only verification keys" in refused.json["error_description"]
    assert "never signs" in refused.json["error_description"]


# (name, environment change, problem)
REFUSED = [
    ("main group without a private key", {"VERIFICATION_KEYS": "test-rsa={pub}"},
     "PRIVATE_RSA_KEY_FILE_PATH (private_key_path): required (only the /auth group"),
    ("check group without any key", {"GATEHOUSE_ROLE": "check"},
     "PRIVATE_RSA_KEY_FILE_PATH (private_key_path): required (only the /auth group"),
    ("a private key without its kid", {"PRIVATE_RSA_KEY_FILE_PATH": "{pem}"},
     "PRIVATE_RSA_KEY_ID (private_key_id): required with PRIVATE_RSA_KEY_FILE_PATH"),
    # /auth refreshes BFF sessions' tokens: toward a private_key_jwt provider that means signing.
    ("check group whose BFF provider takes private_key_jwt",
     {"GATEHOUSE_ROLE": "check", "VERIFICATION_KEYS": "test-rsa={pub}", "GATEHOUSE_CONFIG": "{bff_config}"},
     "PRIVATE_RSA_KEY_FILE_PATH (private_key_path): required: the BFF provider's private_key_jwt assertions are signed with it"),
]
BFF = {"provider": {"type": "oidc", "clientId": "gatehouse-bff", "tokenEndpointAuthMethod": "private_key_jwt",
                    "discoveryUrl": "https://sso.example.com/.well-known/openid-configuration"},
       "redirectUrl": "https://app.example.com/bff/oauth/callback"}


@pytest.mark.parametrize("name,change,problem", REFUSED, ids=[row[0] for row in REFUSED])
def test_only_the_check_group_may_start_without_the_private_key(env, key_files, tmp_path, name, change, problem):
    config = tmp_path / "gatehouse.json"
    config.write_text(json.dumps({"bff": BFF, "provider_token_key": "x" * 43 + "="}))
    values = {k: v.format(pub=key_files["rsa.pub"], pem=key_files["rsa"], bff_config=config) for k, v in change.items()}
    with pytest.raises(ConfigError) as raised:
        load_settings({**without_signing_key(env), **values})
    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


def test_check_config_says_the_group_only_verifies(env, key_files):
    settings, files = load_configuration({**without_signing_key(env), "GATEHOUSE_ROLE": "check",
                                          "VERIFICATION_KEYS": f"test-rsa={key_files['rsa.pub']}"})
    assert not files.keys.can_sign and files.keys.algorithms == ["RS256"]
