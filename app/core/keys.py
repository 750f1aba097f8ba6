"""Signing keys: load PEM (RSA or EC P-256, optionally password-protected), export JWKS, rotate.

The active key signs; retired keys stay in the set for verification (and in the JWKS) until
the tokens they signed have expired. A key is found by its `kid` in a dict; a `kid` is never
used to build a path or URL.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk
from jose.backends.base import Key

from .errors import NoSigningKey

MIN_RSA_BITS = 2048


class KeyLoadError(ValueError):
    """A key file could not be used; the message is safe to print (no key material)."""


class KeyPasswordError(KeyLoadError):
    """The key's password is missing, wrong, or given for an unencrypted key."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    public: Key
    private: Key | None
    jwk: dict[str, Any]


def _algorithm_for(key: Any) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size < MIN_RSA_BITS:
            raise KeyLoadError(f"RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} required")
        return "RS256"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyLoadError(f"EC key on curve {key.curve.name}; only P-256 (ES256) is supported")
        return "ES256"
    raise KeyLoadError("unsupported key type; use RSA (RS256) or EC P-256 (ES256)")


def _public_jwk(public: Key, kid: str, alg: str) -> dict[str, Any]:
    data = {k: v for k, v in public.to_dict().items() if k in ("kty", "n", "e", "crv", "x", "y")}
    data.update({"kid": kid, "alg": alg, "use": "sig"})
    return data


def load_private_key(pem: bytes, password: bytes | None, kid: str) -> SigningKey:
    """Parse a PEM private key; the password decrypts it when it is encrypted."""
    encrypted = b"ENCRYPTED" in pem
    try:
        key = serialization.load_pem_private_key(pem, password=password or None)
    except TypeError as exc:
        # cryptography raises TypeError for "password given but key not encrypted" and back.
        raise KeyPasswordError("the key is encrypted and needs a password" if encrypted
                               else "a password was given but the key is not encrypted") from exc
    except ValueError as exc:
        if encrypted and password:
            raise KeyPasswordError("wrong password for the encrypted key") from exc
        raise KeyLoadError("not a readable PEM private key") from exc
    alg = _algorithm_for(key)
    private = jwk.construct(key, alg)
    public = private.public_key()
    return SigningKey(kid=kid, alg=alg, public=public, private=private,
                      jwk=_public_jwk(public, kid, alg))


def load_public_key(pem: bytes, kid: str) -> SigningKey:
    """Parse a PEM public key (or certificate-free SubjectPublicKeyInfo) kept for verification."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise KeyLoadError("not a readable PEM public key") from exc
    alg = _algorithm_for(key)
    public = jwk.construct(key, alg)
    return SigningKey(kid=kid, alg=alg, public=public, private=None,
                      jwk=_public_jwk(public, kid, alg))


def load_verification_key(pem: bytes, kid: str) -> SigningKey:
    """A retired key: accept its public PEM, or its private PEM (only the public half is kept)."""
    if b"PRIVATE KEY" in pem:
        full = load_private_key(pem, None, kid)
        return SigningKey(kid=kid, alg=full.alg, public=full.public, private=None, jwk=full.jwk)
    return load_public_key(pem, kid)


class KeySet:
    """The active signing key plus keys still valid for verification. Without an active key (the
    /auth group given only public keys) the set verifies and never signs: `active` raises."""

    def __init__(self, active: SigningKey | None, retired: tuple[SigningKey, ...] = ()) -> None:
        if active is not None and active.private is None:
            raise KeyLoadError("the active key needs its private half")
        if active is None and not retired:
            raise KeyLoadError("no key: a signing key, or at least one verification key")
        every = (*([active] if active else []), *retired)
        kids = [k.kid for k in every]
        if len(set(kids)) != len(kids):
            raise KeyLoadError("two keys share the same kid")
        self._active = active
        self._by_kid = {k.kid: k for k in every}
        self._jwks = {"keys": [k.jwk for k in every]}

    @property
    def can_sign(self) -> bool:
        return self._active is not None

    @property
    def active(self) -> SigningKey:
        if self._active is None:
            raise NoSigningKey("this process has only verification keys (the /auth group without "
                               "PRIVATE_RSA_KEY_FILE_PATH): it verifies tokens and never signs")
        return self._active

    @property
    def algorithms(self) -> list[str]:
        """The algorithms this set signs with, or (verifying only) verifies."""
        return [self._active.alg] if self._active else sorted({k.alg for k in self._by_kid.values()})

    def by_kid(self, kid: object) -> SigningKey | None:
        return self._by_kid.get(kid) if isinstance(kid, str) else None

    def jwks(self) -> dict[str, Any]:
        return self._jwks


def generate_private_key_pem(kind: str = "rsa", password: bytes | None = None) -> bytes:
    """A new PEM private key (`gatehouse keys generate`)."""
    key: Any
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise KeyLoadError(f"unknown key type {kind!r}; use rsa or ec")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def public_pem(private_pem: bytes, password: bytes | None = None) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=password)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
