"""CONVENTIONS: app/ (and the development stack, gatehouse_dev/) is type-hinted and mypy-clean."""
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]


def test_app_is_mypy_clean():
    out, err, status = api.run(["--config-file", str(ROOT / "setup.cfg"), str(ROOT / "app"), str(ROOT / "gatehouse_dev")])
    assert status == 0, out + err
