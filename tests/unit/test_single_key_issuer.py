"""ID tokens without `kid` (OIDC Core §10.1): the single key of the provider's JWKS is used;
with several keys the token is refused, and the JWKS is not fetched again per request."""
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.core.errors import InvalidToken
from app.core.external_tokens import ExternalIssuer, ExternalVerifier

KEYS = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


def jwk(key, kid):
    return {**json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": kid}


def verifier(keys):
    fetches = []

    def fetch(url):
        fetches.append(url)
        return {"keys": keys}
    cfg = ExternalIssuer(issuer="https://idp.test", audiences=("web",), jwks_uri="https://idp.test/jwks",
                         single_key_without_kid=True)
    return ExternalVerifier((cfg,), fetch, refetch_cooldown=30), fetches


def token(key):
    now = int(time.time())
    claims = {"iss": "https://idp.test", "aud": "web", "sub": "u", "iat": now, "exp": now + 60}
    return pyjwt.encode(claims, key, algorithm="RS256"), claims


def test_single_key_without_kid_is_used_and_cached():
    v, fetches = verifier([jwk(KEYS[0], "a")])
    for _ in range(3):
        t, claims = token(KEYS[0])
        assert v.verify(t, {"alg": "RS256"}, claims).id == "u"
    assert len(fetches) == 1


def test_several_keys_without_kid_refused_without_refetching_each_time():
    v, fetches = verifier([jwk(KEYS[0], "a"), jwk(KEYS[1], "b")])
    for _ in range(5):
        t, claims = token(KEYS[0])
        with pytest.raises(InvalidToken):
            v.verify(t, {"alg": "RS256"}, claims)
    assert len(fetches) == 1
