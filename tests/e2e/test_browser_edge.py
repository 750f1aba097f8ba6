"""The gateway edge in a real browser (issue 12): Debian's chromium through the shipped nginx
config, logged in at the development provider."""
from __future__ import annotations

from urllib.parse import unquote

from tests.e2e.test_browser_login import login_as, seen_headers, site  # noqa: F401 - the fixture


def test_login_lands_on_the_original_uri_byte_for_byte_and_403_is_a_page(browser, site):  # noqa: F811
    base, db = site
    context = browser.new_context()
    page = context.new_page()
    original = "/whoami?q=rock%20%26%20roll&plus=1%2B1"
    page.goto(f"{base}{original}")
    assert "/web-login" in page.url
    login_as(page, "bob")
    page.wait_for_url(f"{base}{original}")
    assert page.url == f"{base}{original}"
    assert seen_headers(page)["miausergroups"] == "users"

    # bob is not in group admin: a navigation gets Gatehouse's page, not JSON
    answer = page.goto(f"{base}/admin?from=menu")
    assert answer.status == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert page.locator("h1").inner_text() == "403 Forbidden"
    user = db.users.find_one({"providerUserId": "bob"})
    assert "users" in page.locator("#who").inner_text()
    assert "/admin?from=menu" in page.locator("#why").inner_text()
    assert page.locator("#sign-out").get_attribute("href") == "/logout?redirect=/"
    assert user is not None

    # an API call from the same browser keeps JSON
    api = page.evaluate("() => fetch('/admin', {headers: {Accept: 'application/json'}})"
                        ".then(r => r.json().then(body => [r.status, body]))")
    assert api[0] == 403 and api[1].pop("requestId")
    assert api[1] == {"statusCode": 403, "error": "Forbidden", "message": "not allowed"}
    context.close()


def test_a_signed_in_user_with_unicode_groups_reaches_the_upstream_encoded(browser, site):  # noqa: F811
    """Issue 12, item 3, for a person (not only a token): groups of a real directory in the user
    document reach the upstream as RFC 8187 ext-values, each decoding to the group."""
    base, db = site
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/whoami")
    login_as(page, "bob")
    page.wait_for_url(f"{base}/whoami")
    user = db.users.find_one({"providerUserId": "bob"})
    groups = ["users", "Администраторы", "管理员", "開発者"]
    db.users.update_one({"_id": user["_id"]}, {"$set": {"groups": groups}})
    status = page.evaluate("() => fetch('/refreshtoken', {method: 'POST'}).then(r => r.status)")
    assert status == 200
    answer = page.goto(f"{base}/whoami")
    assert answer is not None and answer.status == 200
    wire = seen_headers(page)["miausergroups"].split(",")
    assert all(item.isascii() for item in wire)
    assert {unquote(item[7:]) if item.startswith("UTF-8''") else item for item in wire} == set(groups)
    assert "users" in wire  # ASCII groups keep Mia's form
    context.close()
