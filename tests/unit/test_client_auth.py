"""private_key_jwt and secret authentication in core, with in-memory ports (no I/O).

Assertions are signed with PyJWT, not the library Gatehouse verifies with."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.core.issuer.client_auth import ClientAuthConfig, ClientAuthenticator, presented_credentials
from app.core.issuer.clients import ClientRegistry
from app.core.errors import DependencyUnavailable, InvalidClient, InvalidRequest, TooManyRequests
from app.core.tokens import ASSERTION_TYPE
from tests.support.fakes import MemoryClients, MemoryCredentials, MemoryKeyValue, MemoryRateLimiter, MemoryReplayGuard

ISSUER = "https://gh.test"
TOKEN_URL = "https://gh.test/oauth/token"


def now() -> int:
    """Wall-clock now: assertions are built when a test runs, not when the module is imported."""
    return int(time.time())

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk_of(key: Any, kid: str) -> dict[str, Any]:
    algo = pyjwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else pyjwt.algorithms.ECAlgorithm
    data = json.loads(algo.to_jwk(key.public_key()))
    data["kid"] = kid
    return data


def pem(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class World:
    def __init__(self) -> None:
        self.clock = time.time
        self.kv = MemoryKeyValue(self.clock)
        self.clients, self.secrets = MemoryClients(), MemoryCredentials()
        cfg = ClientAuthConfig(issuer=ISSUER, token_endpoint=TOKEN_URL, id_hash_salt=b"salt" * 5,
                               secret_hash_cost=4, clock_skew=10, max_assertion_lifetime=300,
                               failure_limit=3, failure_window=60)
        self.auth = ClientAuthenticator(cfg, self.clients, self.secrets, MemoryReplayGuard(self.kv),
                                        MemoryRateLimiter(self.kv, 60), clock=self.clock)
        self.registry = ClientRegistry(self.clients, self.secrets, b"salt" * 5, 4, clock=self.clock)
        self.jwt_client, _ = self.registry.register({
            "name": "jwt", "auth_method": "private_key_jwt",
            "jwks": {"keys": [jwk_of(RSA_KEY, "r1"), jwk_of(EC_KEY, "e1")]}})
        self.pem_client, _ = self.registry.register({
            "name": "pem", "auth_method": "private_key_jwt", "public_key": pem(RSA_KEY)})
        self.secret_client, self.secret = self.registry.register({"name": "s", "auth_method": "client_secret_basic"})

    def claims(self, **changes: Any) -> dict[str, Any]:
        cid = self.jwt_client.client_id
        claims = {"iss": cid, "sub": cid, "aud": TOKEN_URL, "iat": now(), "exp": now() + 60, "jti": "j-1"}
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def assertion(self, key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "r1", **changes: Any) -> str:
        headers = {"kid": kid} if kid else {}
        return pyjwt.encode(self.claims(**changes), key, algorithm=alg, headers=headers)

    def authenticate(self, assertion: str, client_id: str | None = None):
        form = {"client_assertion_type": [ASSERTION_TYPE], "client_assertion": [assertion]}
        if client_id:
            form["client_id"] = [client_id]
        return self.auth.authenticate(presented_credentials(None, form), "10.0.0.1")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


def hs256_with_public_key(world: World) -> str:
    header = {"alg": "HS256", "kid": "r1", "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(world.claims()).encode())}"
    public = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    sig = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize("alg,key,kid", [("RS256", RSA_KEY, "r1"), ("PS256", RSA_KEY, "r1"),
                                          ("ES256", EC_KEY, "e1")])
def test_pinned_algorithms_accepted(world: World, alg, key, kid) -> None:
    assert world.authenticate(world.assertion(key, alg, kid)).client_id == world.jwt_client.client_id


def test_issuer_as_audience_and_pem_client(world: World) -> None:
    assert world.authenticate(world.assertion(aud=[ISSUER, "x"]))
    cid = world.pem_client.client_id
    token = pyjwt.encode({"iss": cid, "sub": cid, "aud": TOKEN_URL, "exp": now() + 60, "jti": "p"},
                         RSA_KEY, algorithm="RS256")
    assert world.authenticate(token, client_id=cid).client_id == cid


BAD_ASSERTIONS = [
    ("expired", lambda w: w.assertion(exp=now() - 60), "signature or times"),
    ("not yet valid", lambda w: w.assertion(nbf=now() + 120), "signature or times"),
    ("iat in the future", lambda w: w.assertion(iat=now() + 120), "iat is in the future"),
    ("exp too far ahead", lambda w: w.assertion(exp=now() + 3600), "too far in the future"),
    ("no exp", lambda w: w.assertion(exp=None), "signature or times"),
    ("wrong aud", lambda w: w.assertion(aud="https://elsewhere"), "aud must be"),
    ("no aud", lambda w: w.assertion(aud=None), "aud must be"),
    ("wrong iss", lambda w: w.assertion(iss="someone"), "iss and sub"),
    ("wrong sub", lambda w: w.assertion(sub="someone"), "iss and sub"),
    ("unknown client", lambda w: w.assertion(iss="ghost", sub="ghost"), "authentication failed"),
    ("no jti", lambda w: w.assertion(jti=None), "needs a jti"),
    ("alg none", lambda w: unsigned({"alg": "none", "kid": "r1"}, w.claims()), "algorithm is not allowed"),
    ("HS256 with the public key", hs256_with_public_key, "algorithm is not allowed"),
    ("RS512 not pinned", lambda w: w.assertion(alg="RS512"), "algorithm is not allowed"),
    ("unknown kid", lambda w: w.assertion(kid="nope"), "no registered key"),
    ("kid not a string", lambda w: unsigned({"alg": "RS256", "kid": 5}, w.claims()), "kid must be a string"),
    ("kid as a path", lambda w: w.assertion(kid="../../etc/passwd"), "no registered key"),
    ("no kid with two keys", lambda w: w.assertion(kid=None), "must name one by kid"),
    ("EC alg on RSA key", lambda w: w.assertion(EC_KEY, "ES256", "r1"), "key type does not match"),
    ("signed by another key", lambda w: w.assertion(OTHER_RSA), "signature or times"),
    ("not a JWT", lambda w: "abc.def", "not a JWT"),
    ("garbage segments", lambda w: "a.b.c", "not a JWT"),
]


@pytest.mark.parametrize("case,make,message", BAD_ASSERTIONS, ids=[c[0] for c in BAD_ASSERTIONS])
def test_bad_assertions_refused(world: World, case, make, message) -> None:
    with pytest.raises(InvalidClient) as info:
        world.authenticate(make(world))
    assert message in info.value.description
    assert info.value.status == 401
    assert world.clients.get(world.jwt_client.client_id).last_login is None


def test_replayed_assertion(world: World) -> None:
    token = world.assertion()
    world.authenticate(token)
    with pytest.raises(InvalidClient, match="already used"):
        world.authenticate(token)


def test_failed_signature_does_not_burn_the_jti(world: World) -> None:
    with pytest.raises(InvalidClient):
        world.authenticate(world.assertion(OTHER_RSA, jti="shared"))
    assert world.authenticate(world.assertion(jti="shared"))


def test_client_id_must_match_assertion(world: World) -> None:
    with pytest.raises(InvalidClient, match="differs"):
        world.authenticate(world.assertion(), client_id=world.secret_client.client_id)


def test_secret_auth_and_rate_limit(world: World) -> None:
    cid = world.secret_client.client_id
    creds = presented_credentials(None, {"client_id": [cid], "client_secret": [world.secret]})
    assert world.auth.authenticate(creds, "1.1.1.1").client_id == cid
    bad = presented_credentials(None, {"client_id": [cid], "client_secret": ["wrong"]})
    for _ in range(3):
        with pytest.raises(InvalidClient):
            world.auth.authenticate(bad, "1.1.1.1")
    # The address that failed is slowed down, even with the right secret ...
    with pytest.raises(TooManyRequests) as info:
        world.auth.authenticate(creds, "1.1.1.1")
    assert int(info.value.headers["Retry-After"]) > 0
    # ... but the client is not locked out: the right secret from another address works.
    assert world.auth.authenticate(creds, "2.2.2.2").client_id == cid


class CountersDown(MemoryRateLimiter):
    def retry_after(self, limits: Any) -> int | None:
        raise DependencyUnavailable("Redis is unavailable")

    def hit(self, keys: Any) -> None:
        raise DependencyUnavailable("Redis is unavailable")


@pytest.mark.parametrize("revoking, secret, outcome", [
    (True, "right", "client"),  # a revocation only takes away: checked against the store, uncounted
    (True, "wrong", DependencyUnavailable),  # its failure cannot be counted: fail closed
    (False, "right", DependencyUnavailable),  # anything else needs the counters
    (True, "assertion", DependencyUnavailable),  # its replay guard is in Redis too
], ids=["revoking-right", "revoking-wrong", "issuing-right", "revoking-assertion"])
def test_failure_counters_out_of_reach(world: World, revoking, secret, outcome) -> None:
    world.auth.limiter = CountersDown(world.kv, 60)
    cid = world.secret_client.client_id
    creds = presented_credentials(None, {"client_id": [cid], "client_secret": [world.secret]}) if secret == "right" \
        else presented_credentials(None, {"client_id": [cid], "client_secret": ["wrong"]}) if secret == "wrong" \
        else presented_credentials(None, {"client_assertion_type": [ASSERTION_TYPE],
                                          "client_assertion": [world.assertion()]})
    if outcome == "client":
        assert world.auth.authenticate(creds, "1.1.1.1", revoking=revoking).client_id == cid
    else:
        with pytest.raises(outcome):
            world.auth.authenticate(creds, "1.1.1.1", revoking=revoking)


def test_secret_client_cannot_use_assertion_and_back(world: World) -> None:
    cid = world.jwt_client.client_id
    with pytest.raises(InvalidClient):
        world.auth.authenticate(presented_credentials(None, {"client_id": [cid], "client_secret": ["x"]}), "s")


MALFORMED = [
    ("basic not base64", "Basic !!!", {}, "not valid base64"),
    ("basic without colon", "Basic " + base64.b64encode(b"abc").decode(), {}, "client_id:client_secret"),
    ("basic and body", "Basic " + base64.b64encode(b"a:b").decode(), {"client_secret": ["b"], "client_id": ["a"]}, "exactly one"),
    ("body id differs from basic", "Basic " + base64.b64encode(b"a:b").decode(), {"client_id": ["z"]}, "differs"),
    ("secret without id", None, {"client_secret": ["b"]}, "client_id is required"),
    ("wrong assertion type", None, {"client_assertion_type": ["x"], "client_assertion": ["a.b.c"]}, "client_assertion_type must be"),
    ("assertion missing", None, {"client_assertion_type": [ASSERTION_TYPE]}, "client_assertion is missing"),
    ("duplicate secret", None, {"client_id": ["a"], "client_secret": ["b", "c"]}, "more than once"),
]


@pytest.mark.parametrize("case,header,form,message", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_credentials(case, header, form, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        presented_credentials(header, form)


def test_no_credentials_is_invalid_client() -> None:
    with pytest.raises(InvalidClient):
        presented_credentials("Bearer abc", {})


def test_basic_is_form_urldecoded() -> None:
    creds = presented_credentials("Basic " + base64.b64encode(b"my%3Aid:p%40ss+word").decode(), {})
    assert (creds.client_id, creds.secret) == ("my:id", "p@ss word")


def test_registration_key_material_checked(world: World) -> None:
    from app.core.errors import InvalidClientMetadata
    for meta, msg in [({}, "needs `jwks`"), ({"jwks": {"keys": [{"kty": "oct", "k": "x"}]}}, r"private members present \(k\)"), ({"jwks": {"keys": [{"kty": "oct"}]}}, "kty RSA or EC"),
                      ({"public_key": "garbage"}, "cannot be parsed"),
                      ({"jwks": {"keys": [jwk_of(RSA_KEY, "a"), jwk_of(EC_KEY, "a")]}}, "distinct string kid")]:
        with pytest.raises(InvalidClientMetadata, match=msg):
            world.registry.register({"name": "x", "auth_method": "private_key_jwt", **meta})
    assert len(world.clients.list()) == 3
