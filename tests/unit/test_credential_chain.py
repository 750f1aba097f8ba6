"""The check's credential sources as a chain (core/check/sources): the authorizer walks the
sources the composition root registered, in CREDENTIAL_SOURCES' order, first match wins, a refused
cookie does not hide another credential; and a decision is built whole, never changed after."""
from __future__ import annotations

from typing import Any

import pytest

from app.core.check.authorizer import Authorizer, AuthorizerConfig, Refusal
from app.core.check.policy.decision import Decision, decide
from app.core.check.policy.routes import RouteTable
from app.core.check.sources.api_key import ApiKey
from app.core.check.sources.chain import SOURCES, ChainConfig, CredentialChain, Presented
from app.core.check.verifiers.api_keys import ApiKeys, api_key_hash
from app.core.check.verifiers.own import OwnTokens
from app.core.errors import InvalidToken
from app.core.principal import ANONYMOUS, Principal
from app.core.verified_cache import VerifiedCache
from app.services import credential_chain

TABLE = RouteTable.load({
    "/open": {"GET": {"authorization": {"expression": "true", "public": True}}},
    "/admin": {"ALL": {"authorization": {"expression": "groups.admin"}}},
    "/scoped": {"GET": {"authorization": {"expression": "true"}, "scopes": ["read"]}},
})
ALICE = Principal("user", "alice", groups=frozenset({"admin"}), source="fake")
ORIGINAL = {"X-Original-URI": "/admin", "X-Original-Method": "GET"}


class Fake:
    """A source answering from a table of credentials: a principal, None (names nobody) or an
    InvalidToken description (refused)."""

    def __init__(self, name: str, header: str, answers: dict[str, Any], cookie: bool = False) -> None:
        self.name, self.header, self.answers, self.cookie = name, header, answers, cookie
        self.asked: list[str] = []

    def match(self, request: Presented) -> str | None:
        return request.headers.get(self.header)

    def verify(self, credential: str) -> Principal | None:
        self.asked.append(credential)
        answer = self.answers[credential]
        if isinstance(answer, str):
            raise InvalidToken(answer)
        return answer  # type: ignore[no-any-return]


def authorizer(*sources: Any, **chain: Any) -> Authorizer:
    return Authorizer(TABLE, AuthorizerConfig(), CredentialChain(tuple(sources), **chain))


def test_the_first_source_that_names_the_caller_wins_and_the_rest_are_not_asked() -> None:
    first = Fake("a", "x-a", {"nobody": None})
    second = Fake("b", "x-b", {"k": ALICE})
    third = Fake("c", "x-c", {"k": Principal("user", "mallory")})
    check = authorizer(first, second, third)
    assert check.principal({"x-a": "nobody", "x-b": "k", "x-c": "k"}) == (ALICE, None)
    assert (first.asked, second.asked, third.asked) == (["nobody"], ["k"], [])


def test_a_refused_cookie_does_not_hide_a_later_credential_but_is_reported_without_one() -> None:
    stale = Fake("session", "x-cookie", {"old": "session has ended"}, cookie=True)
    bearer = Fake("jwt", "x-bearer", {"good": ALICE, "bad": "signature"})
    check = authorizer(stale, bearer)
    assert check.principal({"x-cookie": "old", "x-bearer": "good"}) == (ALICE, None)
    assert check.principal({"x-cookie": "old"}) == (ANONYMOUS, Refusal("session", "session has ended"))
    # a refused bearer credential ends the walk, and names its own source
    assert check.principal({"x-cookie": "old", "x-bearer": "bad"}) == (ANONYMOUS, Refusal("jwt", "signature"))


def test_a_refused_credential_that_is_not_a_cookie_ends_the_walk() -> None:
    first = Fake("introspection", "x-a", {"t": "token is not active"})
    second = Fake("userinfo", "x-b", {"t": ALICE})
    assert authorizer(first, second).principal({"x-a": "t", "x-b": "t"}) == \
        (ANONYMOUS, Refusal("introspection", "token is not active"))
    assert second.asked == []


def test_a_bearer_token_no_source_takes_is_reported() -> None:
    assert authorizer().principal({"Authorization": "Bearer opaque"}) == \
        (ANONYMOUS, Refusal("bearer", "no configured source knows this token"))


def test_api_keys_add_a_client_type_to_whoever_the_caller_is() -> None:
    keys = ApiKey(ApiKeys({api_key_hash("key-a"): "A"}))
    check = authorizer(Fake("jwt", "x-b", {"k": ALICE}), client_type=keys)
    allowed = check.check({**ORIGINAL, "x-b": "k", "client-key": "key-a"})
    assert allowed.status == 204 and allowed.principal.client_type == "A" and allowed.headers["mia-clienttype"] == "A"
    alone = check.check({"X-Original-URI": "/open", "X-Original-Method": "GET"}, {"client_key": "key-a"})
    assert alone.status == 204 and alone.source == "api-key" and alone.headers["mia-clienttype"] == "A"
    # the header wins over the cookie, even when its key is unknown
    assert keys.match(Presented({"secret": "nope"}, {"client_key": "key-a"})) == "nope"


class Sessions:
    """A login-session port that knows no token (the chain's registration is under test)."""

    def verify_signature(self, token: str, unverified: dict[str, Any] | None = None) -> dict[str, Any]:
        raise InvalidToken("not a Gatehouse session token")

    def ensure_open(self, verified: dict[str, Any]) -> None: ...

    def is_session_token(self, claims: dict[str, Any]) -> bool:
        return False


class Bff:
    cookie_name = "__Host-gatehouse"

    def principal(self, sid: str) -> Principal:
        return ALICE

    def csrf_problem(self, headers: Any) -> str | None:
        return None


def walked(order: tuple[str, ...], trust: bool = True) -> list[str]:
    chain = credential_chain(ChainConfig(order, trust_user_headers=trust), VerifiedCache(0),
                             OwnTokens("https://issuer.test", lambda token: {}), sessions=Sessions(), bff=Bff())
    return [source.name for source in chain.sources]


@pytest.mark.parametrize("order", [SOURCES, ("jwt", "session"), ("trusted-headers", "bff", "jwt"), ("jwt",)],
                         ids=lambda o: ",".join(o))
def test_the_composition_root_registers_the_configured_sources_in_order(order: tuple[str, ...]) -> None:
    # no introspection endpoint nor userinfo resolver configured: those sources have nothing to ask
    assert walked(order) == [name for name in order if name not in ("introspection", "userinfo")]


def test_trusted_headers_are_walked_only_when_trusted() -> None:
    assert walked(SOURCES, trust=False) == ["session", "bff", "jwt"]


def test_a_session_jwt_is_one_source_for_its_cookie_and_its_bearer_token() -> None:
    chain = credential_chain(ChainConfig(), VerifiedCache(0), OwnTokens("https://issuer.test", lambda token: {}),
                             sessions=Sessions())
    session, jwt = chain.sources[0], chain.sources[1]
    assert session.name == "session" and session in jwt.issuers  # type: ignore[attr-defined]


def test_the_chain_is_built_once_not_per_check() -> None:
    check = authorizer(Fake("jwt", "x-b", {"k": ALICE}))
    sources = check.sources
    check.check({**ORIGINAL, "x-b": "k"})
    assert check.sources is sources


# -- decisions are built, never changed ---------------------------------------------------

def decisions() -> list[Decision]:
    bff = Principal("user", "alice", groups=frozenset({"admin"}), source="bff", bearer="at-1")
    check = authorizer(Fake("bff", "x-b", {"k": bff}), Fake("jwt", "x-j", {"bad": "signature"}))
    return [
        decide(TABLE, "GET", "/admin", ALICE, is_backoffice=False),  # allow
        decide(TABLE, "GET", "/admin", ANONYMOUS, is_backoffice=False, challenge="Bearer"),  # 401
        decide(TABLE, "GET", "/nowhere", ALICE, is_backoffice=False),  # no route
        decide(TABLE, "GET", "/scoped", ALICE, is_backoffice=False),  # missing scope
        decide(TABLE, "GET", "/%2e%2e/admin", ALICE, is_backoffice=False),  # path refused
        check.check({**ORIGINAL, "x-b": "k"}),  # the BFF's Authorization on an allow
        check.check({**ORIGINAL, "x-j": "bad"}),  # a refusal's WWW-Authenticate
        check.check({**ORIGINAL, "X-Original-Method": "BREW"}),  # a bad request
        Decision(403, "made by hand", ANONYMOUS, headers={"mia-allowed": "0"}),
    ]


@pytest.mark.parametrize("decision", decisions(), ids=lambda d: f"{d.status}-{d.code}")
def test_a_decision_s_headers_cannot_be_changed_after_it_is_built(decision: Decision) -> None:
    with pytest.raises(TypeError):
        decision.headers["X-Changed"] = "1"  # type: ignore[index]
    with pytest.raises(AttributeError):
        decision.headers.update({"X-Changed": "1"})  # type: ignore[attr-defined]


def test_what_the_check_adds_is_in_the_decision_it_built() -> None:
    allow, refused = decisions()[5:7]
    assert allow.status == 204 and allow.headers["Authorization"] == "Bearer at-1"
    assert refused.status == 401 and refused.headers["WWW-Authenticate"] == 'Bearer realm="gatehouse", error="invalid_token"'
    assert refused.reason == "jwt credential refused: signature"


def test_a_decision_keeps_its_own_copy_of_the_headers_it_was_given() -> None:
    given = {"mia-allowed": "0"}
    decision = Decision(403, "made by hand", ANONYMOUS, headers=given)
    given["mia-allowed"] = "1"
    assert decision.headers == {"mia-allowed": "0"}
