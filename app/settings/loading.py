"""Reading the configuration: the config file (JSON or YAML) and the environment, validated once
into Settings. The only module of the product that reads (or writes) os.environ.

Environment variables override the file; Mia-Platform's variable names are accepted. A bad
configuration raises ConfigError with one line per problem, naming the key (the variable, or the
file and its key); values of secret keys never appear in messages.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import ValidationError

from .declarations import CONFIG_FILE_ENV, DECLARED, ENV_NAMES, FILE_PATH_KEYS, Settings
from .rules import SettingsSchema


class ConfigError(Exception):
    """Start-up refused; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _read_file(path: str) -> dict[str, Any]:
    label = f"{CONFIG_FILE_ENV} ({path})"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read the file ({exc.strerror})"]) from exc
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{label}: not valid JSON at line {exc.lineno} column {exc.colno}"]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{label}: not valid YAML{where}"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{label}: must hold a mapping of settings"])
    return data


def _beside(base: Path, value: Any) -> Any:
    if isinstance(value, str) and value and not Path(value).is_absolute():
        return str(base / value)
    return value


def read_config_file(path: str) -> dict[str, Any]:
    """A config file's settings, with relative file paths made absolute from its directory
    (ConfigError when it cannot be read or parsed)."""
    data = _read_file(path)
    base = Path(path).resolve().parent
    for key in FILE_PATH_KEYS:
        if key in data:
            data[key] = _beside(base, data[key])
    keys = data.get("verification_keys")
    if isinstance(keys, list):
        data["verification_keys"] = [{**k, "path": _beside(base, k["path"])} if isinstance(k, dict) and "path" in k
                                     else k for k in keys]
    elif isinstance(keys, str):
        data["verification_keys"] = ",".join(
            f"{kid}={_beside(base, where)}" if sep else item
            for item in keys.split(",") for kid, sep, where in [item.strip().partition("=")])
    return data


def _labels(file_path: str | None, file_data: Mapping[str, Any],
            env_used: Mapping[str, str]) -> dict[str, str]:
    labels = {}
    for key, names in ENV_NAMES.items():
        if key in env_used:
            labels[key] = env_used[key]
        elif key in file_data and file_path:
            labels[key] = f"{file_path}: {key}"
        else:
            labels[key] = f"{names[0]} ({key})" if names else f"{CONFIG_FILE_ENV}: {key}"
    return labels


def _flatten(messages: Any, where: str = "") -> list[str]:
    """marshmallow's nested messages as lines; nested keys keep their path (issuers[0].leeway)."""
    if isinstance(messages, dict):
        # marshmallow's Dict fields nest a value's errors under "value": keep the key's path only.
        return [m for k, v in messages.items()
                for m in _flatten(v, where if k == "value" else f"{where}[{k}]" if isinstance(k, int) else f"{where}.{k}")]
    if isinstance(messages, list):
        return [m for v in messages for m in _flatten(v, where)]
    return [f"{where}: {messages}" if where else str(messages)]


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def configured_file(environ: Mapping[str, str] | None = None) -> str | None:
    """The config file GATEHOUSE_CONFIG names, if any."""
    return _environ(environ).get(CONFIG_FILE_ENV) or None


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings the environment gives, unvalidated, by key (the first of a key's names that is set)."""
    env = _environ(environ)
    given = {}
    for key, names in ENV_NAMES.items():
        name = next((n for n in names if env.get(n, "") != ""), None)
        if name is not None:
            given[key] = env[name]
    return given


def child_environment(changes: Mapping[str, Any], config_file: str | None = None) -> dict[str, str]:
    """The environment of a Gatehouse process this one starts: this process's, with settings changed by
    key (None removes every name of the key) and, when given, another config file."""
    env = dict(os.environ)
    for key, value in changes.items():
        names = ENV_NAMES[key]
        for name in names:
            env.pop(name, None)
        if value is not None:
            env[names[0]] = str(value)
    if config_file is not None:
        env[CONFIG_FILE_ENV] = config_file
    return env


def export(key: str, value: str) -> None:
    """Set a setting for the processes this one forks or starts (gunicorn's workers)."""
    for name in ENV_NAMES[key][1:]:
        os.environ.pop(name, None)
    os.environ[ENV_NAMES[key][0]] = value


def named_variable(name: str) -> str:
    """The value of an environment variable an operator names on the command line (e.g. a key
    password for `gatehouse keys generate --password-env`); empty when unset."""
    return os.environ.get(name, "")


def load_setting(key: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting, validated as load_settings does, for commands that need no stores
    (`gatehouse nginx-config`): ConfigError names its variable or file key."""
    env = _environ(environ)
    file_path = configured_file(env)
    file_data = read_config_file(file_path) if file_path else {}
    given = from_environment(env)
    env_used = {k: next(n for n in ENV_NAMES[k] if env.get(n, "") != "") for k in given}
    raw = {**file_data, **given}
    kind = SettingsSchema().fields[key]
    if key not in raw:
        return kind.load_default() if callable(kind.load_default) else kind.load_default
    try:
        return kind.deserialize(raw[key], key, raw)
    except ValidationError as exc:
        label = _labels(file_path, file_data, env_used).get(key, key)
        raise ConfigError([f"{label}: {m}" for m in _flatten(exc.messages)]) from None


def load_settings(environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None, config_file: str | None = None) -> Settings:
    """Build the settings from GATEHOUSE_CONFIG (or `config_file`) + environment (+ overrides, by key)."""
    env = _environ(environ)
    file_path = config_file or configured_file(env)
    file_data = read_config_file(file_path) if file_path else {}
    unknown = sorted(k for k in file_data if k not in DECLARED)
    raw: dict[str, Any] = dict(file_data)
    given = from_environment(env)
    env_used = {key: next(n for n in ENV_NAMES[key] if env.get(n, "") != "") for key in given}
    raw.update(given)
    raw.update(overrides or {})
    labels = _labels(file_path, file_data, env_used)
    problems = [f"{file_path}: {k}: unknown setting" for k in unknown]
    for k in unknown:
        raw.pop(k)
    try:
        data = SettingsSchema().load(raw)
    except ValidationError as exc:
        for key, messages in sorted(exc.normalized_messages().items()):
            label = labels.get(key, key)
            problems.extend(f"{label}{m if m[:1] in '[.' else ': ' + m}" for m in _flatten(messages))
        raise ConfigError(problems) from None
    if data["redis_tls_cacert"] and not Path(data["redis_tls_cacert"]).is_file():
        problems.append(f"{labels['redis_tls_cacert']}: no such file")
    if problems:
        raise ConfigError(problems)
    return Settings(**_resolved(data), sources=labels)


def _resolved(data: dict[str, Any]) -> dict[str, Any]:
    """The declared settings' values, with the defaults that depend on other settings filled in."""
    values = dict(data)
    public_url = data["public_url"] or (
        data["jwt_issuer"] if re.match(r"^https?://", data["jwt_issuer"])
        else f"http://127.0.0.1:{data['http_port']}")
    values["public_url"] = public_url.rstrip("/")
    values["routes_watch_file"] = data["routes_watch_file"] or data["routes_file"]
    values["default_app_id"] = data["default_app_id"] or (next(iter(data["apps"])) if len(data["apps"]) == 1
                                                          else None)
    values["provider_token_key"] = data["provider_token_key"].encode("ascii") if data["provider_token_key"] else None
    return values
