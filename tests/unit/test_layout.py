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
