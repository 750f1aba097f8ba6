"""CONVENTIONS: app/ is type-hinted and mypy-clean."""
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]


def test_app_is_mypy_clean():
    out, err, status = api.run(["--config-file", str(ROOT / "setup.cfg"), str(ROOT / "app")])
    assert status == 0, out + err
