"""The tests' own layout: each test module lies in its level's folder (unit, integration, e2e), which
marks it for `-m`; its name is unique across the levels, so a name in a report, a `-k` or a
conversation points at one file and says what is tested at that level; what the tests share lives
in tests/support/, not loose beside them."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tests.conftest import LEVELS

TESTS = Path(__file__).resolve().parents[1]
OWN = {"__init__.py", "conftest.py"}  # the only modules at tests/' root


def module_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("test_*.py") if "__pycache__" not in p.parts)


def same_names(paths: list[Path], root: Path) -> dict[str, list[str]]:
    """Each test module name held by more than one path, with those paths."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        by_name[path.name].append(str(path.relative_to(root)))
    return {name: found for name, found in by_name.items() if len(found) > 1}


def test_every_test_module_name_is_unique() -> None:
    shared = same_names(module_files(TESTS), TESTS)
    assert not shared, "\n".join(
        f"{name} is held by {' and '.join(paths)}: rename each so it says what is tested at its level"
        for name, paths in shared.items())


def test_every_test_module_lies_in_a_level_folder() -> None:
    """tests/conftest.py marks a test by its folder: one outside the levels would escape `-m`."""
    outside = [str(p.relative_to(TESTS)) for p in module_files(TESTS)
               if p.relative_to(TESTS).parts[0] not in LEVELS]
    assert outside == []


def test_what_the_tests_share_is_in_support() -> None:
    loose = sorted(p.name for p in TESTS.glob("*.py") if p.name not in OWN)
    assert loose == [], f"move {loose} to tests/support/"
    assert (TESTS / "support" / "servers.py").is_file() and (TESTS / "support" / "fakes.py").is_file()


def test_the_reader_sees_every_level() -> None:
    """The checks above would pass on nothing if the scan found no modules."""
    levels = {p.relative_to(TESTS).parts[0] for p in module_files(TESTS)}
    assert levels == set(LEVELS) and Path(__file__) in module_files(TESTS)


def test_a_name_held_at_two_levels_is_found(tmp_path: Path) -> None:
    for path in ["unit/test_bff_copy.py", "integration/test_bff_copy.py", "integration/test_bff.py",
                 "e2e/test_nginx.py", "e2e/nginx.py"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    assert same_names(module_files(tmp_path), tmp_path) == {
        "test_bff_copy.py": ["integration/test_bff_copy.py", "unit/test_bff_copy.py"]}
