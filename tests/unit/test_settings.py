"""Configuration: Mia names, file + env, and one start-up error per problem naming the key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.named_files import load_configuration
from app.services import compose
from app.settings import ConfigError, load_settings


def problems(env: dict[str, str]) -> list[str]:
    """What start-up refuses: the settings, then the files they name."""
    with pytest.raises(ConfigError) as info:
        load_configuration(env)
    return info.value.problems


def keys_of(env: dict[str, str]):
    return load_configuration(env)[1].keys


def test_mia_names_and_defaults(base) -> None:
    s = load_settings({**base, "MIA_JWT_EXPIRES_IN": "600", "ACCEPTED_AUDIENCES": "a, b",
                       "REQUIRED_AUDIENCE_IN_TOKEN_REQUEST": "true", "CLOCK_SKEW_SECONDS": "5",
                       "SERVICE_PREFIX": "/cc"})
    assert (s.jwt_expires_in, s.accepted_audiences, s.required_audience_in_token_request) == (600, ("a", "b"), True)
    assert s.clock_skew_seconds == 5 and s.client_secret_hash_cost == 10
    assert s.token_endpoint == "https://issuer.test/cc/oauth/token"
    assert keys_of(base).active.kid == "k1" and keys_of(base).active.alg == "RS256"


def test_file_then_env_override(base, tmp_path: Path) -> None:
    cfg = tmp_path / "gatehouse.yaml"
    cfg.write_text("jwt_expires_in: 120\nscopes_supported: [a, b]\nhttp_port: 4000\n")
    s = load_settings({**base, "GATEHOUSE_CONFIG": str(cfg), "HTTP_PORT": "5000"})
    assert (s.jwt_expires_in, s.scopes_supported, s.http_port) == (120, ("a", "b"), 5000)
    cfg_json = tmp_path / "gatehouse.json"
    cfg_json.write_text(json.dumps({"jwt_expires_in": 99}))
    assert load_settings({**base, "GATEHOUSE_CONFIG": str(cfg_json)}).jwt_expires_in == 99


def test_ec_key_password_and_retired_keys(base, key_files, tmp_path: Path) -> None:
    from app.core.keys import generate_private_key_pem
    enc = tmp_path / "enc.pem"
    enc.write_bytes(generate_private_key_pem("ec", b"pw-123"))
    keys = keys_of({**base, "PRIVATE_RSA_KEY_FILE_PATH": str(enc), "PRIVATE_KEY_PASSWORD": "pw-123",
                    "VERIFICATION_KEYS": f"old={key_files['old.pub']}"})
    assert keys.active.alg == "ES256"
    assert [k["kid"] for k in keys.jwks()["keys"]] == ["k1", "old"]
    assert all("d" not in k for k in keys.jwks()["keys"])


BAD_ENV = [
    ("missing salt", {"CLIENT_ID_HASH_SALT": None}, "CLIENT_ID_HASH_SALT (client_id_hash_salt): Missing data"),
    ("short salt", {"CLIENT_ID_HASH_SALT": "short"}, "CLIENT_ID_HASH_SALT: must be at least 16"),
    ("missing issuer", {"MIA_JWT_ISSUER": None}, "JWT_ISSUER (jwt_issuer): Missing data"),
    ("missing mongo", {"MONGODB_URL": None}, "MONGODB_URL (mongodb_url): Missing data"),
    ("bad mongo url", {"MONGODB_URL": "http://x"}, "MONGODB_URL: must start with mongodb://"),
    ("no redis", {"REDIS_HOSTS": None}, "REDIS_HOSTS (redis_hosts): set REDIS_URL or REDIS_HOSTS"),
    ("bad redis host", {"REDIS_HOSTS": "nohostport"}, "REDIS_HOSTS: each entry must be host:port"),
    ("bad redis mode", {"REDIS_MODE": "cluster"}, "REDIS_MODE: Must be one of"),
    ("sentinel needs master", {"REDIS_MODE": "sentinel"}, "REDIS_MASTER_NAME (redis_master_name): required when"),
    ("port not int", {"HTTP_PORT": "eighty"}, "HTTP_PORT: Not a valid integer"),
    ("port range", {"HTTP_PORT": "70000"}, "HTTP_PORT: Must be greater than or equal to 1"),
    ("hash cost", {"CLIENT_SECRET_HASH_COST": "40"}, "CLIENT_SECRET_HASH_COST: Must be greater"),
    ("expires", {"MIA_JWT_EXPIRES_IN": "0"}, "MIA_JWT_EXPIRES_IN: Must be greater"),
    ("bool", {"REQUIRED_AUDIENCE_IN_TOKEN_REQUEST": "maybe"}, "REQUIRED_AUDIENCE_IN_TOKEN_REQUEST: Not a valid boolean"),
    ("prefix", {"SERVICE_PREFIX": "cc/"}, "SERVICE_PREFIX: must be empty or like /path"),
    ("log level", {"LOG_LEVEL": "loud"}, "LOG_LEVEL: Must be one of"),
    ("kid chars", {"PRIVATE_RSA_KEY_ID": "../etc"}, "PRIVATE_RSA_KEY_ID: must be 1-128 characters"),
    ("key file missing", {"PRIVATE_RSA_KEY_FILE_PATH": "/nonexistent.pem"}, "PRIVATE_RSA_KEY_FILE_PATH: cannot read the key file"),
    ("admin token short", {"ADMIN_TOKEN": "abc"}, "ADMIN_TOKEN: must be at least 32"),
    ("public url", {"PUBLIC_URL": "ftp://x"}, "PUBLIC_URL: must be a URL"),
    ("openid file missing", {"OPENID_CONFIG_PATH": "/nonexistent.json"}, "OPENID_CONFIG_PATH: cannot read"),
    ("verification key syntax", {"VERIFICATION_KEYS": "justapath"}, "VERIFICATION_KEYS: must be kid=path pairs"),
    ("tls ca missing", {"REDIS_TLS_CACERT": "/nonexistent.ca"}, "REDIS_TLS_CACERT: no such file"),
    ("open registration method", {"OPEN_REGISTRATION_AUTH_METHODS": "client_secret_basic,none"},
     "OPEN_REGISTRATION_AUTH_METHODS: each entry must be one of client_secret_basic, client_secret_post, private_key_jwt"),
    ("source failure limit", {"AUTH_FAILURE_SOURCE_LIMIT": "0"}, "AUTH_FAILURE_SOURCE_LIMIT: Must be greater"),
]


def test_registration_and_failure_settings(base) -> None:
    s = load_settings({**base, "OPEN_REGISTRATION_AUDIENCES": "a, b", "OPEN_REGISTRATION_SCOPES": "x",
                       "OPEN_REGISTRATION_AUTH_METHODS": "private_key_jwt", "AUTH_FAILURE_SOURCE_LIMIT": "7"})
    rules = compose(s).registration_rules
    assert (rules.audiences, rules.scopes, rules.auth_methods) == (("a", "b"), ("x",), ("private_key_jwt",))
    assert compose(s).client_auth.source_failure_limit == 7 and compose(s).client_auth.failure_limit == 10
    defaults = load_settings(base)
    assert compose(defaults).registration_rules.auth_methods == ("client_secret_basic", "client_secret_post",
                                                             "private_key_jwt")
    assert compose(defaults).registration_rules.audiences == () and defaults.auth_failure_source_limit == 50


@pytest.mark.parametrize("case,change,expected", BAD_ENV, ids=[c[0] for c in BAD_ENV])
def test_bad_environment(base, case, change, expected) -> None:
    env = {k: v for k, v in {**base, **change}.items() if v is not None}
    found = problems(env)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_reported_at_once(base) -> None:
    found = problems({**base, "HTTP_PORT": "x", "REDIS_MODE": "y", "CLIENT_ID_HASH_SALT": "z"})
    assert len(found) == 3


def test_secrets_never_in_messages(base) -> None:
    secret = "hunter2-very-secret-value"
    found = problems({**base, "ADMIN_TOKEN": secret[:10], "CLIENT_ID_HASH_SALT": "pw",
                      "MONGODB_URL": f"http://user:{secret}@host"})
    assert not any(secret[:10] in p or secret in p for p in found)


def test_key_problems(base, key_files, tmp_path: Path) -> None:
    from app.core.keys import generate_private_key_pem
    enc = tmp_path / "enc.pem"
    enc.write_bytes(generate_private_key_pem("rsa", b"right"))
    assert problems({**base, "PRIVATE_RSA_KEY_FILE_PATH": str(enc), "PRIVATE_KEY_PASSWORD": "wrong"})[0] \
        .startswith("PRIVATE_KEY_PASSWORD:")
    assert problems({**base, "PRIVATE_RSA_KEY_FILE_PATH": str(enc)})[0].startswith("PRIVATE_KEY_PASSWORD")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    assert problems({**base, "PRIVATE_RSA_KEY_FILE_PATH": str(garbage)})[0] \
        .startswith("PRIVATE_RSA_KEY_FILE_PATH: not a readable PEM")
    assert "same kid" in problems({**base, "VERIFICATION_KEYS": f"k1={key_files['old.pub']}"})[0]


BAD_FILES = [
    ("unknown key", "gatehouse.yaml", "jwt_expire_in: 5\n", "jwt_expire_in: unknown setting"),
    ("bad yaml", "gatehouse.yaml", "a: [1,\n", "not valid YAML at line"),
    ("bad json", "gatehouse.json", "{nope", "not valid JSON at line 1"),
    ("not a mapping", "gatehouse.yaml", "- a\n- b\n", "must hold a mapping"),
    ("wrong type", "gatehouse.yaml", "accepted_audiences: 5\n", "accepted_audiences: must be a list"),
    ("bad verification keys", "gatehouse.yaml", "verification_keys: [{kid: a}]\n", "verification_keys: must be a list of {kid, path}"),
]


@pytest.mark.parametrize("case,name,text,expected", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_config_files(base, tmp_path: Path, case, name, text, expected) -> None:
    path = tmp_path / name
    path.write_text(text)
    found = problems({**base, "GATEHOUSE_CONFIG": str(path)})
    assert any(expected in p for p in found), found


def test_missing_config_file(base) -> None:
    assert "cannot read the file" in problems({**base, "GATEHOUSE_CONFIG": "/nonexistent.yaml"})[0]


def test_openid_config_file_required_fields(base, tmp_path: Path) -> None:
    path = tmp_path / "openid.json"
    path.write_text(json.dumps({"issuer": "https://x", "token_endpoint": "https://x/t"}))
    found = problems({**base, "OPENID_CONFIG_PATH": str(path)})
    assert "lacks required fields: jwks_uri, response_types_supported" in found[0]


@pytest.mark.parametrize("verification", ["[{kid: old, path: keys/old.pub}]", "old=keys/old.pub"], ids=["list", "string"])
def test_relative_paths_in_the_file_are_relative_to_the_file(base, key_files, tmp_path: Path, monkeypatch,
                                                              verification) -> None:
    """A config file beside its key and route file works from any working directory; a relative
    path in the environment stays relative to the working directory."""
    etc = tmp_path / "etc"
    (etc / "keys").mkdir(parents=True)
    (etc / "keys" / "signing.pem").write_bytes(key_files["rsa"].read_bytes())
    (etc / "keys" / "old.pub").write_bytes(key_files["old.pub"].read_bytes())
    (etc / "routes.json").write_text('{"/": {"ALL": {"authorization": {"expression": "true"}}}}')
    (etc / "gatehouse.yaml").write_text(f"private_key_path: keys/signing.pem\nroutes_file: routes.json\n"
                                        f"verification_keys: {verification}\n")
    env = {k: v for k, v in base.items() if k != "PRIVATE_RSA_KEY_FILE_PATH"}
    monkeypatch.chdir(tmp_path)
    s, files = load_configuration({**env, "GATEHOUSE_CONFIG": "etc/gatehouse.yaml"})
    assert s.routes_file == str(etc / "routes.json") and files.keys.by_kid("old") is not None
    assert files.routes.match("/", "GET") is not None
    found = problems({**env, "GATEHOUSE_CONFIG": "etc/gatehouse.yaml", "PRIVATE_RSA_KEY_FILE_PATH": "keys/signing.pem"})
    assert found[0].startswith("PRIVATE_RSA_KEY_FILE_PATH: cannot read the key file")
