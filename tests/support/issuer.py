"""A local OIDC-style issuer for tests: serves discovery and a JWKS over HTTP, signs tokens,
rotates keys, and counts how often its keys were fetched."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.support.peers import json_server


class LocalIssuer:
    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.jwks_fetches = 0
        self.requests = 0
        self.up = True
        self.hang = 0.0  # seconds the JWKS answer is held back (a hanging endpoint)
        self.jwks_missing = False  # the JWKS answers 404 while discovery still answers
        self.unpublished: Any = None  # signs every token whose kid is not in `keys` (made once: slow)
        self.server, self.url = json_server(self.answer)
        self.rotate()

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self.requests += 1
        if not self.up:
            return 503, {}
        if path == "/.well-known/openid-configuration":
            return 200, {"issuer": self.url, "jwks_uri": f"{self.url}/jwks"}
        self.jwks_fetches += 1
        if self.jwks_missing:
            return 404, {}
        if self.hang:
            time.sleep(self.hang)  # a hung JWKS endpoint: the peer's delay is what the test is about
        return 200, self.jwks()

    def rotate(self, keep_old: bool = False) -> str:
        kid = uuid.uuid4().hex[:8]
        if not keep_old:
            self.keys.clear()
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            if isinstance(key, ec.EllipticCurvePrivateKey):  # any curve, as a careless issuer might publish
                data = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
                data.update(kid=kid, use="sig")
            elif isinstance(key, ed25519.Ed25519PrivateKey):
                data = json.loads(pyjwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
                data.update(kid=kid, alg="EdDSA", use="sig")
            else:
                data = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
                data.update(kid=kid, alg="RS256", use="sig")
            out.append(data)
        return {"keys": out}

    def token(self, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": "user-1", "aud": "gloo-api", "iat": now, "exp": now + 300, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        kid = kid or self.kid
        if kid not in self.keys and self.unpublished is None:
            self.unpublished = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = self.keys.get(kid) or self.unpublished  # a made-up kid: one key the JWKS never lists
        return pyjwt.encode(body, key, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()


def padding_for(make: Callable[[dict[str, Any]], str], size: int) -> dict[str, Any]:
    """An `entitlements` claim that makes `make(claims)` (a signed token) `size` characters long,
    give or take 4: how production-sized tokens (16 KB, 32 KB) are made from any issuer."""
    pad = 0
    for _ in range(4):
        token = make({"entitlements": "e" * pad} if pad else {})
        pad += (size - len(token)) * 3 // 4
    return {"entitlements": "e" * pad}
