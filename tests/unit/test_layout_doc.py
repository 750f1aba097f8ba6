"""docs/layout.md is held to the tree: every folder and module of app/ and every top-level folder
of the repository has its line there, and every path the page names exists. A module added, moved
or renamed without its line fails here, with the line to write.

The page's shape, which the reader below follows: a heading that names a folder in backticks
(`app/core/login/`) opens that folder; each bullet under it starts with one or more names in
backticks, relative to that folder (`flow.py`, `policy/routes.py`). A heading without a folder
opens the repository's root. Other backticks (commands, class names) are prose."""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = "docs/layout.md"

HEADING = re.compile(r"^#+\s")
FOLDER = re.compile(r"`([^`\s]+/)`")
ENTRY = re.compile(r"^[-*]\s+(`[^`]+`(?:\s*,\s*`[^`]+`)*)")
NAME = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Named:
    path: str  # from the repository's root; a folder ends with "/"
    line: int


def named(page: str) -> list[Named]:
    """Every path the page names: the folder of each heading and the leading names of each bullet."""
    found: list[Named] = []
    folder = ""
    for number, line in enumerate(page.splitlines(), 1):
        if HEADING.match(line):
            match = FOLDER.search(line)
            folder = match.group(1) if match else ""
            if folder:
                found.append(Named(folder, number))
        elif entry := ENTRY.match(line):
            found += [Named(folder + name, number) for name in NAME.findall(entry.group(1))]
    return found


def ignored(root: Path) -> list[str]:
    """The .gitignore patterns: a virtualenv or a cache beside the checkout is not the repository."""
    path = root / ".gitignore"
    lines = path.read_text().splitlines() if path.is_file() else []
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def required(root: Path) -> list[str]:
    """What a newcomer must find on the page: the repository's top-level folders (hidden ones and
    ignored ones aside), and under app/ every package folder, every folder of package data beside the
    modules (templates/, nginx/) and every module (an __init__.py is its folder's line)."""
    patterns = ignored(root)
    top = [f"{p.name}/" for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")
           and not any(fnmatch.fnmatch(p.name, pattern) for pattern in patterns)]
    app = root / "app"
    folders = {p.parent for p in app.rglob("*.py") if "__pycache__" not in p.parts} - {app}
    folders |= {p for p in app.iterdir() if p.is_dir() and p.name != "__pycache__"}
    modules = [p for p in app.rglob("*.py") if p.name != "__init__.py" and "__pycache__" not in p.parts]
    inside = [f"{p.relative_to(root)}/" for p in folders] + [str(p.relative_to(root)) for p in modules]
    return top + sorted(inside)


def unlisted(root: Path, page: str) -> list[str]:
    listed = {n.path for n in named(page)}
    return [path for path in required(root) if path not in listed]


def missing(root: Path, page: str) -> list[Named]:
    """Named paths not in the tree (a folder must be a folder, anything else a file)."""
    return [n for n in named(page)
            if not ((root / n.path).is_dir() if n.path.endswith("/") else (root / n.path).is_file())]


def advice_unlisted(path: str) -> str:
    folder, _, name = path.rstrip("/").rpartition("/")
    name += "/" if path.endswith("/") else ""
    under = f"the heading that names `{folder}/`" if folder else "the repository's heading"
    return (f"{path} has no line in {PAGE}: add `- `{name}` what is decided there` under {under} "
            "(moved or renamed: change its old line)")


def advice_missing(n: Named) -> str:
    return (f"{PAGE} line {n.line} names {n.path}, which is not in the tree: write the path it was "
            "moved or renamed to, or remove the line")


def test_every_folder_and_module_has_its_line() -> None:
    problems = [advice_unlisted(path) for path in unlisted(ROOT, (ROOT / PAGE).read_text())]
    assert not problems, "\n".join(problems)


def test_every_path_the_page_names_exists() -> None:
    problems = [advice_missing(n) for n in missing(ROOT, (ROOT / PAGE).read_text())]
    assert not problems, "\n".join(problems)


def test_the_reader_sees_the_tree() -> None:
    """The two checks above would pass on nothing if the reader missed the page's entries or the
    tree's modules."""
    paths = {n.path for n in named((ROOT / PAGE).read_text())}
    assert {"app/", "app/core/check/", "app/core/check/authorizer.py", "app/serving/wsgi.py"} <= paths
    needed = required(ROOT)
    assert {"app/core/check/policy/", "app/core/login/flow.py", "app/templates/", "tests/"} <= set(needed)
    assert not {p for p in needed if "__init__" in p or "__pycache__" in p or p.startswith(".")}


PAGE_OF_A_TREE = """# Layout

## The repository

- `app/` the product
- `docs/`, `tests/` the guides and the tests

## `app/` the composition

- `cli.py` the command; `ignored.py` in prose is not an entry
- `core/` the rules
- `core/rules.py` what is decided, named from its parent's heading

### `app/core/`

- `gone.py` moved away
"""


def a_tree(root: Path) -> Path:
    for path in ["app/__init__.py", "app/cli.py", "app/core/__init__.py", "app/core/rules.py",
                 "app/core/new.py", "docs/layout.md", "tests/__init__.py", ".ci/run", ".venv/bin/python",
                 "build/lib/x.py", "bench/run"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("")
    (root / ".gitignore").write_text(".venv/\nbuild/\n")
    return root


def test_the_reader_resolves_names_under_their_heading() -> None:
    assert [(n.path, n.line) for n in named(PAGE_OF_A_TREE)] == [
        ("app/", 5), ("docs/", 6), ("tests/", 6), ("app/", 8), ("app/cli.py", 10), ("app/core/", 11),
        ("app/core/rules.py", 12), ("app/core/", 14), ("app/core/gone.py", 16)]


def test_a_new_module_and_a_new_top_folder_are_unlisted(tmp_path: Path) -> None:
    """app/core/new.py was added and bench/ appeared with no line; .ci (hidden), .venv and build/
    (ignored) are not the repository's folders."""
    assert unlisted(a_tree(tmp_path), PAGE_OF_A_TREE) == ["bench/", "app/core/new.py"]


def test_a_renamed_module_leaves_a_line_naming_nothing(tmp_path: Path) -> None:
    found = missing(a_tree(tmp_path), PAGE_OF_A_TREE)
    assert [(n.path, n.line) for n in found] == [("app/core/gone.py", 16)]


def test_a_folder_line_must_name_a_folder(tmp_path: Path) -> None:
    page = "## `app/`\n\n- `cli.py/` not a folder\n- `core` not a file\n"
    assert [n.path for n in missing(a_tree(tmp_path), page)] == ["app/cli.py/", "app/core"]


def test_the_advice_names_the_path_and_the_line_to_write() -> None:
    assert advice_unlisted("app/core/login/otp.py") == (
        "app/core/login/otp.py has no line in docs/layout.md: add `- `otp.py` what is decided there` "
        "under the heading that names `app/core/login/` (moved or renamed: change its old line)")
    assert "add `- `bench/` what is decided there` under the repository's" in advice_unlisted("bench/")
    assert advice_missing(Named("app/http.py", 12)) == (
        "docs/layout.md line 12 names app/http.py, which is not in the tree: write the path it was moved "
        "or renamed to, or remove the line")
