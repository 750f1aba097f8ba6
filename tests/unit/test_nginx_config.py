"""The rendered nginx config: the header lists copied in, the back-office listener (issue 12)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.nginx_config import CHECK_HEADERS, UPSTREAM_HEADERS, header_names, render

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def conf(tmp_path: Path, **extra) -> str:
    return render("127.0.0.1:8080", "127.0.0.1:3000", "127.0.0.1:9000", tmp_path, **extra)


def test_the_header_lists_are_copied_in(tmp_path):
    text = conf(tmp_path)
    assert "include gatehouse-" not in text
    for name, value in header_names(UPSTREAM_HEADERS) + header_names(CHECK_HEADERS):
        assert f"proxy_set_header {name} {value};" in text


def test_without_a_back_office_listener_no_placeholder_is_left(tmp_path):
    text = conf(tmp_path)
    assert "@" not in text.replace("@gatehouse_", "")
    assert "listen 127.0.0.1:8080;" in text and text.count("listen ") == 1


def test_the_back_office_listener_sets_the_policy_by_port(tmp_path):
    text = conf(tmp_path, backoffice_listen="127.0.0.1:8081")
    assert "listen 127.0.0.1:8081;" in text
    assert '8081 "true";' in text


@pytest.mark.parametrize("listen", ["127.0.0.2:8080", "x; include /etc/passwd:1", "8081"])
def test_a_back_office_listener_needs_its_own_valid_port(tmp_path, listen):
    with pytest.raises(ValueError):
        conf(tmp_path, backoffice_listen=listen)


def test_the_check_and_the_upstream_never_take_isbackoffice_from_the_client():
    for path in (CHECK_HEADERS, UPSTREAM_HEADERS):
        assert ("isbackoffice", "$gatehouse_backoffice") in header_names(path)


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")
@pytest.mark.parametrize("backoffice", [None, "127.0.0.1:8081"])
def test_nginx_accepts_the_rendered_config(tmp_path, backoffice):
    path = tmp_path / "nginx.conf"
    path.write_text(conf(tmp_path, backoffice_listen=backoffice))
    result = subprocess.run([NGINX, "-t", "-c", str(path), "-p", str(tmp_path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
