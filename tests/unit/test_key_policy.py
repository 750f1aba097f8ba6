"""Which public keys Gatehouse accepts (app/core/key_policy.py), without I/O."""
from __future__ import annotations

import json

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.core.key_policy import PRIVATE_MEMBERS, material_problem

RSA_2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)


def pem(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_jwk(key) -> dict:
    algorithm = pyjwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else pyjwt.algorithms.ECAlgorithm
    return json.loads(algorithm.to_jwk(key.public_key()))


CASES = [
    ("RSA 2048 PEM", pem(RSA_2048), ("P-256",), None),
    ("RSA 2048 JWK", public_jwk(RSA_2048), ("P-256",), None),
    ("RSA 1024 PEM", pem(RSA_1024), ("P-256",), "at least 2048 bits (this one has 1024)"),
    ("P-256 for P-256 callers", pem(ec.generate_private_key(ec.SECP256R1())), ("P-256",), None),
    ("P-384 for P-256 callers", pem(ec.generate_private_key(ec.SECP384R1())), ("P-256",), "EC keys must be on P-256"),
    ("P-384 for any NIST curve", public_jwk(ec.generate_private_key(ec.SECP384R1())), ("P-256", "P-384", "P-521"), None),
    ("P-521 for any NIST curve", pem(ec.generate_private_key(ec.SECP521R1())), ("P-256", "P-384", "P-521"), None),
    ("secp256k1", pem(ec.generate_private_key(ec.SECP256K1())), ("P-256", "P-384", "P-521"), "EC keys must be on"),
    ("Ed25519 PEM", pem(ed25519.Ed25519PrivateKey.generate()), ("P-256",), "OKP keys (Ed25519) are not supported"),
    ("Ed25519 JWK", {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}, ("P-256",),
     "OKP keys (Ed25519) are not supported"),
    ("private PEM", RSA_2048.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode(), ("P-256",), "not a private key"),
    ("garbage PEM", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", ("P-256",), "cannot be parsed"),
    ("no kty", {"n": "x", "e": "AQAB"}, ("P-256",), "kty RSA or EC"),
    ("a number", 5, ("P-256",), "a JWK object or a PEM string"),
]


@pytest.mark.parametrize("name,material,curves,problem", CASES, ids=[c[0] for c in CASES])
def test_material(name, material, curves, problem):
    found = material_problem(material, curves)
    assert (found is None) if problem is None else (found is not None and problem in found), found


@pytest.mark.parametrize("member", PRIVATE_MEMBERS)
def test_every_private_member_alone_is_refused(member):
    found = material_problem({**public_jwk(RSA_2048), member: "AQAB"})
    assert found == f"keys must be public: private members present ({member})"
