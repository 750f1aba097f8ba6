"""CONVENTIONS: the rooms read top-down (blueprints -> services -> core rules), core imports no
web framework or driver, nothing reads os.environ but settings. Imports are read from the AST,
relative ones resolved, those inside functions included."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
FORBIDDEN = {"flask", "werkzeug", "requests", "pymongo", "redis", "bson"}
WEB = {"flask", "werkzeug", "flask_session"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(path: Path) -> set[str]:
    """Every module `path` imports: absolute names as written, relative ones resolved (`from . import
    x` names the submodule x where there is one)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{a.name}" for a in node.names if is_module(f"{target}.{a.name}")}
            found |= submodules
            if len(submodules) < len(node.names):  # names defined in the module itself
                found.add(target)
    return found


def inside(name: str, room: str) -> bool:
    return name == room or name.startswith(room + ".")


def files(room: str) -> list[Path]:
    return sorted((APP / room).rglob("*.py"))


def ids(path: Path) -> str:
    return str(path.relative_to(APP))


@pytest.mark.parametrize("path", files("core"), ids=ids)
def test_core_imports_no_framework_or_driver(path: Path) -> None:
    assert {name.split(".")[0] for name in imports(path)} & FORBIDDEN == set()


def test_core_is_scanned() -> None:
    assert len(files("core")) >= 8


def test_the_reader_sees_relative_imports() -> None:
    """The rules below would pass on nothing if relative imports were missed."""
    assert "app.core.policy.routes" in imports(APP / "core" / "policy" / "decision.py")
    assert "app.core.tokens" in imports(APP / "core" / "verifiers" / "external.py")  # `from .. import tokens`
    assert "app.services" in imports(APP / "blueprints" / "login.py")


# What the rules stand on: themselves, the domain errors and the one redirect validator.
POLICY_GROUND = ("app.core.policy", "app.core.errors", "app.core.redirects")


@pytest.mark.parametrize("path", files("core/policy"), ids=ids)
def test_policy_is_pure_rules(path: Path) -> None:
    """core/policy (routes, expressions, decision, dialects) imports only its ground: nothing of
    the verifiers, sessions, BFF, login or any service above it."""
    above = {name for name in imports(path)
             if inside(name, "app") and not any(inside(name, ground) for ground in POLICY_GROUND)}
    assert above == set()


# What a credential verifier may build on: the rules, its fellow verifiers, the JWT and key helpers.
VERIFIER_GROUND = ("app.core.policy", "app.core.verifiers", "app.core.errors", "app.core.tokens", "app.core.keys",
                   "app.core.key_policy", "app.core.credentials")


@pytest.mark.parametrize("path", files("core/verifiers"), ids=ids)
def test_verifiers_build_on_the_rules_only(path: Path) -> None:
    above = {name for name in imports(path)
             if inside(name, "app") and not any(inside(name, ground) for ground in VERIFIER_GROUND)}
    assert above == set()


@pytest.mark.parametrize("path", files("blueprints"), ids=ids)
def test_no_blueprint_imports_another(path: Path) -> None:
    assert {name for name in imports(path) if inside(name, "app.blueprints")} == set()


@pytest.mark.parametrize("path", files("blueprints"), ids=ids)
def test_no_blueprint_imports_the_settings(path: Path) -> None:
    """Views read the settings through services(): the settings module is the composition's."""
    assert {name for name in imports(path) if inside(name, "app.settings")} == set()


@pytest.mark.parametrize("path", files("adapters"), ids=ids)
def test_no_adapter_imports_the_web_framework(path: Path) -> None:
    """Adapters talk to stores and peers; HTTP answers are the blueprints' and errors.py's."""
    assert {name.split(".")[0] for name in imports(path)} & WEB == set()


def test_only_settings_reads_the_environment() -> None:
    offenders = [p.name for p in APP.rglob("*.py")
                 if p.name != "settings.py" and ("os.environ" in p.read_text() or "getenv" in p.read_text())]
    assert offenders == []

