"""The configuration reference (docs/configuration.md) is generated from the settings' declarations
and differs from them nowhere; the env map, the schema and the Settings fields come from the same
declarations."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.settings import (DECLARATIONS, ENV_NAMES, FILE_PATH_KEYS, SECRET_KEYS, SECTIONS, Settings, SettingsSchema,
                          reference_markdown)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def rows(text: str) -> dict[str, list[str]]:
    """The reference's table rows by file key: [environment, default, meaning]."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^\| `([a-z0-9_]+)` \| (.*) \|$", line)
        if match:
            found[match[1]] = [cell.strip() for cell in match[2].split(" | ")]
    return found


def test_the_committed_reference_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/configuration.md differs from the declarations: run `gatehouse settings-doc --out docs/configuration.md`")


def test_every_declaration_has_its_row() -> None:
    table = rows(reference_markdown())
    assert list(table) == [d.key for d in DECLARATIONS]
    for d in DECLARATIONS:
        env, default, meaning = table[d.key]
        assert env == (", ".join(f"`{n}`" for n in d.env) or "(file only)")
        assert default == d.default_text() and meaning.startswith(d.doc)
        assert ("(secret)" in meaning) == d.secret


def test_the_reference_shows_each_default() -> None:
    table = rows(reference_markdown())
    assert table["http_port"][1] == "3000" and table["strict_mode"][1] == "true"
    assert table["mongodb_url"][1] == "required" and table["redis_url"][1] == "—"
    assert table["issuers"][1] == table["apps"][1] == "—" and table["trusted_proxy_count"][1] == "0"
    assert table["credential_sources"][1] == "session,bff,jwt,introspection,userinfo,trusted-headers"
    assert table["workers"][1] == "one per core for role check, else two per core"


def test_the_readme_links_the_reference() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Configuration\n"):]
    section = section[:section.index("\n## ", 1)]
    assert "(docs/configuration.md)" in section
    assert "| file key |" not in section, "the table lives in docs/configuration.md only"


def test_one_declaration_makes_every_derived_form() -> None:
    keys = [d.key for d in DECLARATIONS]
    assert len(keys) == len(set(keys))
    assert list(ENV_NAMES) == keys
    assert set(SettingsSchema().fields) == set(keys)
    declared_fields = {f.name for f in dataclasses.fields(Settings)}
    assert set(keys) <= declared_fields
    assert {"mongodb_url", "client_id_hash_salt", "admin_token", "forward_auth_secret"} <= SECRET_KEYS
    assert {"private_key_path", "routes_file"} <= set(FILE_PATH_KEYS)
    names = [n for d in DECLARATIONS for n in d.env]
    assert len(names) == len(set(names)), "an environment name belongs to one setting"
    assert all(key in keys for _, key in SECTIONS)


RESOLVED = {"public_url"}  # a None default replaced at load by a value derived from other settings


@pytest.mark.parametrize("declaration", DECLARATIONS, ids=[d.key for d in DECLARATIONS])
def test_a_none_default_is_in_the_type(declaration) -> None:
    annotation = str(next(f.type for f in dataclasses.fields(Settings) if f.name == declaration.key))
    if declaration.default is None and declaration.key not in RESOLVED:
        assert "None" in annotation
    elif not declaration.required and declaration.default is not None:
        assert "None" not in annotation


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_a_secret_is_kept_out_of_repr(key: str) -> None:
    assert not next(f for f in dataclasses.fields(Settings) if f.name == key).repr


def test_settings_doc_command(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(main, ["settings-doc"])
    assert printed.exit_code == 0 and printed.output == reference_markdown()
    out = tmp_path / "configuration.md"
    assert runner.invoke(main, ["settings-doc", "--out", str(out), "--check"]).exit_code == 1
    assert not out.exists(), "--check writes nothing"
    assert runner.invoke(main, ["settings-doc", "--out", str(out)]).exit_code == 0
    assert runner.invoke(main, ["settings-doc", "--out", str(out), "--check"]).exit_code == 0
    out.write_text(out.read_text().replace("| 3000 |", "| 4000 |"))
    stale = runner.invoke(main, ["settings-doc", "--out", str(out), "--check"])
    assert stale.exit_code == 1 and "differs from the declarations" in stale.output
