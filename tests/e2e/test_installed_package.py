"""The package ships the product: a wheel built from the checkout, installed on its own (no
checkout on the path, run from another directory), renders the nginx config, finds every page
and starts under gunicorn with the configuration it carries (`-c python:app.serving.gunicorn_conf
app.serving.wsgi:app`) and the /auth group under uWSGI (`gatehouse serve-check`). Runtime dependencies come from the test environment; the package's own files
come only from the wheel."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["callback.html", "error.html", "forbidden.html", "login.html", "page.html", "bff/landing.html"]


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory) -> tuple[Path, str]:
    """The wheel and what the build printed (-v: pip shows the build backend's warnings only then)."""
    wheels = tmp_path_factory.mktemp("wheels")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w",
                            str(wheels), str(ROOT)], check=True, capture_output=True, text=True, timeout=300)
    return next(wheels.glob("gatehouse-*.whl")), build.stdout + build.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory, built_wheel) -> Path:
    wheel, target = built_wheel[0], tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return target


def run(installed: Path, cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env, "PYTHONPATH": str(installed), "GATEHOUSE_CONFIG": ""})


def test_the_build_warns_of_no_undeclared_package_data(built_wheel):
    """The pages' and nginx config's directories are declared packages: setuptools would otherwise
    print about 120 lines per build ("Package 'app.nginx' is absent from the `packages`
    configuration", the same for app.templates) at every `pip install` and `scripts/dev`."""
    _, log = built_wheel
    assert "Successfully built gatehouse" in log
    assert "absent from the" not in log, [line for line in log.splitlines() if "absent from the" in line][:4]
    assert "_Warning" not in log


def test_the_package_comes_from_the_wheel(installed, tmp_path):
    out = run(installed, tmp_path, {}, "-c", "import app, gatehouse_dev; print(app.__file__)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(installed / "app" / "__init__.py")


def test_nginx_config_renders_from_the_installed_package(installed, tmp_path):
    out = run(installed, tmp_path, {}, "-c", "from app.cli import main; main()", "nginx-config",
              "--upstream", "127.0.0.1:9", "--gatehouse", "127.0.0.1:3000", "--gatehouse-check", "127.0.0.1:3002",
              "--runtime", str(tmp_path / "rt"))
    assert out.returncode == 0, out.stderr
    assert "auth_request" in out.stdout and "Traceback" not in out.stderr


def test_every_page_is_found(installed, tmp_path, env):
    code = ("from app import create_app\n"
            "app = create_app()\n"
            f"for page in {PAGES!r}:\n"
            "    app.jinja_env.get_template(page)\n"
            "from app.blueprints.bff import CLIENT_JS\n"
            "assert CLIENT_JS.is_file(), CLIENT_JS\n"
            "print('pages found')\n")
    out = run(installed, tmp_path, env, "-c", code)
    assert out.returncode == 0 and out.stdout.strip() == "pages found", out.stderr


def test_gunicorn_loads_the_shipped_configuration_and_app(installed, tmp_path, env):
    out = run(installed, tmp_path, env, "-m", "gunicorn", "-c", "python:app.serving.gunicorn_conf", "--check-config",
              "app.serving.wsgi:app")
    assert out.returncode == 0, out.stderr


def test_serve_check_runs_the_installed_package(installed, tmp_path, env):
    """The /auth group under uWSGI, its workers loading the app from the package (no checkout on
    the path, started from another directory): ready, and drained on SIGTERM."""
    port = free_port(span=2)
    proc = subprocess.Popen([sys.executable, "-c", "from app.cli import main; main()", "serve-check", "--processes", "1",
                             "--http", f"127.0.0.1:{port}", "--socket", f"127.0.0.1:{port + 1}"], cwd=tmp_path,
                            env={**os.environ, **env, "PYTHONPATH": str(installed), "GATEHOUSE_CONFIG": "",
                                 "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")},
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "check.log", "wb"))
    try:
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200,
                   "serve-check from the installed package", 60)
        r = requests.get(f"http://127.0.0.1:{port}/auth", timeout=5,
                         headers={"X-Original-URI": "/x", "X-Original-Method": "GET"})
        assert r.status_code == 401 and r.content == b""
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    log = (tmp_path / "check.log").read_text()
    assert proc.returncode == 0 and "Traceback" not in log and "No module named" not in log, log[-2000:]
