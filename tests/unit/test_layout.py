"""CONVENTIONS: the rooms read top-down (blueprints -> services -> core rules), core imports no
web framework or driver, nothing reads os.environ but settings, the product never imports the
development stack, shared constants are defined once. Imports are read from the AST, relative
ones resolved, those inside functions included."""
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
    assert "app.core.check.policy.routes" in imports(APP / "core" / "check" / "policy" / "decision.py")
    assert "app.core.tokens" in imports(APP / "core" / "check" / "authorizer.py")  # `from .. import tokens`
    assert "app.services" in imports(APP / "blueprints" / "login.py")


# What the rules stand on: themselves, the domain errors and the one redirect validator.
POLICY_GROUND = ("app.core.check.policy", "app.core.principal", "app.core.errors", "app.core.redirects")


@pytest.mark.parametrize("path", files("core/check/policy"), ids=ids)
def test_policy_is_pure_rules(path: Path) -> None:
    """core/check/policy (routes, expressions, decision, dialects) imports only its ground: nothing of
    the verifiers, sessions, BFF, login or any service above it."""
    above = {name for name in imports(path)
             if inside(name, "app") and not any(inside(name, ground) for ground in POLICY_GROUND)}
    assert above == set()


# What a credential verifier may build on: the rules, its fellow verifiers, the JWT and key helpers.
VERIFIER_GROUND = ("app.core.check.policy", "app.core.check.verifiers", "app.core.principal", "app.core.errors",
                   "app.core.tokens", "app.core.keys", "app.core.key_policy", "app.core.credentials")


@pytest.mark.parametrize("path", files("core/check/verifiers"), ids=ids)
def test_verifiers_build_on_the_rules_only(path: Path) -> None:
    above = {name for name in imports(path)
             if inside(name, "app") and not any(inside(name, ground) for ground in VERIFIER_GROUND)}
    assert above == set()


# The check's credential sources, one class each, all in the sources room (core/check/sources);
# the authorizer walks their chain and reaches no verifier, session or source class itself.
SOURCE_CLASSES = {"SessionJwt": "session", "BffCookie": "bff", "BearerJwt": "bearer_jwt",
                  "OwnAccessToken": "own", "ExternalIssuerJwt": "external", "Introspection": "introspection",
                  "Userinfo": "userinfo", "TrustedHeaders": "trusted_headers", "ApiKey": "api_key"}
SOURCES_ROOM = "app.core.check.sources"


def classes_with(path: Path, methods: set[str]) -> set[str]:
    """The classes of a module that define all of `methods`."""
    return {node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)
            and methods <= {f.name for f in node.body if isinstance(f, ast.FunctionDef)}}


@pytest.mark.parametrize("name,module", sorted(SOURCE_CLASSES.items()))
def test_each_credential_source_is_a_class_of_its_own_module_in_the_sources_room(name: str, module: str) -> None:
    path = APP / "core" / "check" / "sources" / f"{module}.py"
    assert path.is_file() and name in classes_with(path, {"verify"})


def test_a_source_of_the_chain_matches_then_verifies_and_lives_in_the_sources_room() -> None:
    """Whatever finds a credential in a check request and verifies it is a source of the chain."""
    found = {f"{module_name(p)}.{c}" for p in sorted(APP.rglob("*.py")) for c in classes_with(p, {"match", "verify"})
             if module_name(p) != f"{SOURCES_ROOM}.chain"}  # the chain's module: what a source is (protocols)
    assert found and {name for name in found if not inside(name, SOURCES_ROOM)} == set()
    # Gatehouse's own and external issuers' JWTs are chosen by `iss` inside the `jwt` source
    assert {name.rsplit(".", 1)[1] for name in found} == set(SOURCE_CLASSES) - {"OwnAccessToken", "ExternalIssuerJwt"}


def test_the_authorizer_only_walks_the_chain() -> None:
    """No verifier, session, BFF or source module in the authorizer's imports: the chain's own
    module (what a source and a chain are) is all it knows of them."""
    reached = {name for name in imports(APP / "core" / "check" / "authorizer.py") if inside(name, "app.core")}
    verifiers = ("app.core.check.verifiers", "app.core.external_tokens", "app.core.login")
    assert {name for name in reached if any(inside(name, v) for v in verifiers)} == set()
    assert {name for name in reached if inside(name, SOURCES_ROOM)} == {f"{SOURCES_ROOM}.chain"}


def test_sources_build_on_the_check_s_rules_and_verifiers_never_on_the_authorizer() -> None:
    for path in files("core/check/sources"):
        assert {name for name in imports(path) if inside(name, "app.core.check.authorizer")} == set(), path


# The core's rooms, one per flow, over the shared kernel (the modules at app/core's root). A flow
# builds on the kernel and on itself; the kernel on itself only; explain (what the check would
# decide for a user, client or token) is the one module above the flows and reads all three.
FLOWS = ("check", "issuer", "login")
ABOVE_FLOWS = ("explain.py",)


def room_of(name: str) -> str | None:
    """The flow room a module name lies in, or None for the kernel (and for anything outside core)."""
    return next((f for f in FLOWS if inside(name, f"app.core.{f}")), None)


def test_core_has_exactly_the_flow_rooms() -> None:
    """A folder in app/core is a flow; what the flows share sits at its root."""
    assert sorted(p.name for p in (APP / "core").iterdir() if p.is_dir() and p.name != "__pycache__") == list(FLOWS)


FLOW_FILES = [(flow, path) for flow in FLOWS for path in files(f"core/{flow}")]


@pytest.mark.parametrize("flow,path", FLOW_FILES, ids=[ids(p) for _, p in FLOW_FILES])
def test_no_flow_imports_another(flow: str, path: Path) -> None:
    """check, issuer and login each build on the kernel and on themselves, never on each other."""
    reached = {name for name in imports(path) if inside(name, "app.core")}
    assert {name for name in reached if room_of(name) not in (None, flow)} == set()
    assert {name for name in reached if inside(name, "app.core.explain")} == set()


KERNEL = [p for p in files("core") if p.parent == APP / "core" and p.name not in ABOVE_FLOWS]


@pytest.mark.parametrize("path", KERNEL, ids=ids)
def test_the_kernel_imports_no_flow(path: Path) -> None:
    reached = {name for name in imports(path) if inside(name, "app.core")}
    assert {name for name in reached if room_of(name) is not None or inside(name, "app.core.explain")} == set()


def test_the_rules_see_a_crossing() -> None:
    """The flow rules above would pass on nothing if room_of missed a room: explain crosses all three."""
    reached = {room_of(name) for name in imports(APP / "core" / "explain.py")}
    assert {"check", "issuer", "login"} <= reached


# The process plumbing (WSGI entry, uWSGI group, gunicorn configuration and logging, metrics
# directory, nginx rendering) is the top floor: it starts the app; only the CLI's commands start it.
SERVING_USERS = (APP / "cli.py",)


@pytest.mark.parametrize("path", sorted(APP.rglob("*.py")), ids=ids)
def test_only_the_cli_reaches_the_serving_room(path: Path) -> None:
    if inside(module_name(path), "app.serving") or path in SERVING_USERS:
        return
    assert {name for name in imports(path) if inside(name, "app.serving")} == set()


@pytest.mark.parametrize("name", ["wsgi", "uwsgi_app", "uwsgi_check", "gunicorn_conf", "gunicorn_logging",
                                  "metrics_dir", "nginx_config"])
def test_the_serving_plumbing_is_in_its_room(name: str) -> None:
    assert (APP / "serving" / f"{name}.py").is_file() and not (APP / f"{name}.py").exists()


@pytest.mark.parametrize("path", files("blueprints"), ids=ids)
def test_no_blueprint_imports_another(path: Path) -> None:
    assert {name for name in imports(path) if inside(name, "app.blueprints")} == set()


@pytest.mark.parametrize("path", files("blueprints"), ids=ids)
def test_no_blueprint_imports_the_settings(path: Path) -> None:
    """Views read the settings through services(): the settings module is the composition's."""
    assert {name for name in imports(path) if inside(name, "app.settings")} == set()


# Request parsing is app/request_parsing.py: a module of the app named after one of the standard
# library (`http`) shadows it for any code run with that folder on its import path, and leaves a
# reader asking which of the two `http` means. The token blueprint (`token`, a standard-library
# name too) is named after its endpoints and left as it is.
STDLIB_NAMES_ALLOWED = ("blueprints/token.py",)


def test_no_module_of_the_app_is_named_like_the_standard_library() -> None:
    import sys

    named = {ids(p) for p in sorted(APP.rglob("*.py")) if p.stem in sys.stdlib_module_names}
    assert named - set(STDLIB_NAMES_ALLOWED) == set()


def test_nothing_imports_an_http_module_of_the_app() -> None:
    found = {ids(p): sorted(n for n in imports(p) if n.split(".")[-1] == "http" and inside(n, "app"))
             for p in sorted(APP.rglob("*.py"))}
    assert {path: names for path, names in found.items() if names} == {}


REQUEST_PARSING = APP / "request_parsing.py"
# What the parsing module stands above: neither the login flow, the services, the views nor the answers.
NOT_BELOW_PARSING = ("app.core.login", "app.services", "app.blueprints", "app.responses")
# Calls that write an answer: parsing reads the request only.
ANSWER_WRITERS = {"set_cookie", "delete_cookie", "render_template", "redirect", "jsonify", "make_response"}


def called_names(path: Path) -> set[str]:
    return {node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))}


def test_request_parsing_imports_no_login_session_or_view_code() -> None:
    assert {n for n in imports(REQUEST_PARSING) if any(inside(n, room) for room in NOT_BELOW_PARSING)} == set()


def test_request_parsing_writes_no_answer() -> None:
    """No cookies, pages, redirects or JSON bodies: those are the views' (and app/responses.py's)."""
    assert called_names(REQUEST_PARSING) & ANSWER_WRITERS == set()


def test_the_session_cookies_are_the_sessions_blueprints() -> None:
    """`sid` and `refresh_token` are set, read and cleared by the sessions blueprint (the login completion
    included); below the views only the core names the session cookie (its definition, the check)."""
    names = {"SESSION_COOKIE", "REFRESH_COOKIE"}
    users = {ids(p) for p in sorted(APP.rglob("*.py")) if not inside(module_name(p), "app.core")
             for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Name) and node.id in names
             or isinstance(node, ast.alias) and node.name in names}
    assert users == {"blueprints/sessions.py"}


SERVICES = APP / "services.py"


def accessors() -> set[str]:
    """The functions app/services.py defines: how anything reaches a service."""
    return {node.name for node in ast.parse(SERVICES.read_text()).body if isinstance(node, ast.FunctionDef)}


def indexed_accessor_calls(source: str, names: set[str]) -> list[str]:
    """`login_services()[0]`, `svc.services()[1]`: a subscript of a call to one of `names`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in names:
                found.append(f"line {node.lineno}: {name}()[...]")
    return found


def test_no_service_is_reached_by_index() -> None:
    """One typed accessor per service: no view (nor anything else) indexes what an accessor answers."""
    names = accessors()
    offenders = {ids(p): found for p in sorted(APP.rglob("*.py"))
                 if (found := indexed_accessor_calls(p.read_text(), names))}
    assert offenders == {}


def test_no_accessor_answers_a_tuple() -> None:
    tuples = [node.name for node in ast.parse(SERVICES.read_text()).body if isinstance(node, ast.FunctionDef)
              and node.returns is not None and "tuple" in ast.unparse(node.returns)]
    assert tuples == []


def test_the_index_check_sees_an_indexed_accessor() -> None:
    source = "a = login_services()[0]\nb = m.services()[1]\nc = login_service().app('x')\nd = other()[0]\n"
    assert indexed_accessor_calls(source, {"login_services", "services", "login_service"}) == [
        "line 1: login_services()[...]", "line 2: services()[...]"]


@pytest.mark.parametrize("path", files("adapters"), ids=ids)
def test_no_adapter_imports_the_web_framework(path: Path) -> None:
    """Adapters talk to stores and peers; HTTP answers are the blueprints' and error_answers.py's."""
    assert {name.split(".")[0] for name in imports(path)} & WEB == set()


@pytest.mark.parametrize("path", files("settings"), ids=ids)
def test_settings_import_no_adapter_nor_the_composition(path: Path) -> None:
    """Settings validate values; they reach neither a store nor the modules that build on them."""
    rooms = ("app.adapters", "app.services", "app.named_files", "app.blueprints")
    assert {n for n in imports(path) if any(inside(n, r) for r in rooms)} == set()


def test_settings_hold_plain_values_only() -> None:
    """No field of Settings is one of the core's objects (a key set, a route table, ...): the files the
    settings name are read by app/named_files.py and the core's objects built by app/services.py."""
    import typing

    from app.settings import Settings

    def app_types(hint: object) -> set[str]:
        found = {f"{hint.__module__}.{getattr(hint, '__qualname__', hint)}"} \
            if getattr(hint, "__module__", "").startswith("app") else set()
        return found.union(*(app_types(arg) for arg in typing.get_args(hint)))

    hints = typing.get_type_hints(Settings)
    assert {name: found for name, hint in hints.items() if (found := app_types(hint))} == {}


ROOT = APP.parent
ENV_ATTRS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def environment_reads(source: str) -> list[str]:
    """Where a module touches the process environment, by AST: `os.environ` (subscripts, .get, ...),
    `os.getenv`/`putenv`, `from os import environ`, an aliased os (`import os as o; o.environ`),
    `getattr(os, "environ")`. A WSGI `environ` argument is not the process environment."""
    tree = ast.parse(source)
    os_names = {"os"} | {a.asname for node in ast.walk(tree) if isinstance(node, ast.Import)
                         for a in node.names if a.name == "os" and a.asname}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in os_names \
                and node.attr in ENV_ATTRS:
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "posix", "nt") \
                and {a.name for a in node.names} & (ENV_ATTRS | {"*"}):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Name) and node.args[0].id in os_names \
                and isinstance(node.args[1], ast.Constant) and node.args[1].value in ENV_ATTRS:
            found.append(f"line {node.lineno}: getattr(os, {node.args[1].value!r})")
    return found


READS = [
    ("subscript", "import os\nx = os.environ['HTTP_PORT']\n"),
    ("get", "import os\nx = os.environ.get('HTTP_PORT')\n"),
    ("setdefault", "import os\nos.environ.setdefault('A', 'b')\n"),
    ("copy", "import os\nenv = dict(os.environ)\n"),
    ("getenv", "import os\nx = os.getenv('A')\n"),
    ("putenv", "import os\nos.putenv('A', 'b')\n"),
    ("from import", "from os import environ\nx = environ['A']\n"),
    ("from import getenv", "from os import getenv as g\nx = g('A')\n"),
    ("alias", "import os as o\nx = o.environ['A']\n"),
    ("getattr", "import os\nx = getattr(os, 'environ')\n"),
]
NOT_READS = [
    ("wsgi environ", "def app(environ, start_response):\n    return environ.get('PATH_INFO')\n"),
    ("flask request environ", "from flask import request\nx = request.environ['REMOTE_ADDR']\n"),
    ("other os use", "import os\nx = os.cpu_count(), os.path.join('a', 'b')\n"),
    ("a string", "x = 'os.environ'\n"),
]


@pytest.mark.parametrize("case,source", READS, ids=[c[0] for c in READS])
def test_environment_reads_are_found(case: str, source: str) -> None:
    assert environment_reads(source)


@pytest.mark.parametrize("case,source", NOT_READS, ids=[c[0] for c in NOT_READS])
def test_other_environs_are_not_environment_reads(case: str, source: str) -> None:
    assert environment_reads(source) == []


def product_modules() -> list[Path]:
    """The product, its server configuration and the development stack that starts it."""
    return (sorted(APP.rglob("*.py")) + sorted((ROOT / "gatehouse_dev").rglob("*.py"))
            + [ROOT / "gunicorn.conf.py", ROOT / "wsgi.py"])


ENVIRONMENT_READER = APP / "settings" / "loading.py"


def test_only_settings_reads_the_environment() -> None:
    """CONVENTIONS: nothing reads (or writes) os.environ but the settings' loading module; the rest of
    the settings, gunicorn.conf.py, wsgi.py and the development stack included."""
    offenders = {str(p.relative_to(ROOT)): found for p in product_modules() if p != ENVIRONMENT_READER
                 for found in [environment_reads(p.read_text())] if found}
    assert offenders == {}
    assert environment_reads(ENVIRONMENT_READER.read_text()), "the scan sees settings' own reads"


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
    assert (APP.parent / DEV_PACKAGE / "runner.py").exists()
    assert (APP.parent / "tests" / "support" / "fakes.py").exists()


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

