"""The /auth answer memo (app/answer_memo.py): an allow remembered per worker is never served past
what would have refused it. Each row warms the memo with the same check twice, changes one thing
(a revocation, a logout, a block, a client cut-off, a route reload, a key rotation, an expiry, a
revocation mirror reloaded from MongoDB), and the next check must answer as a fresh worker
would. Then the key: a request that differs in any input the decision reads gets its own answer.
Real Redis, the MongoDB-wire server and the dev OIDC provider, as in test_revocation_final."""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest
from jose import jwt

from app import create_app
from app.settings import load_settings
from tests.conftest import ADMIN
from tests.integration.test_revocation_final import BOUND, ROUTES, Site, eventually, forget_feed
from tests.support.issuer import LocalIssuer
from tests.support.servers import within


def memo_of(site: Site) -> Any:
    return site.app.wsgi_app.memo  # type: ignore[attr-defined]


def warm(site: Site, check: Callable[[], int], status: int = 204) -> None:
    """The same check twice: the second is answered from the memo."""
    assert check() == status
    hits = memo_of(site).hits
    assert check() == status
    assert memo_of(site).hits == hits + 1, "the second check was answered from the memo"


@pytest.fixture
def site(env, tmp_path, dev_provider, own_servers):
    r, m = own_servers
    return Site({**env, "REDIS_URL": r.url, "MONGODB_URL": f"{m.url}/memo"}, tmp_path, dev_provider.url)


def user_id(session: dict[str, str]) -> str:
    return str(jwt.get_unverified_claims(session["accessToken"])["sub"])


def cookie_auth(site: Site, session: dict[str, str], uri: str = "/x") -> int:
    return int(site.c.get("/auth", headers={"X-Original-URI": uri, "X-Original-Method": "GET",
                                            "Cookie": f"sid={session['accessToken']}"}).status_code)


# -- one change each: (name, what it needs, the change) -----------------------------------------------

def revoke(site: Site, reg: dict[str, str], token: str) -> None:
    assert site.revoke(reg, token) == 200


def disable(site: Site, reg: dict[str, str], token: str) -> None:
    assert site.c.delete(f"/clients/{reg['client_id']}", headers=ADMIN).status_code == 200


def revoke_tokens(site: Site, reg: dict[str, str], token: str) -> None:
    assert site.c.post(f"/clients/{reg['client_id']}/revoke-tokens", headers=ADMIN).status_code == 200


def revoke_after_the_feed_expired(site: Site, reg: dict[str, str], token: str) -> None:
    """The mirror learns it by reloading from MongoDB, not from the feed."""
    forget_feed(site)
    assert site.revoke(reg, token) == 200


def routes_reloaded(site: Site, reg: dict[str, str], token: str) -> None:
    path = site.env["ROUTES_FILE"]
    with open(path, "w") as f:  # a different size: the watcher sees it on its next look
        json.dump({**ROUTES, "/orders": {"GET": {"authorization": {"expression": "permissions.nobody_has_this"}}}}, f)


CLIENT_CHANGES = [("revocation", revoke, 401), ("client disabled", disable, 401),
                  ("client's tokens revoked", revoke_tokens, 401),
                  ("mirror reloaded after the feed expired", revoke_after_the_feed_expired, 401),
                  ("route file reloaded", routes_reloaded, 403)]


@pytest.mark.parametrize("name,change,status", CLIENT_CHANGES, ids=[c[0] for c in CLIENT_CHANGES])
def test_a_change_ends_a_remembered_client_allow(site, name, change, status):
    reg = site.client()
    token = site.token(reg)
    warm(site, lambda: site.auth(token))
    change(site, reg, token)
    assert eventually(lambda: site.auth(token) == status), name
    assert site.worker().auth(token) == status, "a fresh worker answers the same"


def test_a_revocation_after_redis_restarted_empty_ends_a_remembered_allow(site, own_servers):
    """Redis loses everything while an allow is kept: the worker's mirror reloads from MongoDB, and
    a revocation made after the restart ends the kept allow as it ends the check without it."""
    r, _ = own_servers
    reg = site.client()
    token, other = site.token(reg), site.token(reg)
    warm(site, lambda: site.auth(token))
    r.stop()
    r.start()  # a fresh redis-server on the same port: nothing survived
    assert eventually(lambda: site.auth(other) == 204, 5)
    assert site.revoke(reg, token) == 200
    assert eventually(lambda: site.auth(token) == 401), "refused after the restart"
    assert site.auth(other) == 204


def logout(site: Site, session: dict[str, str]) -> None:
    assert site.logout(session) in (200, 302)


def block(site: Site, session: dict[str, str]) -> None:
    r = site.c.patch(f"/users/{user_id(session)}", json={"blocked": True}, headers=ADMIN)
    assert r.status_code == 200 and r.json["blocked"] is True, r.json


SESSION_CHANGES = [("logout, bearer", logout, "bearer"), ("logout, cookie", logout, "cookie"),
                   ("user blocked, bearer", block, "bearer"), ("user blocked, cookie", block, "cookie")]


@pytest.mark.parametrize("name,change,carrier", SESSION_CHANGES, ids=[c[0] for c in SESSION_CHANGES])
def test_a_change_ends_a_remembered_session_allow(site, name, change, carrier):
    session = site.login("alice")
    def check() -> int:
        return site.auth(session["accessToken"], "/x") if carrier == "bearer" else cookie_auth(site, session)
    warm(site, check)
    change(site, session)
    assert eventually(lambda: check() == 401), name


# -- external issuer: key rotation and expiry ----------------------------------------------------

@pytest.fixture
def issuer():
    server = LocalIssuer()
    yield server
    server.close()


def external_site(env, tmp_path, issuer: LocalIssuer, **extra: str) -> Site:
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps({"/tracks/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "tracks"}}}))
    cfg = tmp_path / "gatehouse.json"
    cfg.write_text(json.dumps({"issuers": [{"issuer": issuer.url, "audience": ["gloo-api"], "leeway": 0,
                                            "discovery_url": f"{issuer.url}/.well-known/openid-configuration"}]}))
    site = object.__new__(Site)
    site.env = {**env, "GATEHOUSE_CONFIG": str(cfg), "ROUTES_FILE": str(routes), "OUTBOUND_TIMEOUT_SECONDS": "2",
                "JWKS_REFETCH_COOLDOWN_SECONDS": "0", **extra}
    site.app = create_app(load_settings(site.env))
    site.c = site.app.test_client(use_cookies=False)
    return site


def test_a_key_rotation_ends_a_remembered_allow_within_the_cache_bounds(env, tmp_path, issuer):
    """The issuer withdraws the key a token was signed with: refused once the worker's key cache
    and verified-token cache (1 s each here) have let go of it, memo or not."""
    site = external_site(env, tmp_path, issuer, JWKS_CACHE_SECONDS="1", VERIFIED_TOKEN_CACHE_SECONDS="1")
    old = issuer.token(scope="tracks")
    warm(site, lambda: site.auth(old, "/tracks/1"))
    issuer.rotate()
    assert within(lambda: site.auth(old, "/tracks/1") == 401, 8)
    assert site.auth(issuer.token(scope="tracks"), "/tracks/1") == 204


def test_an_expired_token_is_not_answered_from_the_memo(env, tmp_path, issuer):
    site = external_site(env, tmp_path, issuer)
    token = issuer.token(scope="tracks", exp=int(time.time()) + 2)
    warm(site, lambda: site.auth(token, "/tracks/1"))
    assert within(lambda: site.auth(token, "/tracks/1") == 401, 6)


# -- the key: every input the decision reads --------------------------------------------------------

KEY_ROUTES = {"/orders": {"GET": {"authorization": {"expression": "permissions.orders"},
                                  "backofficeAuthorization": {"expression": "false"}},
                          "DELETE": {"authorization": {"expression": "false"}}},
              "/reports": {"GET": {"authorization": {"expression": "permissions.reports"}}}}


def key_check(c, token: str, **changes: str) -> tuple[int, dict[str, str]]:
    headers = {"X-Original-URI": "/orders", "X-Original-Method": "GET", "Authorization": f"Bearer {token}",
               **changes}
    r = c.get("/auth", headers={k: v for k, v in headers.items() if v})
    return r.status_code, {k: v for k, v in r.headers.items() if k != "X-Request-Id"}


@pytest.fixture
def key_site(env, tmp_path, dev_provider, own_servers):
    r, m = own_servers
    site = Site({**env, "REDIS_URL": r.url, "MONGODB_URL": f"{m.url}/memokey"}, tmp_path, dev_provider.url)
    (tmp_path / "auth.json").write_text(json.dumps(KEY_ROUTES))
    return site.worker()


VARIANTS = [("another target", {"X-Original-URI": "/reports"}), ("another method", {"X-Original-Method": "DELETE"}),
            ("the back-office listener", {"isbackoffice": "true"}), ("the target's case", {"X-Original-URI": "/ORDERS"}),
            ("a query", {"X-Original-URI": "/orders?x=1"}), ("no credential", {"Authorization": ""}),
            ("another token", {"Authorization": "Bearer other"}), ("a session cookie too", {"Cookie": "sid=x.y.z"})]


@pytest.mark.parametrize("name,changes", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_a_request_differing_in_one_input_gets_its_own_answer(key_site, name, changes):
    reg = key_site.client()
    token = key_site.token(reg)
    warm(key_site, lambda: key_check(key_site.c, token)[0])
    if changes.get("Authorization") == "Bearer other":  # another client: allowed, its own identity
        changes = {"Authorization": f"Bearer {key_site.token(key_site.client('other'))}"}
    fresh = key_site.worker()
    assert key_check(key_site.c, token, **changes) == key_check(fresh.c, token, **changes), name


# -- what is never kept, and the bound -----------------------------------------------------------------

def test_refusals_passed_over_credentials_and_large_requests_are_never_kept(key_site):
    reg = key_site.client()
    token = key_site.token(reg)
    memo = memo_of(key_site)
    cases = [({"X-Original-URI": "/reports"}, 403),  # a refusal
             ({"Cookie": "sid=a.b.c"}, 204),  # a session cookie refused, then the bearer token allowed
             ({"Cookie": "pad=" + "x" * 17000}, 204)]  # past the memo's 16 KB
    for changes, status in cases:
        for _ in range(3):
            assert key_check(key_site.c, token, **changes)[0] == status
        assert len(memo) == 0, changes
    assert key_check(key_site.c, token)[0] == 204 and len(memo) == 1


@pytest.mark.parametrize("size", ["0", "2"])
def test_the_memo_is_bounded_and_can_be_turned_off(key_site, size):
    site = object.__new__(Site)  # another worker of the same deployment, with its own memo size
    site.env = {**key_site.env, "ANSWER_MEMO_SIZE": size}
    site.app = create_app(load_settings(site.env))
    site.c = site.app.test_client(use_cookies=False)
    tokens = [site.token(site.client(f"c{i}")) for i in range(4)]
    for token in tokens * 2:
        assert key_check(site.c, token)[0] == 204
    memo = site.app.wsgi_app.memo  # type: ignore[attr-defined]
    assert memo is None if size == "0" else len(memo) == 2


# -- a BFF session: its worker's copy, then the memo on top of it -----------------------------------------

def test_a_logout_ends_a_remembered_bff_allow_at_another_worker(stores, tmp_path, dev_provider):
    from tests.integration.test_bff import COOKIE, auth, bff_config, login, same_origin
    from tests.integration.test_bff_session_end_across_workers import Deployment, eventually as settles

    deployment = Deployment(stores, tmp_path, bff_config(dev_provider.url))
    a, b = deployment.worker(), deployment.worker()
    sid, _ = login(a, "alice")
    memo = b.application.wsgi_app.memo
    assert auth(b, sid).status_code == 204 and auth(b, sid).status_code == 204
    hits = memo.hits
    assert auth(b, sid).status_code == 204 and memo.hits == hits + 1, "answered from b's memo"
    assert a.post("/bff/logout", headers={"Cookie": f"{COOKIE}={sid}", **same_origin()}).status_code == 200
    assert settles(lambda: auth(b, sid).status_code == 401)


@pytest.fixture
def stores(env, own_servers):
    r, m = own_servers
    return {**env, "REDIS_URL": r.url, "MONGODB_URL": f"{m.url}/memobff"}


# -- a source asked again once, whatever it answers ------------------------------------------------------

@pytest.mark.parametrize("later", ["inactive", "down"])
def test_a_lapsed_basis_asks_its_provider_once(env, tmp_path, later):
    """A kept allow of an opaque token whose introspection answer has lapsed: the revisit asks the
    endpoint, and the check that follows takes that answer (a refusal, or the 503 of an endpoint
    that is down) instead of asking it a second time."""
    from tests.integration.test_introspection_source import check, make
    from tests.support.introspection_server import IntrospectionServer

    peer = IntrospectionServer()
    try:
        peer.tokens["short"] = {"active": True, "sub": "u", "scope": "tracks", "exp": int(time.time()) + 2}
        c = make(env, tmp_path, peer)
        memo = c.application.wsgi_app.memo
        assert check(c, "/tracks/1", "short") == 204 and check(c, "/tracks/1", "short") == 204
        assert memo.hits == 1 and peer.calls == 1
        if later == "inactive":
            peer.tokens["short"] = {"active": False}
        else:
            peer.up = False
        time.sleep(2.2)  # the token's exp (2 s) passes: the cached introspection answer with it
        assert check(c, "/tracks/1", "short") == (401 if later == "inactive" else 503)
        assert peer.calls == 2, "the endpoint was asked once for this check"
    finally:
        peer.close()
