"""The login redirect keeps the original URI byte for byte (issue 12, item 5): nginx appends
`$request_uri` unencoded to `/web-login?redirect=`, and the browser must land on exactly that
URI after logging in at the development provider."""
from __future__ import annotations

import html
import re

import pytest

from tests.integration.test_login import at_dev_provider, make
from tests.conftest import login_app

ORIGINALS = [
    "/whoami?q=rock%20%26%20roll&plus=1%2B1",
    "/whoami?q=rock%20roll",
    "/search?q=a%26b%3Dc",
    "/orders",
    "/orders?page=2&sort=-date",
    "/caf%C3%A9?x=%E2%9C%93",
]


@pytest.fixture
def dev(env, tmp_path, dev_provider):
    return make(env, tmp_path, {"web": login_app(dev_provider.url)})


def sign_in(c, query: str):
    """/web-login?<query> as the proxy sends it, alice at the development provider; the callback's answer."""
    page = c.get(f"/web-login?{query}")
    assert page.status_code == 200, page.data
    link = html.unescape(re.search(r'href="(/authorize\?[^"]+)"', page.data.decode())[1])
    started = c.get(link)
    assert started.status_code == 302, started.data
    back = at_dev_provider(started.headers["Location"], "alice")
    return c.post("/oauth/token", data=back, headers={"Accept": "text/html"})


@pytest.mark.parametrize("original", ORIGINALS)
def test_nginx_login_redirect_lands_on_the_original_uri(dev, original):
    _, c = dev
    done = sign_in(c, f"redirect={original}")  # exactly what nginx's `return 302` sends
    assert done.status_code == 303
    assert done.headers["Location"] == original


@pytest.mark.parametrize("query,target", [
    ("redirect=%2Forders%3Fpage%3D2", "/orders?page=2"),  # an encoded parameter is decoded once
    ("redirect=/orders&appId=web", "/orders"),  # the login page's own form: a parameter beside appId
    ("appId=web&redirect=/orders%3Fpage%3D2", "/orders?page=2"),
])
def test_encoded_redirect_parameters_are_decoded_once(dev, query, target):
    _, c = dev
    page = c.get(f"/web-login?{query}")
    link = html.unescape(re.search(r'href="(/authorize\?[^"]+)"', page.data.decode())[1])
    started = c.get(link)
    back = at_dev_provider(started.headers["Location"], "alice")
    assert c.post("/oauth/token", data=back, headers={"Accept": "text/html"}).headers["Location"] == target


@pytest.fixture
def forward(env, tmp_path, dev_provider):
    """Behind ingress-nginx: FORWARD_AUTH_HOSTS names the hosts its Ingresses protect."""
    return make(env, tmp_path, {"web": login_app(dev_provider.url)},
                forward_auth_hosts=["app.example.com", "shop.example.com:8443"])


@pytest.mark.parametrize("query, target", [
    # ingress-nginx auth-signin: `rd=$pass_access_scheme://$http_host$escaped_request_uri`
    ("rd=https://app.example.com/orders%3Fpage%3D2%26sort%3D-date", "https://app.example.com/orders?page=2&sort=-date"),
    ("rd=http%3A%2F%2Fapp.example.com%2F", "http://app.example.com/"),
    ("appId=web&rd=https://shop.example.com:8443/cart", "https://shop.example.com:8443/cart"),
    ("rd=/orders", "/orders"),
    ("redirect=%2Forders&rd=%2Forders", "/orders"),  # the same target both ways
])
def test_ingress_nginx_rd_lands_on_the_original_url(forward, query, target):
    _, c = forward
    done = sign_in(c, query)
    assert (done.status_code, done.headers["Location"]) == (303, target)


@pytest.mark.parametrize("query, message", [
    ("rd=https://evil.example/orders", "redirect is not in the allowed list"),
    ("rd=https://app.example.com.evil.example/", "redirect is not in the allowed list"),
    ("rd=https://shop.example.com/cart", "redirect is not in the allowed list"),
    ("rd=https://me@app.example.com/", "redirect must be a relative path or an allowed URL"),
    ("rd=javascript:alert(1)", "redirect must be a relative path or an allowed URL"),
    ("rd=//evil.example/", "redirect must not be protocol-relative"),
    ("rd=https://app.example.com/%0d%0aSet-Cookie:x", "redirect contains forbidden characters"),
    ("redirect=%2Forders&rd=%2Fadmin", "give the return target as redirect or as rd, not both"),
])
def test_bad_rd_is_refused_400(forward, query, message):
    _, c = forward
    r = c.get(f"/web-login?{query}", headers={"Accept": "application/json"})
    assert (r.status_code, r.json["message"]) == (400, message)
    started = c.get("/authorize", query_string={"appId": "web", "providerId": "dev",
                                               "redirect": "https://evil.example/orders"})
    assert started.status_code == 400, "/authorize validates again"


def test_rd_to_a_protected_host_needs_forward_auth_hosts(dev):
    _, c = dev
    r = c.get("/web-login?rd=https://app.example.com/orders", headers={"Accept": "application/json"})
    assert (r.status_code, r.json["message"]) == (400, "redirect is not in the allowed list")
