"""Tests a reader trusts: no fixed waits. Something that happens in another thread or process is
waited for with a deadline (tests/support/servers.py `within`, `wait_until`); a clock the code
takes is driven (tests/support/clock.py). A `time.sleep` is left only where the sleep is the thing
under test (a TTL or cooldown passing, a slow peer) or is a poll interval, and a comment on its
line or the line above says which."""
import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def sleeps(path: Path) -> list[int]:
    """Line numbers of `time.sleep(...)` and of a bare `sleep(...)` imported from time."""
    tree = ast.parse(path.read_text())
    bare = any(isinstance(n, ast.ImportFrom) and n.module == "time" and any(a.name == "sleep" for a in n.names)
               for n in ast.walk(tree))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if (isinstance(f, ast.Attribute) and f.attr == "sleep" and isinstance(f.value, ast.Name) and f.value.id == "time") \
                or (bare and isinstance(f, ast.Name) and f.id == "sleep"):
            lines.append(node.lineno)
    return lines


def explained(lines: list[str], lineno: int) -> bool:
    here, above = lines[lineno - 1], lines[lineno - 2].strip() if lineno >= 2 else ""
    return "#" in here or above.startswith("#")


@pytest.mark.parametrize("path", sorted(TESTS.rglob("*.py")), ids=lambda p: str(p.relative_to(TESTS)))
def test_every_sleep_says_why(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert [n for n in sleeps(path) if not explained(lines, n)] == []


def test_the_reader_finds_sleeps() -> None:
    """The test above would pass on nothing if it missed the calls."""
    assert sleeps(TESTS / "support" / "servers.py") and sleeps(TESTS / "support" / "issuer.py")
