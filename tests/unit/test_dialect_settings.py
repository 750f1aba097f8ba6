"""AUTH_DIALECTS and the trust settings: validated at start-up, one precise line naming the key."""
from __future__ import annotations

import ipaddress

import pytest

from app.services import compose
from app.settings import ConfigError, load_settings


def test_defaults_are_plain_nginx_unguarded(base) -> None:
    d = compose(load_settings(base)).authorizer.dialects
    assert (d.dialects, d.trusted_proxies, d.secret_header, d.secret, d.hosts) == (("nginx",), (), None, None, ())
    assert not d.guarded


def test_values(base) -> None:
    d = compose(load_settings({**base, "AUTH_DIALECTS": "traefik, envoy,traefik", "TRUSTED_PROXY_CIDRS": "10.0.0.0/8, fd00::1",
                       "FORWARD_AUTH_SECRET_HEADER": "X-Gatehouse-Proxy",
                       "FORWARD_AUTH_SECRET": "a-long-enough-secret", "FORWARD_AUTH_HOSTS": "App.Example.com,b:8443"}
                      )).authorizer.dialects
    assert d.dialects == ("traefik", "envoy")
    assert d.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::1/128"))
    assert (d.secret_header, d.secret, d.hosts) == ("X-Gatehouse-Proxy", "a-long-enough-secret",
                                                    ("app.example.com", "b:8443"))
    assert "a-long-enough-secret" not in repr(d)


@pytest.mark.parametrize("extra, expected", [
    ({"TRUSTED_PROXY_CIDRS": "10.0.0.0/8,10.0.0.300/32"},
     "TRUSTED_PROXY_CIDRS: not an address or CIDR: 10.0.0.300/32"),
    ({"AUTH_DIALECTS": "nginx,haproxy"},
     "AUTH_DIALECTS: each entry must be one of nginx, ingress-nginx, traefik, caddy, envoy"),
    ({"FORWARD_AUTH_SECRET_HEADER": "X-Gatehouse-Proxy"},
     "FORWARD_AUTH_SECRET (forward_auth_secret): required when FORWARD_AUTH_SECRET_HEADER is set"),
    ({"FORWARD_AUTH_SECRET": "a-long-enough-secret"},
     "FORWARD_AUTH_SECRET_HEADER (forward_auth_secret_header): required when FORWARD_AUTH_SECRET is set"),
    ({"FORWARD_AUTH_SECRET_HEADER": "X Bad", "FORWARD_AUTH_SECRET": "a-long-enough-secret"},
     "FORWARD_AUTH_SECRET_HEADER: must be a header name (1-64 of A-Z a-z 0-9 -)"),
    ({"FORWARD_AUTH_SECRET_HEADER": "X-P", "FORWARD_AUTH_SECRET": "short"},
     "FORWARD_AUTH_SECRET: Length must be between 16 and 512."),
    ({"AUTH_DIALECTS": "nginx,traefik"},
     "AUTH_DIALECTS: traefik believed only from a trusted proxy: set TRUSTED_PROXY_CIDRS and/or "
     "FORWARD_AUTH_SECRET_HEADER"),
    # non-strict answers every check 200: Envoy, Traefik, Caddy and ingress-nginx would let all through
    ({"AUTH_DIALECTS": "nginx,envoy", "TRUSTED_PROXY_CIDRS": "10.0.0.0/8", "STRICT_MODE": "false"},
     "STRICT_MODE: must be true with envoy: non-strict answers every check 200, which these proxies let through"),
    ({"AUTH_DIALECTS": "traefik,caddy", "TRUSTED_PROXY_CIDRS": "10.0.0.0/8", "STRICT_MODE": "false"},
     "STRICT_MODE: must be true with traefik, caddy: non-strict answers every check 200, which these proxies "
     "let through"),
    ({"FORWARD_AUTH_HOSTS": "app.example.com,https://x"},
     "FORWARD_AUTH_HOSTS: each entry must be host or host:port, not https://x"),
] + [({"FORWARD_AUTH_LOGIN_URL": bad}, "FORWARD_AUTH_LOGIN_URL: must be a path (/web-login) or an http(s) URL "
      "(https://login.example.com/web-login)")
     for bad in ("//evil.example/web-login", "/\\evil.example", "web-login", "javascript:alert(1)",
                 "ftp://login.example.com/", "https://login.example.com", "/web login", "https://me@x.example/l")])
def test_bad_values_name_the_key(base, extra, expected) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**base, **extra})
    assert info.value.problems == [expected]
    assert "a-long-enough-secret" not in str(info.value), "a secret value never appears in a message"


def test_login_url(base) -> None:
    """FORWARD_AUTH_LOGIN_URL: the login page under SERVICE_PREFIX by default, or as given."""
    assert compose(load_settings(base)).authorizer.dialects.login_url == "/web-login"
    assert compose(load_settings({**base, "SERVICE_PREFIX": "/gh"})).authorizer.dialects.login_url == "/gh/web-login"
    for given in ("/login?appId=web", "https://login.example.com/web-login", "http://127.0.0.1:8080/web-login"):
        assert compose(load_settings({**base, "FORWARD_AUTH_LOGIN_URL": given})).authorizer.dialects.login_url == given
