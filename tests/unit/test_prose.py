"""The prose the code carries helps the next reader: it cites no document outside the repository,
points into docs/ by a section that exists, keeps module docstrings to what the module is for and
measurements in docs/performance.md, and one name means one thing (a single `errors` module)."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
# Where a maintainer reads Gatehouse's own words: the product, its development stack, its
# deployment examples and its documentation.
PROSE_ROOTS = ("app", "gatehouse_dev", "deploy", "docs", "tests", "bench", "scripts")
# A citation of the product specification or of the seed documents it was written from, neither of
# which ships with the repository.
OUTSIDE = re.compile(r"\bSPEC(?:\.md)?\s*§|\bSPEC\.md\b|\bseeds?\s+0\d\d\b|\bseeds?\s*:\s*(?-i:[A-Z])|\bthe seeds?'s?\b"
                     r"|shared/(?:seeds|SPEC|CONVENTIONS)", re.IGNORECASE)
# A pointer into the documentation by section name: docs/auth.md "Route matching".
POINTER = re.compile(r"((?:docs/[\w-]+|README)\.md)[,:]?\s*(?:#\s*)?\"([\w`][^\"\n]*)\"")
DOCSTRING_LINES = 9
# Throughput and latency figures: measured on one machine, one day; docs/performance.md holds them.
MEASUREMENT = re.compile(r"\bp(?:50|95|99)\b|\b(?:req|requests|checks|tokens)/s\b|\d\s?(?:µs|us)\b")


def prose_files() -> list[Path]:
    found = []
    for root in PROSE_ROOTS:
        for path in sorted((ROOT / root).rglob("*")):
            # this module spells out what it looks for
            if path.is_file() and "__pycache__" not in path.parts and path != Path(__file__).resolve():
                found.append(path)
    return found + [ROOT / "README.md"]


def text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # a binary file cites nothing
        return ""


def app_modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_prose_files_are_found() -> None:
    names = {ids(p) for p in prose_files()}
    assert {"app/core/login/bff.py", "docs/auth.md", "gatehouse_dev/runner.py", "README.md"} <= names
    assert any(n.startswith("deploy/") for n in names)


@pytest.mark.parametrize("path", prose_files(), ids=ids)
def test_no_citation_of_documents_outside_the_repository(path: Path) -> None:
    cited = [f"{n}: {line.strip()}" for n, line in enumerate(text(path).splitlines(), 1) if OUTSIDE.search(line)]
    assert not cited, "write what the code relies on in docs/ and point there by section name:\n" + "\n".join(cited)


@pytest.mark.parametrize("line", [
    "(SPEC §3.1 item 4)", "SPEC § 6 pins RS256", "see ../shared/SPEC.md", "(SPEC §2.3, §5; seed 002)",
    "(seed: Mia-Platform's Auth Flow)", "what the seed's Envoy Lua filter does", "../shared/seeds/002.md",
])
def test_the_citation_check_sees_each_form(line: str) -> None:
    assert OUTSIDE.search(line)


@pytest.mark.parametrize("line", [
    "RFC 7636 §4.6", "OIDC Core §3.1.3.7", "bench/chaos --seed 7", "def seed(self, realm: str) -> None:",
    "a specification of the route file", "random.seed(1)",
])
def test_the_citation_check_leaves_ordinary_words(line: str) -> None:
    assert not OUTSIDE.search(line)


def sections(page: Path) -> set[str]:
    """A page's headings and bold paragraph leads (`**Limits.**`), the names a pointer may use."""
    body = page.read_text()
    names = {m.group(1).strip() for m in re.finditer(r"^#+\s+(.+)$", body, re.MULTILINE)}
    names |= {m.group(1).strip() for m in re.finditer(r"^\*\*(.+?)\.?\*\*", body, re.MULTILINE)}
    return names


def pointers() -> list[tuple[str, str, str]]:
    found = []
    for path in prose_files():
        if path.suffix not in {".py", ".in", ".conf", ".yaml", ".md"}:
            continue
        for match in POINTER.finditer(text(path)):
            found.append((ids(path), match.group(1), match.group(2)))
    return found


def test_pointers_are_found() -> None:
    found = pointers()
    assert ("app/core/check/policy/routes.py", "docs/auth.md", "Route matching") in found
    assert ("app/core/revocation.py", "docs/production.md", "Revocation is final, and the fast path") in found


@pytest.mark.parametrize("source, page, section", pointers(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_pointer_names_a_section_of_its_page(source: str, page: str, section: str) -> None:
    assert section in sections(ROOT / page), f"{source}: {page} has no section {section!r}"


def docstring_lines(path: Path) -> int:
    doc = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    return len(doc.strip("\n").splitlines()) if doc else 0


@pytest.mark.parametrize("path", app_modules(), ids=ids)
def test_module_docstrings_say_what_the_module_is_for_briefly(path: Path) -> None:
    assert docstring_lines(path) <= DOCSTRING_LINES, \
        f"{ids(path)}: move the rationale to docs/ and point there by section name"


@pytest.mark.parametrize("path", app_modules(), ids=ids)
def test_measurements_live_in_the_performance_page(path: Path) -> None:
    found = [f"{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
             if MEASUREMENT.search(line)]
    assert not found, "measurements belong in docs/performance.md:\n" + "\n".join(found)


@pytest.mark.parametrize("line", ["p99 20-23 ms at 32 connections", "about 4,300 req/s", "BFF session 21 µs"])
def test_the_measurement_check_sees_each_form(line: str) -> None:
    assert MEASUREMENT.search(line)


def test_one_module_is_called_errors() -> None:
    """The domain errors are app/core/errors.py; how they are answered over HTTP has its own name."""
    assert [ids(p) for p in app_modules() if p.name == "errors.py"] == ["app/core/errors.py"]
