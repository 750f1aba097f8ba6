"""Route expressions past the parser's limits (issue 13 item 7): `gatehouse check-config`, the
start of the service and a live reload all refuse them with one precise, short line naming the
route, the method and the column; nothing anywhere raises RecursionError."""
from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from app.settings import ConfigError, load_settings

TERMS_974 = "''||" * 974 + "true"  # 3.9 KB: under the length limit; killed every worker before
TERMS_1023 = "||".join(["''"] * 1023)
DEEP = "(" * 40 + "true" + ")" * 40
LONG = "groups.admin || " * 1300  # 20 KB: over the length limit, must not be echoed whole

CASES = [
    ("974 terms", TERMS_974, "GET", "more than 256 terms at column 1025"),
    ("1023 terms", TERMS_1023, "POST", "more than 256 terms at column 1025"),
    ("40 levels", DEEP, "GET", "nested deeper than 32 levels at column 33"),
    ("20 KB", LONG, "DELETE", "longer than 4096 characters at column 1"),
]


def route_file(tmp_path, expression: str, method: str):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"/orders": {method: {"authorization": {"expression": expression}}}}))
    return path


@pytest.mark.parametrize("name,expression,method,message", CASES, ids=[c[0] for c in CASES])
def test_check_config_names_route_method_and_column(env, tmp_path, name, expression, method, message):
    path = route_file(tmp_path, expression, method)
    result = CliRunner().invoke(main, ["check-config"], env={**env, "GATEHOUSE_CONFIG": "", "ROUTES_FILE": str(path)},
                                catch_exceptions=False)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if "/orders" in line]
    assert len(lines) == 1, result.output
    assert f"route /orders {method} authorization.expression" in lines[0] and message in lines[0]
    assert len(lines[0]) < 400, "an error line is bounded, whatever the expression's length"
    assert "Traceback" not in result.output and "RecursionError" not in result.output


@pytest.mark.parametrize("name,expression,method,message", CASES, ids=[c[0] for c in CASES])
def test_start_refuses_with_the_same_line(env, tmp_path, name, expression, method, message):
    path = route_file(tmp_path, expression, method)
    with pytest.raises(ConfigError) as info:  # the start: wsgi.py's create_app()
        create_app(load_settings({**env, "ROUTES_FILE": str(path)}))
    problems = [p for p in info.value.problems if "/orders" in p]
    assert len(problems) == 1 and message in problems[0] and len(problems[0]) < 400


def test_reload_keeps_the_old_table_and_answers(env, tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"/orders": {"GET": {"authorization": {"expression": "true", "public": True}}}}))
    app = create_app(load_settings({**env, "ROUTES_FILE": str(path), "ROUTES_RELOAD_INTERVAL_SECONDS": "0"}))
    c = app.test_client()
    check = {"X-Original-URI": "/orders", "X-Original-Method": "GET"}
    assert c.get("/auth", headers=check).status_code == 204
    path.write_text(json.dumps({"/orders": {"GET": {"authorization": {"expression": TERMS_974}}}}))
    stamp = time.time() + 2
    os.utime(path, (stamp, stamp))
    for _ in range(3):  # the request that triggers the reload, and the ones after it
        assert c.get("/auth", headers=check).status_code == 204
