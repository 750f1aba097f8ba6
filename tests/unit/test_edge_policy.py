"""The path table and the identity header encoding of issue 12, at the core (no I/O)."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, strategies as st

from app.core.principal import Principal
from app.core.check.policy.decision import (ALLOW, FORBIDDEN, REFUSED_HEADER, HeaderNames, decide, decode_value, encode_value, identity_headers)
from app.core.check.policy.routes import BadPath, RouteTable, normalise

TABLE = RouteTable.load({
    "/": {"ALL": {"authorization": {"expression": "true", "public": True}}},
    "/admin": {"GET": {"authorization": {"expression": "groups.admin"}}},
    "/Reports/": {"GET": {"authorization": {"expression": "true", "public": True}}},
})

REFUSED = [
    ("/public#/../admin", "raw #"), ("/admin;x=1", ";"), ("/admin%3bx=1", "encoded ;"), ("/admin.", "trailing dot"),
    ("/admin%20", "trailing space"), ("/%20admin", "leading space"), ("/admin%09", "tab"),
    ("/%2561dmin", "double encoding"), ("/%EF%BD%81dmin", "full-width, encoded"), ("/ａdmin", "full-width, raw"),
    ("/caf\xe9", "raw non-ASCII"), ("/a b", "raw space"), ("/a/../b", "dot segments"), ("/a/%2E%2E/b", "encoded dots"),
    ("/a%2F..%2Fb", "encoded slashes and dots"), ("/a\\b", "backslash"), ("/a%5cb", "encoded backslash"),
    ("/a%00", "NUL"), ("/%FF", "not UTF-8"), ("/e%CC%81", "not NFKC"), ("http://h/admin", "absolute-form"),
    ("*", "asterisk-form"), ("", "empty"), ("/" + "a" * 5000, "too long"),
]
NORMALISED = [
    ("/admin?x=1#", None), ("/a//b", "/a/b"), ("/a%2Fb", "/a/b"), ("/caf%C3%A9", "/café"), ("/100%25", "/100%"),
    ("/v1.2/x", "/v1.2/x"), ("/a?" + "q" * 9000, "/a"), ("/a?x=%23", "/a"), ("/ADMIN", "/ADMIN"),
]


@pytest.mark.parametrize("uri,why", REFUSED, ids=[r[1] for r in REFUSED])
def test_refused_spellings(uri, why):
    with pytest.raises(BadPath):
        normalise(uri)


@pytest.mark.parametrize("uri,path", [n for n in NORMALISED if n[1]], ids=[n[0][:20] for n in NORMALISED if n[1]])
def test_normalised_spellings(uri, path):
    assert normalise(uri) == path


def test_raw_hash_anywhere_is_refused():
    with pytest.raises(BadPath):
        normalise("/admin?x=1#")


@pytest.mark.parametrize("path,ambiguous", [
    ("/ADMIN", True), ("/Admin/x", True), ("/admin", False), ("/public", False), ("/PUBLIC", False),
    ("/reports/1", True), ("/Reports/1", False), ("/REPORTS/1", True)])
def test_a_case_that_picks_another_route_is_refused(path, ambiguous):
    rule = TABLE.match(path, "GET")
    assert (TABLE.other_reading(path, "GET", rule) is not None) is ambiguous


# Issue 22 item 5: `/` is open to group users, `/admin` needs group admin; bob is in users.
USERS_TABLE = RouteTable.load({
    "/": {"ALL": {"authorization": {"expression": "groups.users"}}},
    "/admin": {"ALL": {"authorization": {"expression": "groups.admin"}}},
})
BOB = Principal("user", id="bob", groups=frozenset({"users"}))
LOOK_ALIKES = [
    ("/adm%C4%B1n", "dotless ı: upper case reads /ADMIN"),
    ("/ADM%C4%B0N", "dotted İ: lower case reads i + U+0307, without the mark /admin"),
    ("/adm%C4%B0n", "dotted İ in lower case"),
    ("/adm%c4%b0n", "dotted İ, lower-case hex"),
    ("/admi%CC%87n", "combining dot above"),
    ("/adm%C3%AF%CC%88n", "ï and a second combining diaeresis"),
    ("/%C3%A1dmin", "precomposed á: accent-insensitive reads /admin"),
    ("/adm%C2%ADin", "soft hyphen (invisible format character)"),
    ("/adm%E2%80%8Bin", "zero-width space"),
    ("/admi%CD%8Fn", "combining grapheme joiner"),
    ("/ADM%C4%B1N", "dotless ı among upper case"),
    ("/adm%C4%B1n/x", "below the look-alike"),
    ("/admin%3Fx=1", "encoded ?"),
    ("/admin%3fx=1", "encoded ?, lower-case hex"),
    ("/admin%23frag", "encoded #"),
    ("/x/..%CC%81/admin", "a dot segment without its mark"),
]


@pytest.mark.parametrize("uri,why", LOOK_ALIKES, ids=[row[1] for row in LOOK_ALIKES])
def test_a_look_alike_of_a_protected_route_is_refused(uri, why):
    decision = decide(USERS_TABLE, "GET", uri, BOB, is_backoffice=False)
    assert (decision.status, decision.code) == (FORBIDDEN, "path_refused"), decision.reason
    assert decision.headers[REFUSED_HEADER] == "request-target"


JUDGED = [
    ("/admin", FORBIDDEN, "the route itself"), ("/other", ALLOW, "another path"),
    ("/Other/x", ALLOW, "a case that picks the same route"), ("/caf%C3%A9", ALLOW, "an accent that picks the same route"),
    ("/%D0%B0dmin", ALLOW, "Cyrillic а: every server reads another path"),
    ("/a%C4%B1", ALLOW, "dotless ı that picks the same route"), ("/admin?x=%3F%23", FORBIDDEN, "escapes in the query"),
]


@pytest.mark.parametrize("uri,status,why", JUDGED, ids=[row[2] for row in JUDGED])
def test_a_spelling_every_reading_agrees_on_is_judged(uri, status, why):
    decision = decide(USERS_TABLE, "GET", uri, BOB, is_backoffice=False)
    assert decision.status == status and decision.code != "path_refused", decision.reason


# Paths of the table that are not ASCII lower case: each reading folds the table's paths too.
UNICODE_TABLE = RouteTable.load({
    "/": {"ALL": {"authorization": {"expression": "true", "public": True}}},
    "/straße/": {"GET": {"authorization": {"expression": "groups.admin"}}},
    "/café": {"GET": {"authorization": {"expression": "groups.admin"}}},
    "/Kunden/": {"GET": {"authorization": {"expression": "groups.admin"}}},
    "/ıi": {"GET": {"authorization": {"expression": "groups.admin"}}},
})


@pytest.mark.parametrize("path,reading", [
    ("/STRASSE/1", "case-insensitive"), ("/strasse/1", "case-insensitive"), ("/cafe", "accent-insensitive"),
    ("/CAFE", "case- and accent-insensitive"), ("/kunden/1", "case-insensitive"), ("/KUNDEN/1", "case-insensitive"),
    ("/II", "upper-case"), ("/ii", "upper-case"), ("/straße/1", None), ("/café", None), ("/Kunden/1", None),
    ("/ıi", None), ("/other", None), ("/Other", None)])
def test_each_reading_of_the_table_paths_is_compared(path, reading):
    rule = UNICODE_TABLE.match(path, "GET")
    assert UNICODE_TABLE.other_reading(path, "GET", rule) == reading


def test_refusals_are_flagged_for_nginx():
    anonymous = Principal("anonymous")
    for uri in ("/ADMIN", "/admin;x", "/a/../b"):
        decision = decide(TABLE, "GET", uri, anonymous, is_backoffice=False)
        assert decision.status == FORBIDDEN and decision.headers[REFUSED_HEADER] == "request-target"
    assert REFUSED_HEADER not in decide(TABLE, "GET", "/admin", anonymous, is_backoffice=False).headers


@pytest.mark.parametrize("value,wire", [
    ("admin", "admin"), ("rock & roll", "rock & roll"), ("Администраторы", "UTF-8''%D0%90%D0%B4%D0%BC%D0%B8%D0%BD%D0%B8%D1%81%D1%82%D1%80%D0%B0%D1%82%D0%BE%D1%80%D1%8B"),
    ("管理员", "UTF-8''%E7%AE%A1%E7%90%86%E5%91%98"), ("✓ gold", "UTF-8''%E2%9C%93%20gold"), ("é", "UTF-8''%C3%A9"),
    ("UTF-8''x", "UTF-8''UTF-8%27%27x"), ("utf-8''x", "UTF-8''utf-8%27%27x")])
def test_header_values_keep_ascii_and_encode_the_rest(value, wire):
    assert encode_value(value) == wire
    assert decode_value(wire) == value


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=50))
def test_encoding_is_lossless_and_latin1_safe(value):
    wire = encode_value(value)
    wire.encode("ascii")
    assert decode_value(wire) == value


def test_identity_headers_encode_each_group_and_keep_json_valid():
    principal = Principal("user", id="Jürgen", groups=frozenset({"Администраторы", "ops", "a,b"}),
                          claims={"name": "開発者"}, client_type="✓")
    headers = identity_headers(principal, None, HeaderNames(), ("name",), 4096)
    assert headers["mia-groups"] == "UTF-8''%D0%90%D0%B4%D0%BC%D0%B8%D0%BD%D0%B8%D1%81%D1%82%D1%80%D0%B0%D1%82%D0%BE%D1%80%D1%8B,ops"
    assert headers["mia-userid"] == "UTF-8''J%C3%BCrgen"
    assert headers["mia-clienttype"] == "UTF-8''%E2%9C%93"
    assert json.loads(headers["mia-userproperties"]) == {"name": "開発者"}
    assert all(v.isascii() for v in headers.values())


def test_an_encoded_value_over_the_limit_is_left_out():
    principal = Principal("user", id="я" * 20)  # 20 characters, 120 bytes encoded
    assert "mia-userid" not in identity_headers(principal, None, HeaderNames(), (), 100)
    assert decide(RouteTable.load({"/": {"ALL": {"authorization": {"expression": "true"}}}}), "GET", "/x",
                  principal, is_backoffice=False).status == ALLOW


def test_the_demo_upstream_shows_encoded_values_decoded():
    from gatehouse_dev.demo_upstream import page, shown
    wire = ",".join(sorted(encode_value(g) for g in ("Администраторы", "admin")))
    assert shown(wire) == "Администраторы,admin"
    assert shown('{"a":"b,c"}') == '{"a":"b,c"}'
    assert "Администраторы,admin" in page("/", {"miausergroups": wire})


HEADERED = RouteTable.load({
    "/a": {"GET": {"authorization": {"expression": "true"}, "headers": {"plan": "x-plan"}}},
    "/b": {"GET": {"authorization": {"expression": "true"}}}})


def test_identity_headers_remembered_per_principal_are_answered_afresh():
    """A cached principal's headers are worked out once per rule and header settings; each answer
    is a copy (the check adds to it), another rule, setting or principal gets its own."""
    principal = Principal("user", id="u1", groups=frozenset({"ops"}), claims={"plan": "gold", "name": "N"})
    rule_a, rule_b = HEADERED.match("/a", "GET"), HEADERED.match("/b", "GET")
    first = identity_headers(principal, rule_a, HeaderNames(), ("name",), 4096)
    first["Authorization"] = "Bearer x"
    again = identity_headers(principal, rule_a, HeaderNames(), ("name",), 4096)
    assert "Authorization" not in again and again["x-plan"] == "gold"
    assert again["mia-userproperties"] == '{"name":"N"}'
    assert "x-plan" not in identity_headers(principal, rule_b, HeaderNames(), ("name",), 4096)
    assert identity_headers(principal, rule_a, HeaderNames(), (), 4096)["mia-userproperties"] == "{}"
    assert "mia-userid" not in identity_headers(principal, rule_a, HeaderNames(user_id="x-user"), (), 4096)
    typed = replace(principal, client_type="A")
    assert typed.answered == {}
    assert identity_headers(typed, rule_a, HeaderNames(), (), 4096)["mia-clienttype"] == "A"
    reloaded = RouteTable.load({"/a": {"GET": {"authorization": {"expression": "true"},
                                               "headers": {"name": "x-name"}}}}).match("/a", "GET")
    assert identity_headers(principal, reloaded, HeaderNames(), (), 4096)["x-name"] == "N"


def test_identity_headers_remembered_are_bounded():
    principal = Principal("user", id="u1")
    for limit in range(1000, 1200):
        identity_headers(principal, None, HeaderNames(), (), limit)
    assert 0 < len(principal.answered) <= 64


@pytest.mark.parametrize("bearer,left_out", [
    (None, set()),  # 40 KB of identity values: within the answer's 48 KB
    ("t" * 12_000, {"mia-groups"}),  # beside a 12 KB token the largest value goes
    ("t" * 32_768, {"mia-groups", "mia-userproperties"}),  # beside a 32 KB token both large ones go
])
def test_the_answer_stays_within_its_budget_largest_values_left_out_first(bearer, left_out):
    from app.core.check.policy.decision import ANSWER_HEADER_BYTES
    principal = Principal("user", id="u1", groups=frozenset(f"g{i:03d}-" + "x" * 95 for i in range(200)),
                          claims={"name": "n" * 19_000}, bearer=bearer)
    headers = identity_headers(principal, None, HeaderNames(), ("name",), 65536)
    assert {"mia-groups", "mia-userproperties", "mia-userid"} - set(headers) == left_out
    assert headers["mia-userid"] == "u1" and headers["mia-allowed"] == "1"
    authorization = len("Authorization: Bearer \r\n") + len(bearer) if bearer else 0
    assert sum(len(k) + len(v) + 4 for k, v in headers.items()) + authorization <= ANSWER_HEADER_BYTES
