"""What the settings offer the rest of the product instead of os.environ: the environment's settings
by key, a child process's environment changed by key, one setting read alone."""
from __future__ import annotations

import pytest

from app.settings import ConfigError, child_environment, from_environment, load_setting, load_settings


def test_from_environment_maps_names_to_keys() -> None:
    given = from_environment({"CREDENTIALS_MONGODB_URL": "mongodb://a/b", "HTTP_PORT": "", "GATEHOUSE_ROLE": "check",
                              "PRIVATE_KEY_ID": "old", "PRIVATE_RSA_KEY_ID": "new", "UNRELATED": "x"})
    assert given == {"mongodb_url": "mongodb://a/b", "role": "check", "private_key_id": "new"}


def test_child_environment_changes_settings_by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_MONGODB_URL", "mongodb://mia/db")
    monkeypatch.setenv("GUNICORN_WORKERS", "8")
    monkeypatch.setenv("KEEP_ME", "1")
    env = child_environment({"mongodb_url": "mongodb://ours/db", "workers": None, "http_port": 3001},
                            config_file="/etc/gatehouse/gatehouse.yaml")
    assert env["MONGODB_URL"] == "mongodb://ours/db" and "CREDENTIALS_MONGODB_URL" not in env
    assert "GUNICORN_WORKERS" not in env and env["HTTP_PORT"] == "3001" and env["KEEP_ME"] == "1"
    assert env["GATEHOUSE_CONFIG"] == "/etc/gatehouse/gatehouse.yaml"


def test_load_setting_reads_one_setting(tmp_path) -> None:
    assert load_setting("check_server", {}) == "uwsgi"
    assert load_setting("check_server", {"CHECK_SERVER": "gunicorn"}) == "gunicorn"
    config = tmp_path / "gatehouse.yaml"
    config.write_text("check_server: gunicorn\n")
    assert load_setting("check_server", {"GATEHOUSE_CONFIG": str(config)}) == "gunicorn"
    with pytest.raises(ConfigError) as info:
        load_setting("check_server", {"CHECK_SERVER": "apache"})
    assert info.value.problems == ["CHECK_SERVER: Must be one of: uwsgi, gunicorn."]


PROCESS = [
    ({}, {"role": "all", "bind_address": "127.0.0.1", "worker_class": None, "workers": None, "threads": 1,
          "worker_timeout_seconds": 30, "keepalive_seconds": 5, "metrics_dir": None}),
    ({"GATEHOUSE_ROLE": "check", "GATEHOUSE_BIND": "0.0.0.0", "GUNICORN_WORKER_CLASS": "gthread",
      "GUNICORN_WORKERS": "3", "GUNICORN_THREADS": "4", "GUNICORN_TIMEOUT": "60", "GUNICORN_KEEPALIVE": "2",
      "PROMETHEUS_MULTIPROC_DIR": "/run/gatehouse/metrics"},
     {"role": "check", "bind_address": "0.0.0.0", "worker_class": "gthread", "workers": 3, "threads": 4,
      "worker_timeout_seconds": 60, "keepalive_seconds": 2, "metrics_dir": "/run/gatehouse/metrics"}),
]


@pytest.mark.parametrize("env,expected", PROCESS, ids=["defaults", "set"])
def test_process_settings(base, env, expected) -> None:
    s = load_settings({**base, **env})
    assert {k: getattr(s, k) for k in expected} == expected


@pytest.mark.parametrize("env,expected", [
    ({"REDIS_HOSTS": None, "REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_MODE": "sentinel"},
     ["REDIS_MASTER_NAME (redis_master_name): required when REDIS_MODE is sentinel"]),
    ({"FORWARD_AUTH_SECRET": "a-long-enough-secret", "AUTH_DIALECTS": "traefik"},
     ["FORWARD_AUTH_SECRET_HEADER (forward_auth_secret_header): required when FORWARD_AUTH_SECRET is set"]),
    ({"GATEHOUSE_BIND": "0.0.0.0 ; rm"}, ["GATEHOUSE_BIND: must be an address"]),
    ({"UWSGI_MAX_REQUESTS": "0"}, ["UWSGI_MAX_REQUESTS: Must be greater than or equal to 1 and less than or "
                                   "equal to 100000000."]),
])
def test_rules_between_settings_report_one_problem_each(base, env, expected) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({k: v for k, v in {**base, **env}.items() if v is not None})
    assert info.value.problems == expected


def test_repr_keeps_secrets_out(base) -> None:
    token = "t" * 40
    s = load_settings({**base, "ADMIN_TOKEN": token})
    assert s.admin_token == token and token not in repr(s)
    assert base["CLIENT_ID_HASH_SALT"] not in repr(s) and base["MONGODB_URL"] not in repr(s)
