"""CONVENTIONS: core imports no web framework or driver; nothing reads os.environ but settings."""
import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
FORBIDDEN = {"flask", "werkzeug", "requests", "pymongo", "redis", "bson"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted((APP / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_imports_no_framework_or_driver(path: Path) -> None:
    assert imported_roots(path) & FORBIDDEN == set()


def test_core_is_scanned() -> None:
    assert len(list((APP / "core").rglob("*.py"))) >= 8


def test_only_settings_reads_the_environment() -> None:
    offenders = [p.name for p in APP.rglob("*.py")
                 if p.name != "settings.py" and ("os.environ" in p.read_text() or "getenv" in p.read_text())]
    assert offenders == []


WEB = {"flask", "flask_session", "werkzeug"}


@pytest.mark.parametrize("path", sorted((APP / "adapters").rglob("*.py")), ids=lambda p: p.name)
def test_adapters_import_no_web_framework(path: Path) -> None:
    """Adapters talk to stores; answering HTTP (and Flask's sessions) is the web layer's."""
    assert imported_roots(path) & WEB == set()


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved (`app.core.bff`)."""
    package = list(path.relative_to(APP.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
    return found


@pytest.mark.parametrize("path", sorted((APP / "core" / "policy").rglob("*.py")), ids=lambda p: p.name)
def test_policy_depends_on_the_bff_source_not_the_bff_service(path: Path) -> None:
    """The authorizer asks a small protocol for a BFF session's principal (policy/authorizer.py)."""
    assert not {m for m in imported_modules(path) if m == "app.core.bff" or m.startswith("app.core.bff.")}
