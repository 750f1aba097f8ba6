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


@pytest.mark.parametrize("original", ORIGINALS)
def test_nginx_login_redirect_lands_on_the_original_uri(dev, original):
    _, c = dev
    page = c.get(f"/web-login?redirect={original}")  # exactly what nginx's `return 302` sends
    assert page.status_code == 200, page.data
    link = html.unescape(re.search(r'href="(/authorize\?[^"]+)"', page.data.decode())[1])
    started = c.get(link)
    assert started.status_code == 302, started.data
    back = at_dev_provider(started.headers["Location"], "alice")
    done = c.post("/oauth/token", data=back, headers={"Accept": "text/html"})
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
