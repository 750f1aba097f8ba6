"""The decision in core, in the order docs/auth.md "The decision" gives (no I/O)."""
from __future__ import annotations

import pytest

from app.core.principal import ANONYMOUS, Principal
from app.core.check.policy.decision import decide
from app.core.check.policy.routes import RouteTable

TABLE = RouteTable.load({
    "/pub": {"GET": {"authorization": {"expression": "true", "public": True}}},
    "/pub-closed": {"GET": {"authorization": {"expression": "groups.x", "public": True}}},
    "/priv": {"GET": {"authorization": {"expression": "groups.a"}}},
    "/prod/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "tracks"}},
    "/scoped": {"GET": {"authorization": {"expression": "true"}, "scopes": ["read", "write"]}},
    "/claim": {"GET": {"authorization": {"expression": "true"}, "headers": {"plan": "x-plan"}}},
})
USER_A = Principal("user", "u", groups=frozenset({"a"}), scopes=frozenset({"https://api.example.com/tracks"}))
USER_B = Principal("user", "u", groups=frozenset({"b"}), scopes=frozenset({"tracks", "read"}))

CASES = [
    ("/pub", ANONYMOUS, 204), ("/pub-closed", ANONYMOUS, 401), ("/pub-closed", USER_A, 403),
    ("/priv", ANONYMOUS, 401), ("/priv", USER_A, 204), ("/priv", USER_B, 403), ("/none", USER_A, 401),
    ("/prod/1", ANONYMOUS, 401), ("/prod/1", USER_B, 204), ("/scoped", USER_B, 403), ("/scoped", ANONYMOUS, 401),
]


@pytest.mark.parametrize("uri,principal,status", CASES)
def test_decision_table(uri, principal, status):
    assert decide(TABLE, "GET", uri, principal, is_backoffice=False).status == status


def test_scope_prefix_for_uri_shaped_scopes():
    assert decide(TABLE, "GET", "/prod/1", USER_A, is_backoffice=False).status == 403
    assert decide(TABLE, "GET", "/prod/1", USER_A, is_backoffice=False,
                  scope_prefix="https://api.example.com/").status == 204


@pytest.mark.parametrize("value,forwarded", [("gold", True), ("a\r\nx: y", False), ("x" * 5000, False), ("\x00", False)])
def test_claim_headers_are_safe_and_bounded(value, forwarded):
    p = Principal("user", "u", claims={"plan": value})
    d = decide(TABLE, "GET", "/claim", p, is_backoffice=False, header_limit=4096)
    assert d.status == 204 and ("x-plan" in d.headers) is forwarded
