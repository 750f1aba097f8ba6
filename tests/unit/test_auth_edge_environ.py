"""The /auth edge's readers of the WSGI environ: headers and cookies answer exactly what
werkzeug's EnvironHeaders and parse_cookie (Flask's request.headers and request.cookies) answer."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import EnvironHeaders
from werkzeug.http import parse_cookie

from app import auth_edge, request_parsing
from app.auth_edge import WSGICookies, WSGIHeaders
from app.request_parsing import parse_cookies

ENVIRON = {
    "REQUEST_METHOD": "GET", "PATH_INFO": "/auth", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "0",
    "HTTP_X_ORIGINAL_URI": "/orders?x=1", "HTTP_X_ORIGINAL_METHOD": "GET", "HTTP_AUTHORIZATION": "Bearer t",
    "HTTP_CLIENT_KEY": "key-a", "HTTP_ISBACKOFFICE": "", "HTTP_CONTENT_TYPE": "text/plain",
}
NAMES = ["X-Original-URI", "x-original-uri", "X-ORIGINAL-URI", "X_Original_Uri", "Authorization", "authorization",
         "client-key", "Client-Key", "isbackoffice", "Content-Type", "content-type", "Content-Length",
         "Original-Request-Uri", "Cookie", "miauserid", "X-Request-Id", "Request-Method", "Path-Info"]


@pytest.mark.parametrize("name", NAMES)
def test_headers_answer_as_werkzeug_environ_headers(name):
    assert WSGIHeaders(ENVIRON).get(name) == EnvironHeaders(ENVIRON).get(name)
    assert WSGIHeaders(ENVIRON).get(name, "absent") == EnvironHeaders(ENVIRON).get(name, "absent")


def test_headers_are_case_insensitive():
    headers = WSGIHeaders(ENVIRON)
    assert {headers.get(n) for n in ("X-Original-URI", "x-original-uri", "X-ORIGINAL-URI")} == {"/orders?x=1"}


def test_missing_and_empty_headers():
    headers = WSGIHeaders(ENVIRON)
    assert headers.get("Original-Request-Uri") is None
    assert headers.get("Original-Request-Uri", "d") == "d"
    assert headers.get("isbackoffice") == ""  # present but empty: not the default


def test_content_type_and_length_are_not_http_prefixed():
    """PEP 3333: CONTENT_TYPE and CONTENT_LENGTH, never HTTP_CONTENT_TYPE (which a server must not set)."""
    headers = WSGIHeaders(ENVIRON)
    assert headers.get("Content-Type") == "application/json"
    assert headers.get("content-length") == "0"
    assert WSGIHeaders({"HTTP_CONTENT_TYPE": "text/plain"}).get("Content-Type") is None
    # WSGI variables that are not headers are not headers
    assert headers.get("Request-Method") is None and headers.get("Path-Info") is None


def test_repeated_lookups_read_each_environ():
    """Names are remembered, values never: the same name over several requests answers each one's."""
    first, second = WSGIHeaders(ENVIRON), WSGIHeaders({**ENVIRON, "HTTP_X_ORIGINAL_URI": "/other"})
    for _ in range(3):
        assert first.get("X-Original-URI") == "/orders?x=1"
        assert second.get("X-Original-URI") == "/other"
        assert WSGIHeaders({}).get("X-Original-URI") is None
    assert WSGIHeaders.keys["X-Original-URI"] == "HTTP_X_ORIGINAL_URI"


def test_remembered_names_are_bounded(monkeypatch):
    monkeypatch.setattr(WSGIHeaders, "keys", {})
    headers = WSGIHeaders({"HTTP_X_9999": "v"})
    for i in range(auth_edge.MAX_KNOWN_NAMES + 50):
        headers.get(f"X-{i}")
    assert len(WSGIHeaders.keys) == auth_edge.MAX_KNOWN_NAMES
    assert headers.get("X-9999") == "v"  # not remembered, still answered


PROBES = ("sid", "x", "y", "a", "b", "ab", "a,b", "novalue", "")


def reading(parse, header: str) -> object:
    """What a credential source sees: each probed name's first value, or the error raised
    (bytes that are not UTF-8 fail alike: the check then answers 500 in both paths)."""
    try:
        cookies = parse(header)
    except UnicodeDecodeError as exc:
        return type(exc)
    return {name: cookies.get(name) for name in [*PROBES, *(cookies.keys() if hasattr(cookies, "keys") else ())]}


COOKIES = [
    "sid=abc", "sid=abc; x=1", "sid=abc;x=1", "sid=a=b=c", "sid=", "sid=abc; sid=def", "a,b=c; sid=x",
    "sid=\"quoted\"", "sid=\"q\\\"x\"; y=1", "sid=abc;", " sid=abc", "sid=abc;  x=1", "sid = abc", "sid=a b",
    "sid=é", "sid=\xc3\xa9", "novalue; sid=abc", "sid=abc\t; x=1", "=x; sid=1", ";;sid=1", "",
]


@pytest.mark.parametrize("header", COOKIES)
def test_cookies_answer_as_werkzeug(header):
    assert reading(parse_cookies, header) == reading(parse_cookie, header)


@given(st.text(alphabet="ab=; \t\",\\\xe91", max_size=30))
def test_cookies_answer_as_werkzeug_for_any_header(header):
    ours, theirs = reading(parse_cookies, header), reading(parse_cookie, header)
    if isinstance(ours, dict) and isinstance(theirs, dict):  # names werkzeug found that our fast path did not
        ours = {**ours, **{k: parse_cookies(header).get(k) for k in theirs}}
        theirs = {**theirs, **{k: parse_cookie(header).get(k) for k in ours}}
    assert ours == theirs


def test_plain_cookies_skip_werkzeug_parser(monkeypatch):
    def fail(header):
        raise AssertionError("werkzeug's parser called for plain pairs")

    monkeypatch.setattr(request_parsing, "parse_cookie", fail)
    assert parse_cookies("sid=eyJ.a-b_c.d; __Host-gatehouse=xyz;client_key=k") == {
        "sid": "eyJ.a-b_c.d", "__Host-gatehouse": "xyz", "client_key": "k"}


def test_cookies_are_parsed_when_first_asked(monkeypatch):
    cookies = WSGICookies("sid=abc; sid=def")
    assert cookies.parsed is None
    assert cookies.get("sid") == "abc" and cookies.get("other") is None and cookies.get("other", "d") == "d"
    monkeypatch.setattr(auth_edge, "parse_cookies", lambda header: pytest.fail("parsed twice"))
    assert cookies.get("sid") == "abc"


@pytest.mark.parametrize("path,expected", [
    ("/auth", "/auth"), ("/auth/x", "/auth/x"), ("//auth", "//auth"), ("", ""),
    ("http://127.0.0.1/auth", "/auth"), ("https://host:8443/auth/x", "/auth/x"), ("http://host", "/"),
    ("HTTP://host/auth", "/auth"),
    ("auth", "auth"), ("*", "*"), ("x-y://host/auth", "x-y://host/auth"), ("/a://b", "/a://b"),
])
def test_origin_path_of_an_absolute_form_target(path, expected):
    """uWSGI's HTTP socket leaves `GET http://host/auth` whole in PATH_INFO; gunicorn parses it."""
    assert request_parsing.origin_path(path) == expected


@pytest.mark.parametrize("environ,target", [
    ({"PATH_INFO": "http://127.0.0.1/auth/envoy/orders", "QUERY_STRING": "a=1"}, "/auth/envoy/orders?a=1"),
    ({"PATH_INFO": "/auth/envoy/orders"}, "/auth/envoy/orders"),
    ({"RAW_URI": "/auth/envoy/x%2Fy", "PATH_INFO": "/auth/envoy/x/y"}, "/auth/envoy/x%2Fy"),
])
def test_the_dialects_read_the_same_target_under_either_server(environ, target):
    """check_request's target is the origin form whichever server parsed the request line, so the
    Envoy dialect (which reads the path below /auth/envoy) judges what gunicorn would hand it."""
    assert request_parsing.check_request({"REQUEST_METHOD": "GET", **environ}).target == target
