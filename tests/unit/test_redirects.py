"""The one redirect validator: relative paths or the allow-list, nothing else."""
import pytest

from app.core.redirects import BadRedirect, safe_redirect

ALLOWED = ("https://app.example.test/home", "http://127.0.0.1:8080/")


@pytest.mark.parametrize("target,expected", [
    (None, "/default"), ("", "/default"), ("/orders?x=1", "/orders?x=1"), ("/", "/"),
    ("https://app.example.test/home?tab=2", "https://app.example.test/home?tab=2"),
    ("HTTPS://APP.example.test/home", "HTTPS://APP.example.test/home"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/"),
])
def test_accepted(target, expected):
    assert safe_redirect(target, ALLOWED, "/default") == expected


@pytest.mark.parametrize("target", [
    "//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example", "javascript:alert(1)",
    "JaVaScRiPt:alert(1)", "data:text/html,x", "https://app.example.test/other", "https://app.example.test.evil.example/home",
    "https://user@app.example.test/home", "http://app.example.test/home", "https://app.example.test:444/home",
    "/ok\r\nSet-Cookie: x=1", "\t//evil.example", " /x", "http://127.0.0.1:8081/", "/" + "a" * 3000,
    "https://app.example.test:99999/home", "orders", "http://[evil/", "https://evil\u2100.com/",
])
def test_refused(target):
    with pytest.raises(BadRedirect):
        safe_redirect(target, ALLOWED, "/default")


HOSTS = ("app.example.com", "shop.example.com:8443", "[::1]")


@pytest.mark.parametrize("target", [
    "https://app.example.com/orders?page=2", "http://app.example.com/", "https://APP.example.com:444/x",
    "https://shop.example.com:8443/cart", "http://[::1]:8080/x",
])
def test_any_path_on_a_forward_auth_host_is_accepted(target):
    """FORWARD_AUTH_HOSTS: ingress-nginx's `rd` and the check's login redirect name the original URL."""
    assert safe_redirect(target, (), "/default", hosts=HOSTS) == target
    with pytest.raises(BadRedirect):  # the feature, not the validator, accepts it
        safe_redirect(target, (), "/default")


@pytest.mark.parametrize("target", [
    "https://evil.example/orders", "https://app.example.com.evil.example/", "https://me@app.example.com/",
    "https://shop.example.com/cart", "https://shop.example.com:8444/cart", "ftp://app.example.com/x",
    "javascript://app.example.com/%0aalert(1)", "//app.example.com/x", "https://app.example.com/\r\nx",
    "https://app.example.com:99999/x",
])
def test_other_hosts_ports_schemes_are_still_refused(target):
    with pytest.raises(BadRedirect):
        safe_redirect(target, (), "/default", hosts=HOSTS)
