"""Which public keys Gatehouse accepts from others: registered clients' keys and external
issuers' JWKS. Public members only (RFC 7517 §9.3, RFC 7518 §6), and no weak key: RSA of at
least 2048 bits (NIST SP 800-57 / RFC 8725 §3.5), EC on the NIST curves only."""
from __future__ import annotations

from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jose import jwk
from jose.exceptions import JOSEError

# Members that only a private (or symmetric) JWK carries: RFC 7518 §6.2.2, §6.3.2 and §6.4.1.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MIN_RSA_BITS = 2048
# Curves of RFC 7518 §3.4 (ES256/ES384/ES512). Ed25519 (OKP, RFC 8037) is not supported by
# python-jose, so an OKP key is refused with its own message rather than accepted unusable.
EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
ALL_CURVES = tuple(EC_CURVES.values())


def private_members(material: dict[str, Any]) -> list[str]:
    return [m for m in PRIVATE_MEMBERS if m in material]


def is_private_pem(text: str) -> bool:
    """A PEM of a private key (PKCS#1, PKCS#8, SEC1, encrypted, OpenSSH)."""
    return "PRIVATE KEY" in text


def material_problem(material: Any, curves: tuple[str, ...] = ALL_CURVES) -> str | None:
    """Why this JWK (a dict) or PEM (a string) is not an acceptable public key; None if it is.
    `curves`: the EC curves the caller can use. The message names the rule, never the key."""
    if isinstance(material, dict):
        found = private_members(material)
        if found:
            return "keys must be public: private members present (" + ", ".join(found) + ")"
        kty = material.get("kty")
        if kty == "OKP":
            return "OKP keys (Ed25519) are not supported; use RSA or EC"
        if kty not in ("RSA", "EC"):
            return "keys must have kty RSA or EC"
        alg = "ES256" if kty == "EC" else "RS256"
        candidates = [alg]
    elif isinstance(material, str):
        if is_private_pem(material):
            return "public_key must be a public key PEM, not a private key"
        candidates = ["RS256", "ES256"]
    else:
        return "a key must be a JWK object or a PEM string"
    key = None
    for alg in candidates:
        try:
            key = jwk.construct(material, alg).prepared_key
            break
        except (JOSEError, ValueError, TypeError, IndexError, KeyError):
            continue
    if key is None:
        if isinstance(material, str) and _is_edwards_pem(material):
            return "OKP keys (Ed25519) are not supported; use RSA or EC"
        return "a registered key cannot be parsed"
    return strength_problem(key, curves)


def _is_edwards_pem(text: str) -> bool:
    try:
        key = serialization.load_pem_public_key(text.encode("utf-8"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey))


def strength_problem(key: Any, curves: tuple[str, ...] = ALL_CURVES) -> str | None:
    """A parsed (cryptography) key: public, and strong enough."""
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return "keys must be public: a private key was given"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return f"RSA keys must have at least {MIN_RSA_BITS} bits (this one has {key.key_size})"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = EC_CURVES.get(key.curve.name)
        if name not in curves:
            return "EC keys must be on " + ", ".join(curves)
        return None
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return "OKP keys (Ed25519) are not supported; use RSA or EC"
    return "keys must be RSA or EC"
