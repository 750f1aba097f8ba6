"""The files the settings name, read and checked at start-up: the signing and verification keys,
the route file and the discovery document. A problem is reported as settings' are, one line naming
the setting it came from (ConfigError). Light on purpose: gunicorn's master imports this module
before any store client or the web stack."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .core.keys import KeyLoadError, KeyPasswordError, KeySet, load_private_key, load_verification_key
from .core.check.policy.routes import RouteFileError, RouteTable
from .settings import ConfigError, Settings, load_settings

# OpenID Connect Discovery 1.0 §3 fields a served configuration file must have.
REQUIRED_DISCOVERY_FIELDS = ("issuer", "token_endpoint", "jwks_uri", "response_types_supported",
                             "subject_types_supported", "id_token_signing_alg_values_supported")


@dataclass(frozen=True)
class NamedFiles:
    """What the files named by the settings hold, checked."""

    keys: KeySet
    routes: RouteTable
    discovery_document: dict[str, Any] | None


def read_named_files(settings: Settings) -> NamedFiles:
    """Read and check every file the settings name; ConfigError lists every problem."""
    labels = settings.sources
    keys, problems = _load_keys(settings, labels)
    discovery, discovery_problems = _load_discovery(settings.openid_config_path, labels["openid_config_path"])
    routes, route_problems = _load_routes(settings.routes_file, labels["routes_file"])
    problems += discovery_problems + route_problems
    if problems:
        raise ConfigError(problems)
    assert keys is not None
    return NamedFiles(keys=keys, routes=routes, discovery_document=discovery)


def dead_features(settings: Settings, files: NamedFiles) -> list[str]:
    """Settings that are valid but leave a feature dead: what will happen, one line each. They do
    not stop start-up (a check group may be started before its routes are written); `gatehouse
    check-config` and the start of both process groups print them."""
    labels = settings.sources
    lines = []
    if not settings.routes_file:
        lines.append("every /auth check will be refused: no routes_file (ROUTES_FILE)")
    elif not files.routes.rules:
        lines.append(f"every /auth check will be refused: {labels['routes_file']} ({settings.routes_file}) has "
                     f"no routes")
    sources = settings.credential_sources
    # (what is configured, the credential source that reads it, what is then never accepted)
    for configured, source, dead in (
            (settings.apps, "session", "a login session of the configured apps"),
            (settings.bff, "bff", "a BFF session of the configured bff"),
            (settings.introspection, "introspection", "an opaque token, although introspection is configured"),
            (settings.userinfo_url, "userinfo", "a caller of USERINFO_URL, although it is configured"),
            (settings.issuers, "jwt", "a token of the configured issuers"),
            (settings.trust_mia_user_headers, "trusted-headers",
             "the miauserid headers, although TRUST_MIA_USER_HEADERS is on")):
        if configured and source not in sources:
            lines.append(f"/auth never accepts {dead}: {labels['credential_sources']} leaves out {source}")
    return lines


def load_configuration(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None,
                       config_file: str | None = None) -> tuple[Settings, NamedFiles]:
    """The settings and the files they name, all checked: what start-up and `gatehouse check-config` refuse."""
    settings = load_settings(environ, overrides, config_file)
    return settings, read_named_files(settings)


def load_route_file(path: str) -> RouteTable:
    """Read and compile a route file; RouteFileError lists every problem (used for reloads)."""
    table, problems = _load_routes(path, "ROUTES_FILE")
    if problems:
        raise RouteFileError(problems)
    return table


def _load_keys(s: Settings, labels: Mapping[str, str]) -> tuple[KeySet | None, list[str]]:
    problems: list[str] = []
    password = s.private_key_password
    active = None
    # Settings allow no private key only in the /auth group with verification keys: it never signs.
    if s.private_key_path is not None:
        assert s.private_key_id is not None
        try:
            pem = Path(s.private_key_path).read_bytes()
            active = load_private_key(pem, password.encode() if password else None, s.private_key_id)
        except OSError as exc:
            return None, [f"{labels['private_key_path']}: cannot read the key file ({exc.strerror})"]
        except KeyLoadError as exc:
            label = labels["private_key_password" if isinstance(exc, KeyPasswordError) else "private_key_path"]
            return None, [f"{label}: {exc}"]
    retired = []
    for kid, path in s.verification_keys:
        try:
            retired.append(load_verification_key(Path(path).read_bytes(), kid))
        except OSError as exc:
            problems.append(f"{labels['verification_keys']}: key {kid}: cannot read {path} ({exc.strerror})")
        except KeyLoadError as exc:
            problems.append(f"{labels['verification_keys']}: key {kid}: {exc}")
    if problems:
        return None, problems
    try:
        return KeySet(active, tuple(retired)), []
    except KeyLoadError as exc:
        return None, [f"{labels['verification_keys']}: {exc}"]


def _load_discovery(path: str | None, label: str) -> tuple[dict[str, Any] | None, list[str]]:
    if not path:
        return None, []
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [f"{label}: cannot read {path} ({exc.strerror})"]
    except json.JSONDecodeError as exc:
        return None, [f"{label}: {path} is not valid JSON (line {exc.lineno})"]
    if not isinstance(doc, dict):
        return None, [f"{label}: {path} must hold a JSON object"]
    missing = [f for f in REQUIRED_DISCOVERY_FIELDS if f not in doc]
    if missing:
        return None, [f"{label}: {path} lacks required fields: {', '.join(missing)}"]
    return doc, []


def _load_routes(path: str | None, label: str) -> tuple[RouteTable, list[str]]:
    if not path:
        return RouteTable({}), []
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        return RouteTable({}), [f"{label}: cannot read {path} ({exc.strerror})"]
    except json.JSONDecodeError as exc:
        return RouteTable({}), [f"{label}: {path} is not valid JSON (line {exc.lineno} column {exc.colno})"]
    try:
        return RouteTable.load(document), []
    except RouteFileError as exc:
        return RouteTable({}), [f"{label}: {problem}" for problem in exc.problems]
