"""Each nested shape of the config file is declared once: the core dataclass it fills states the fields
and their defaults, its shape (app/settings/shapes.py) the file's keys and validation, and the
composition builds the dataclass with the shape's `build`; no second list of the fields, no mapping
from the file's keys written field by field."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema, fields

from app.core.login.sessions import CookieConfig
from app.settings import shapes
from app.settings.shapes import Shape
from tests.unit.test_layout import imports, inside, module_name

APP = Path(__file__).resolve().parents[2] / "app"
SCHEMAS = [s for s in vars(shapes).values() if isinstance(s, type) and issubclass(s, Schema) and s is not Shape]
SHAPES = [s for s in SCHEMAS if issubclass(s, Shape)]


def test_each_config_dataclass_has_one_shape() -> None:
    assert sorted(s.core.__name__ for s in SHAPES) == ["AppConfig", "BffConfig", "ClaimMapping", "CookieConfig",
                                                       "ExternalIssuer", "ProviderConfig"]
    assert len({s.core for s in SHAPES}) == len(SHAPES)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_a_shape_fills_fields_of_its_dataclass_only(shape: type[Shape[Any]]) -> None:
    own = {f.name for f in dataclasses.fields(shape.core)}
    assert set(shape._declared_fields) - set(shape.ignored_keys) <= own


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_a_shape_takes_its_dataclass_defaults(shape: type[Shape[Any]]) -> None:
    for f in dataclasses.fields(shape.core):
        kind = shape._declared_fields.get(f.name)
        if kind is None or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING):
            continue
        loaded = kind.load_default() if callable(kind.load_default) else kind.load_default
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert (shape._declared_fields[f.name].nested.build(loaded) if dataclasses.is_dataclass(default)
                else loaded) == default, f.name


def test_a_shape_stating_a_default_again_is_refused() -> None:
    with pytest.raises(TypeError, match="stated there only"):
        class Twice(Shape[CookieConfig]):
            secure = fields.Boolean(load_default=True)


def test_a_shape_field_its_dataclass_lacks_is_refused() -> None:
    with pytest.raises(TypeError, match="has no field colour"):
        class Stray(Shape[CookieConfig]):
            colour = fields.String()


def test_a_loaded_shape_builds_its_dataclass() -> None:
    loaded = shapes.CookieSchema().load({"sameSite": "Strict"})
    assert loaded == {"secure": True, "same_site": "Strict", "domain": None}
    assert shapes.CookieSchema.build(loaded) == CookieConfig(same_site="Strict")


def test_mias_user_settings_url_is_accepted_and_dropped() -> None:
    loaded = shapes.ProviderSchema().load({"type": "github", "clientId": "c", "userSettingsURL": "https://x.test/"})
    assert "userSettingsURL" not in loaded and loaded["client_id"] == "c"


CONFIG_CLASSES = {s.core.__name__ for s in SHAPES}
# Keys that exist only in the file: once a shape is loaded, its values go by the dataclass's names.
LOADED_NAMES = {name for s in SCHEMAS for name in s._declared_fields}
FILE_ONLY_KEYS = {k.data_key for s in SHAPES for k in s._declared_fields.values() if k.data_key} - LOADED_NAMES


def field_by_field(source: str, read_keys: bool = True) -> list[str]:
    """Where a module builds one of the config dataclasses itself (`ProviderConfig(client_id=...)`) or
    reads a loaded shape by a key of the file (`p["clientId"]`): a second list of a shape's fields."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else None
            if name in CONFIG_CLASSES:
                found.append(f"line {node.lineno}: {name}(...)")
        elif read_keys and isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and node.slice.value in FILE_ONLY_KEYS:
            found.append(f"line {node.lineno}: [{node.slice.value!r}]")
    return found


def test_the_scan_sees_a_mapping_written_field_by_field() -> None:
    source = ('def _provider(pid, p):\n'
              '    return ProviderConfig(id=pid, client_id=p["clientId"], userinfo_url=p["userInfoUrl"])\n'
              'cookie = sessions.CookieConfig(same_site=data["sameSite"])\n')
    assert len(field_by_field(source)) == 5
    assert field_by_field('x = AppSchema.build(data, issuer=data["issuer"] or default)\n') == []


# The core may make its own (an ID token's issuer); outside it, a config dataclass comes from its shape,
# and a module that reads the settings reads a loaded shape by the dataclass's names (other modules'
# documents and bodies have camelCase keys of their own).
OUTSIDE_CORE = [p for p in sorted(APP.rglob("*.py")) if (APP / "core") not in p.parents]


def reads_settings(path: Path) -> bool:
    return any(inside(name, "app.settings") for name in imports(path) | {module_name(path)})


def test_the_settings_readers_are_found() -> None:
    assert {APP / "services.py", APP / "named_files.py", APP / "settings" / "loading.py"} \
        <= {p for p in OUTSIDE_CORE if reads_settings(p)}


@pytest.mark.parametrize("path", OUTSIDE_CORE, ids=lambda p: str(p.relative_to(APP)))
def test_no_config_dataclass_is_built_field_by_field(path: Path) -> None:
    assert field_by_field(path.read_text(), read_keys=reads_settings(path)) == []
