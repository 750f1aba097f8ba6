"""CONVENTIONS: core imports no web framework or driver; nothing reads os.environ but settings;
the product never imports the development stack; shared constants are defined once."""
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


DEV_PACKAGE = "gatehouse_dev"
# The one import of the development stack the product allows: `gatehouse dev` loads the runner
# inside that command's function, so no other command or worker of the product imports it.
LAZY_DEV_IMPORT = (APP / "cli.py", ("gatehouse_dev.runner", "dev"))


def dev_imports(path: Path) -> list[tuple[str, str | None]]:
    """(module imported, enclosing function or None) for every import of the dev package in `path`."""
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            names = ([a.name for a in child.names] if isinstance(child, ast.Import)
                     else [child.module or ""] if isinstance(child, ast.ImportFrom) and child.level == 0 else [])
            found.extend((name, function) for name in names if name.split(".")[0] == DEV_PACKAGE)
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id == "__import__" \
                    and child.args and isinstance(child.args[0], ast.Constant) \
                    and str(child.args[0].value).split(".")[0] == DEV_PACKAGE:
                found.append((str(child.args[0].value), function))
            visit(child, function)

    visit(ast.parse(path.read_text()), None)
    return found


@pytest.mark.parametrize("path", sorted(APP.rglob("*.py")), ids=lambda p: str(p.relative_to(APP)))
def test_the_product_never_imports_the_dev_package(path: Path) -> None:
    allowed = LAZY_DEV_IMPORT[1] if path == LAZY_DEV_IMPORT[0] else None
    assert [i for i in dev_imports(path) if i != allowed] == []


def test_the_dev_command_loads_the_dev_package_lazily() -> None:
    """`gatehouse dev` still works: its command imports the runner, inside the function only."""
    assert dev_imports(LAZY_DEV_IMPORT[0]) == [LAZY_DEV_IMPORT[1]]


def test_the_dev_stack_and_the_fakes_live_outside_the_product() -> None:
    moved = ["dev.py", "dev_provider.py", "demo_upstream.py", "adapters/memory.py"]
    assert [m for m in moved if (APP / m).exists()] == []
    assert (APP.parent / DEV_PACKAGE / "runner.py").exists() and (APP.parent / "tests" / "fakes.py").exists()


@pytest.mark.parametrize("source", [
    "import gatehouse_dev", "import gatehouse_dev.runner as r", "from gatehouse_dev import runner",
    "from gatehouse_dev.provider import build", "def f():\n    from gatehouse_dev.runner import run",
    "x = __import__('gatehouse_dev.runner')",
], ids=["import", "import-as", "from-package", "from-module", "in-a-function", "dunder-import"])
def test_the_dev_import_check_sees_every_form(tmp_path: Path, source: str) -> None:
    path = tmp_path / "module.py"
    path.write_text(source + "\n")
    assert dev_imports(path) != []


def _constants(tree: ast.AST) -> list[str]:
    """Every string constant in a module (f-string parts included)."""
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _assigned(tree: ast.AST) -> list[str]:
    """Every name bound by an assignment at any level (tuple targets included)."""
    names = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return names


# One definition each (issue 16): a second copy drifts. (what, how it is found in a module)
DEFINED_ONCE = [
    ("ALLOWED_ALGORITHMS", lambda tree: _assigned(tree).count("ALLOWED_ALGORITHMS")),
    ("the jwt-bearer URN", lambda tree: sum("client-assertion-type:jwt-bearer" in c for c in _constants(tree))),
    ("the session cookie name", lambda tree: _assigned(tree).count("SESSION_COOKIE")),
    ("the revocation kind of ended sessions", lambda tree: _assigned(tree).count("ENDED_SESSION")),
    ("the script-page CSP", lambda tree: sum("script-src 'nonce-" in c for c in _constants(tree))),
]


@pytest.mark.parametrize("what,count", DEFINED_ONCE, ids=[w for w, _ in DEFINED_ONCE])
def test_shared_constants_are_defined_once(what: str, count) -> None:
    found = {str(p.relative_to(APP)): n for p in sorted(APP.rglob("*.py")) if (n := count(ast.parse(p.read_text())))}
    assert sum(found.values()) == 1, found


def test_the_defined_once_check_sees_a_second_copy() -> None:
    tree = ast.parse('ALLOWED_ALGORITHMS = ("RS256",)\nA, SESSION_COOKIE = 1, "sid"\n'
                     'x = f"default-src \'none\'; script-src \'nonce-{n}\'"\n')
    counts = {what: count(tree) for what, count in DEFINED_ONCE}
    assert counts == {"ALLOWED_ALGORITHMS": 1, "the jwt-bearer URN": 0, "the session cookie name": 1,
                      "the revocation kind of ended sessions": 0, "the script-page CSP": 1}


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
