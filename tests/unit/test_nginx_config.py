"""The rendered nginx config: the header lists copied in, the back-office listener (issue 12)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from app.serving.nginx_config import CHECK_HEADERS, TEMPLATE, UPSTREAM_HEADERS, header_names, render
from app.observability import REQUEST_ID, request_id

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


def test_the_uwsgi_check_location_takes_the_one_header_list(tmp_path):
    """`--check-protocol uwsgi`: every header of gatehouse-check-headers.conf is a uwsgi_param of
    the check (set ones with their value, cleared ones named `if_not_empty`), nothing is proxied."""
    text = conf(tmp_path, check_protocol="uwsgi")
    start = text.index("location = /_gatehouse/auth {")
    location = text[start:text.index("\n        }\n", start)]
    assert "proxy_" not in location and "uwsgi_pass gatehouse_check;" in location
    assert "uwsgi_param PATH_INFO /auth;" in location
    for name, value in header_names(CHECK_HEADERS):
        if name.lower() == "connection":
            continue
        key = name.upper().replace("-", "_")
        key = key if key == "CONTENT_LENGTH" else f"HTTP_{key}"
        expected = f"uwsgi_param {key} {value}" + (" if_not_empty;" if value == '""' else ";")
        assert expected in location, expected
    assert "uwsgi_param HTTP_X_REQUEST_ID $gatehouse_request_id;" in location
    assert conf(tmp_path) == conf(tmp_path, check_protocol="http")
    with pytest.raises(ValueError):
        conf(tmp_path, check_protocol="fastcgi")


@pytest.mark.parametrize("protocol, too_large", [("http", 0), ("uwsgi", 1)])
def test_only_the_uwsgi_rendering_calls_a_check_never_reached_too_large(tmp_path, protocol, too_large):
    """No status from the check is a 400 only where a request may not fit the uwsgi packet; over
    HTTP a fault before the check stays a 500 (fail closed, and an outage is not a client error)."""
    text = conf(tmp_path, check_protocol=protocol)
    start = text.index("location @gatehouse_500 {")
    location = text[start:text.index("\n        }\n", start)]
    assert location.count('if ($gatehouse_check_status = "")') == too_large
    assert location.count("request headers too large") == too_large
    assert location.rstrip().endswith('"authorization check failed","requestId":"$gatehouse_request_id"}\';')


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")
@pytest.mark.parametrize("cache", [False, True])
def test_nginx_accepts_the_uwsgi_check_config(tmp_path, cache):
    path = tmp_path / "nginx.conf"
    path.write_text(conf(tmp_path, check_protocol="uwsgi", cache=cache))
    result = subprocess.run([NGINX, "-t", "-c", str(path), "-p", str(tmp_path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("check, accepted", [
    ("unix:/run/gatehouse/check.sock", True),  # `gatehouse dev`'s uWSGI group
    ("127.0.0.1:3002", True),
    ("unix:/run/a b.sock", False),
    ("unix:relative.sock", False),
    ("unix:/run/x.sock; include /etc/passwd", False),
])
def test_the_check_group_may_be_a_unix_socket(tmp_path, check, accepted):
    if not accepted:
        with pytest.raises(ValueError, match="gatehouse_check must be host:port or unix:/path"):
            render("127.0.0.1:8080", "127.0.0.1:3000", "127.0.0.1:9000", tmp_path, gatehouse_check=check,
                   check_protocol="uwsgi")
        return
    text = render("127.0.0.1:8080", "127.0.0.1:3000", "127.0.0.1:9000", tmp_path, gatehouse_check=check,
                  check_protocol="uwsgi")
    assert f"server {check}" in text and "uwsgi_pass gatehouse_check;" in text


@pytest.mark.parametrize("protocol", ["http", "uwsgi"])
def test_the_check_location_reads_large_answers_and_nginx_takes_40_kb_header_lines(tmp_path, protocol):
    """A BFF answer (a provider token up to 32 KB beside 200 groups) passes nginx's 4 KB default
    buffer: the check location reads it into 64 KB, under either protocol's own directives."""
    text = conf(tmp_path, check_protocol=protocol)
    start = text.index("location = /_gatehouse/auth {")
    location = text[start:text.index("\n        }\n", start)]
    prefix = "uwsgi" if protocol == "uwsgi" else "proxy"
    assert f"{prefix}_buffer_size 64k;" in location and f"{prefix}_buffers 4 64k;" in location
    assert ("proxy_buffer" in location) == (protocol == "http")
    assert "large_client_header_buffers 4 40k;" in text
    assert "error_page 494 = /_gatehouse/headers-too-large;" in text


def test_nginx_keeps_the_client_request_id_by_gatehouse_s_own_rule():
    """The `$gatehouse_request_id` map keeps a client's X-Request-Id by the very pattern Gatehouse
    keeps one by (REQUEST_ID), so the id nginx passes on is the id every log line carries."""
    found = re.search(r"map \$http_x_request_id \$gatehouse_request_id \{\n\s*default \$request_id;\n"
                      r'\s*"~(?P<pattern>[^"]+)" \$http_x_request_id;\n\s*\}', TEMPLATE.read_text())
    assert found and found["pattern"] == REQUEST_ID.pattern
    for kept in ["trace-abc-123", "a", "A.b_c-9", "t" * 128, "0123456789abcdef0123456789abcdef"]:
        assert request_id(kept) == kept
    for replaced in ["", "t" * 129, "trace abc", "trace%0aabc", 'trace"abc', "trace\n", "é", "a,b", "a:b"]:
        assert request_id(replaced) != replaced


def test_every_answer_nginx_writes_itself_carries_the_request_id(tmp_path):
    """Each JSON body and page nginx returns (401, 403, 400, 413, 414, 431, 500, 503) names the
    request's id; nothing prints nginx's own `$request_id` past the map."""
    for protocol in ("http", "uwsgi"):
        text = conf(tmp_path, check_protocol=protocol)
        answers = re.findall(r"return (\d{3}) '(.*)';", text)
        assert {status for status, _ in answers} >= {"400", "401", "403", "413", "414", "431", "500", "503"}
        for status, body in answers:
            assert '"requestId":"$gatehouse_request_id"' in body or "<code>$gatehouse_request_id</code>" in body, body
        directives = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert directives.count("$request_id") == 1, "only the map's default"
        assert '"request_id":"$gatehouse_request_id"' in text, "the access log format"
        # the check (over HTTP; a uwsgi_param over uwsgi), the 403 page, Gatehouse's endpoints, the upstream
        assert text.count("proxy_set_header X-Request-Id $gatehouse_request_id;") == (4 if protocol == "http" else 3)
        assert ("uwsgi_param HTTP_X_REQUEST_ID $gatehouse_request_id;" in text) == (protocol == "uwsgi")
