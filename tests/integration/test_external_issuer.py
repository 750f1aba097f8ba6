"""Bearer JWTs from an external issuer whose keys are served over HTTP (docs/auth.md "External issuers")."""
from __future__ import annotations

import json
import time

import pytest

from app import create_app
from app.settings import ConfigError, load_settings
from tests.support.issuer import LocalIssuer
from tests.support.servers import within

ROUTES = {
    "/petstore/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "petstore"}},
    "/tracks/": {"ALL": {"authorization": {"expression": "true"}, "apiProduct": "tracks",
                         "headers": {"usagePlan": "x-usage-plan"}}},
    "/admin": {"GET": {"authorization": {"expression": "groups.admin"}}},
}


@pytest.fixture
def issuer():
    server = LocalIssuer()
    yield server
    server.close()


def make_app(env, tmp_path, issuer, cooldown="30", **issuer_cfg):
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    cfg = tmp_path / "gatehouse.yaml"
    entry = {"issuer": issuer.url, "audience": ["gloo-api"], "discovery_url": f"{issuer.url}/.well-known/openid-configuration",
             "claims": {"groups": ["roles"]}, **issuer_cfg}
    entry = {k: v for k, v in entry.items() if v is not None}
    cfg.write_text(json.dumps({"issuers": [entry]}))
    return create_app(load_settings({**env, "GATEHOUSE_CONFIG": str(cfg), "ROUTES_FILE": str(routes),
                                     "JWKS_REFETCH_COOLDOWN_SECONDS": cooldown, "OUTBOUND_TIMEOUT_SECONDS": "2"}))


def check(c, uri, token):
    r = c.get("/auth", headers={"X-Original-URI": uri, "X-Original-Method": "GET", "Authorization": f"Bearer {token}"})
    assert r.data == b""
    return r


def test_products_and_claims(env, tmp_path, issuer):
    c = make_app(env, tmp_path, issuer).test_client()
    tracks = issuer.token(scope="tracks", usagePlan="free", roles=["admin"])
    r = check(c, "/tracks/1", tracks)
    assert r.status_code == 204 and r.headers["mia-userid"] == "user-1" and r.headers["x-usage-plan"] == "free"
    assert r.headers["mia-groups"] == "admin"
    assert check(c, "/petstore/1", tracks).status_code == 403
    both = issuer.token(scp=["petstore", "tracks"])
    assert check(c, "/petstore/1", both).status_code == 204
    assert check(c, "/admin", tracks).status_code == 204 and check(c, "/admin", both).status_code == 403
    assert issuer.jwks_fetches == 1, "keys are cached"


def test_key_rotation_picked_up_without_restart(env, tmp_path, issuer):
    c = make_app(env, tmp_path, issuer, cooldown="1").test_client()
    assert check(c, "/tracks/1", issuer.token(scope="tracks")).status_code == 204
    issuer.rotate()
    # The new kid is fetched once the refetch cooldown (1 s) has passed, not before.
    assert within(lambda: check(c, "/tracks/1", issuer.token(scope="tracks")).status_code == 204, 5)
    assert issuer.jwks_fetches == 2


def test_unknown_kids_refetch_at_most_once_per_cooldown(env, tmp_path, issuer):
    c = make_app(env, tmp_path, issuer).test_client()
    assert check(c, "/tracks/1", issuer.token(scope="tracks")).status_code == 204
    for i in range(5):
        assert check(c, "/tracks/1", issuer.token(kid=f"nope{i}", scope="tracks")).status_code == 401
    assert issuer.jwks_fetches == 1


BAD = [
    ("wrong audience", {"aud": "other-api"}), ("expired", {"exp": int(time.time()) - 600, "iat": 1}),
    # times that depend on now are made when the row runs (a long suite reaches it minutes after import)
    ("not yet valid", {"nbf": lambda: int(time.time()) + 600}), ("no exp", {"exp": None}),
]


@pytest.mark.parametrize("name,claims", BAD, ids=[b[0] for b in BAD])
def test_bad_external_tokens(env, tmp_path, issuer, name, claims):
    c = make_app(env, tmp_path, issuer).test_client()
    made = {k: v() if callable(v) else v for k, v in claims.items()}
    r = check(c, "/tracks/1", issuer.token(scope="tracks", **made))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_algorithm_pinned_per_issuer(env, tmp_path, issuer):
    import jwt as pyjwt
    c = make_app(env, tmp_path, issuer).test_client()
    hs = pyjwt.encode({"iss": issuer.url, "sub": "x", "aud": "gloo-api", "exp": int(time.time()) + 60, "scope": "tracks"},
                      "secret" * 6, algorithm="HS256", headers={"kid": issuer.kid})
    assert check(c, "/tracks/1", hs).status_code == 401
    c2 = make_app(env, tmp_path, issuer, algorithms=["ES256"]).test_client()
    assert check(c2, "/tracks/1", issuer.token(scope="tracks")).status_code == 401, "RS256 not allowed for it"


@pytest.mark.parametrize("fault, calls", [("down", 1), ("jwks 404", 2)])
def test_issuer_down_fails_closed_until_keys_are_cached(env, tmp_path, issuer, fault, calls):
    """The issuer down (503 everywhere), or its discovery answering and its JWKS a 404: with no
    key cached, ten checks fail closed on one attempt (discovery, then the JWKS), not ten."""
    c = make_app(env, tmp_path, issuer, cooldown="1").test_client()
    if fault == "down":
        issuer.up = False
    else:
        issuer.jwks_missing = True
    for _ in range(10):  # fail closed, and one fetch per cooldown however many checks come
        assert check(c, "/tracks/1", issuer.token(scope="tracks")).status_code == 503
    assert issuer.requests == calls
    issuer.up, issuer.jwks_missing = True, False
    # Once the cooldown (1 s) has passed, the next check fetches the keys again.
    assert within(lambda: check(c, "/tracks/1", issuer.token(scope="tracks")).status_code == 204, 5)
    issuer.up = False
    assert check(c, "/tracks/1", issuer.token(scope="tracks")).status_code == 204, "cached keys keep working"


BAD_CONFIG = [
    ({"audience": None}, "audience"), ({"algorithms": ["none"]}, "algorithms"),
    ({"jwks_uri": "http://x/jwks"}, "exactly one of jwks_uri, discovery_url, jwks"),
    ({"leeway": 9999}, "leeway"),
]


@pytest.mark.parametrize("change,where", BAD_CONFIG)
def test_bad_issuer_config(env, tmp_path, change, where):
    entry = {"issuer": "https://idp", "audience": ["a"], "discovery_url": "https://idp/.well-known/openid-configuration", **change}
    entry = {k: v for k, v in entry.items() if v is not None}
    cfg = tmp_path / "g.json"
    cfg.write_text(json.dumps({"issuers": [entry]}))
    with pytest.raises(ConfigError) as info:
        load_settings({**env, "GATEHOUSE_CONFIG": str(cfg)})
    assert any("issuers" in p and where in p for p in info.value.problems), info.value.problems


def test_inline_jwks_without_any_fetch(env, tmp_path, issuer):
    inline = issuer.jwks()
    c = make_app(env, tmp_path, issuer, discovery_url=None, jwks=inline).test_client()
    issuer.up = False
    assert check(c, "/tracks/1", issuer.token(scope="tracks")).status_code == 204
    assert issuer.jwks_fetches == 0


def jwks_uri_app(env, tmp_path, issuer, **settings: str):
    """An app trusting `issuer` by its jwks_uri (no discovery), with the given settings."""
    routes = tmp_path / "auth.json"
    routes.write_text(json.dumps(ROUTES))
    cfg = tmp_path / "gatehouse.yaml"
    cfg.write_text(json.dumps({"issuers": [{"issuer": issuer.url, "audience": ["gloo-api"],
                                            "jwks_uri": f"{issuer.url}/jwks"}]}))
    return create_app(load_settings({**env, "GATEHOUSE_CONFIG": str(cfg), "ROUTES_FILE": str(routes), **settings}))


def test_a_hanging_jwks_endpoint_stalls_no_check_that_does_not_need_it(env, tmp_path, issuer):
    """The issuer's JWKS hangs 30 s (longer than the 2 s outbound timeout) while its keys are due
    for a refetch: checks with a cached kid answer at once; a made-up kid waits for the one fetch
    under way (at most the timeout); after that fetch failed, made-up kids answer at once."""
    from concurrent.futures import ThreadPoolExecutor
    app = jwks_uri_app(env, tmp_path, issuer, JWKS_CACHE_SECONDS="1", JWKS_REFETCH_COOLDOWN_SECONDS="1",
                       OUTBOUND_TIMEOUT_SECONDS="2")
    assert check(app.test_client(), "/tracks/1", issuer.token(scope="tracks")).status_code == 204
    time.sleep(1.1)  # the cached keys are stale: the next check starts a refetch
    issuer.hang = 30

    def timed(token: str) -> tuple[int, float]:
        started = time.monotonic()
        status = check(app.test_client(), "/tracks/1", token).status_code
        return status, time.monotonic() - started
    try:
        with ThreadPoolExecutor(9) as pool:
            first = timed(issuer.token(scope="tracks"))  # starts the refetch in the background
            made_up = pool.submit(timed, issuer.token(kid="made-up", scope="tracks"))
            # Gives the made-up kid's check time to reach its wait on the fetch under way (a wait
            # inside the verifier, nothing to poll); the assertions below hold in either order.
            time.sleep(0.2)
            cached = list(pool.map(timed, [issuer.token(scope="tracks") for _ in range(16)]))
            waited = made_up.result()
        assert first[0] == 204 and first[1] < 0.5
        assert all(status == 204 for status, _ in cached) and max(t for _, t in cached) < 0.5, cached
        assert waited[0] == 401 and 1.0 < waited[1] < 2.8, waited
        assert issuer.jwks_fetches == 2
        again = timed(issuer.token(kid="made-up-2", scope="tracks"))
        assert again[0] == 401 and again[1] < 0.5, "the failed fetch is not retried before the cooldown"
    finally:
        issuer.hang = 0


def test_checks_waiting_for_another_checks_fetch_take_a_slot_of_the_outbound_budget(env, tmp_path, issuer):
    """OUTBOUND_CALLS_PER_WORKER 2 and a JWKS that hangs: a made-up kid fetches (one slot), a second
    waits for that fetch (the other slot), a third is refused at once with 503 instead of waiting
    too, and a cached kid is answered meanwhile: a flood of made-up kids cannot hold every thread."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.support.servers import wait_until
    app = jwks_uri_app(env, tmp_path, issuer, JWKS_REFETCH_COOLDOWN_SECONDS="1", OUTBOUND_TIMEOUT_SECONDS="3",
                       OUTBOUND_CALLS_PER_WORKER="2")

    def timed(token: str) -> tuple[int, float]:
        started = time.monotonic()
        status = check(app.test_client(), "/tracks/1", token).status_code
        return status, time.monotonic() - started
    assert timed(issuer.token(scope="tracks"))[0] == 204
    time.sleep(1.1)  # past the cooldown: an unknown kid fetches again
    issuer.hang = 30
    try:
        with ThreadPoolExecutor(2) as pool:
            fetching = pool.submit(timed, issuer.token(kid="made-up-1", scope="tracks"))
            wait_until(lambda: issuer.jwks_fetches == 2, "the refetch under way", 5)
            waiting = pool.submit(timed, issuer.token(kid="made-up-2", scope="tracks"))
            time.sleep(0.2)  # the second check reaches its wait (inside the verifier, nothing to poll)
            refused = timed(issuer.token(kid="made-up-3", scope="tracks"))
            cached = timed(issuer.token(scope="tracks"))
            assert refused[0] == 503 and refused[1] < 0.5, refused
            assert cached[0] == 204 and cached[1] < 0.5, cached
            assert not fetching.done() and not waiting.done()
            assert fetching.result()[0] == 401 and waiting.result()[0] == 401  # the fetch failed; keys kept
        assert issuer.jwks_fetches == 2
    finally:
        issuer.hang = 0
