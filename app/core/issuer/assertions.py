"""RFC 7523 client assertions (`private_key_jwt`): key selection and signature check.

Algorithms are pinned to RS256, PS256 and ES256 and must match the key's type, so `none`,
HS256-with-the-public-key and other confusions are refused before any signature math.
"""
from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jose import jwk
from jose.backends.cryptography_backend import CryptographyRSAKey
from jose.exceptions import JOSEError

from ..key_policy import material_problem, strength_problem

ASSERTION_ALGORITHMS = ("RS256", "PS256", "ES256")
_KEY_TYPE_FOR_ALG = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}
ASSERTION_CURVES = ("P-256",)


class PS256Key(CryptographyRSAKey):
    """RSASSA-PSS with SHA-256 (RFC 7518 §3.5), which python-jose does not ship; verify only."""

    def __init__(self, key: Any) -> None:
        super().__init__(key, "RS256")  # parses the RSA key; the padding is ours below

    def sign(self, msg: bytes) -> bytes:  # pragma: no cover - we never sign assertions
        raise NotImplementedError("PS256 keys here only verify")

    def verify(self, msg: bytes, sig: bytes) -> bool:
        try:
            self.prepared_key.verify(
                sig, msg,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size),
                hashes.SHA256(),
            )
            return True
        except InvalidSignature:
            return False


class KeySelectionError(ValueError):
    """No usable key for this assertion; the message is safe to show."""


def _jwk_candidates(jwks: dict[str, Any] | None, public_key: str | None) -> list[Any]:
    if jwks is not None:
        keys = jwks.get("keys")
        return [k for k in keys if isinstance(k, dict)] if isinstance(keys, list) else []
    return [public_key] if public_key else []


def select_key(alg: object, kid: object, jwks: dict[str, Any] | None, public_key: str | None) -> Any:
    """The client's key for this header, constructed for the pinned algorithm only."""
    if alg not in ASSERTION_ALGORITHMS:
        raise KeySelectionError("assertion algorithm is not allowed")
    assert isinstance(alg, str)
    candidates = _jwk_candidates(jwks, public_key)
    if kid is not None:
        if not isinstance(kid, str):
            raise KeySelectionError("kid must be a string")
        candidates = [c for c in candidates if isinstance(c, dict) and c.get("kid") == kid]
    elif len(candidates) > 1:
        raise KeySelectionError("the client has several keys; the assertion must name one by kid")
    if not candidates:
        raise KeySelectionError("no registered key matches the assertion's kid")
    material = candidates[0]
    if isinstance(material, dict) and material.get("kty") != _KEY_TYPE_FOR_ALG[alg]:
        raise KeySelectionError("key type does not match the assertion algorithm")
    try:
        if alg == "PS256":
            rsa_key = jwk.construct(material, "RS256")
            return PS256Key(rsa_key.prepared_key)
        key = jwk.construct(material, alg)
    except (JOSEError, ValueError, TypeError) as exc:
        raise KeySelectionError("the registered key cannot verify this algorithm") from exc
    # A key stored before the strength rules (or by a direct database write) is refused too.
    if (isinstance(material, dict) and material_problem(material, ASSERTION_CURVES)) \
            or strength_problem(key.prepared_key, ASSERTION_CURVES):
        raise KeySelectionError("the registered key is not acceptable (private or too weak)")
    return key


def validate_key_material(jwks: dict[str, Any] | None, public_key: str | None) -> str | None:
    """Registration check: every key parses for some pinned algorithm. Returns a problem or None."""
    candidates = _jwk_candidates(jwks, public_key)
    if not candidates:
        return "private_key_jwt needs `jwks` with at least one key, or `public_key`"
    if jwks is not None and len(candidates) != len(jwks.get("keys", [])):
        return "every entry of jwks.keys must be a JSON object"
    for material in candidates:
        # Public members only, RSA >= 2048 bits, EC on P-256: ES256 is the only EC algorithm
        # pinned for assertions (docs/machine-tokens.md "Getting a token"), so a key on another
        # curve could never sign one.
        problem = material_problem(material, curves=ASSERTION_CURVES)
        if problem:
            return problem
    if jwks is not None and len(candidates) > 1:
        kids = [c.get("kid") for c in candidates]
        if any(not isinstance(k, str) for k in kids) or len(set(kids)) != len(kids):
            return "with several keys, each needs a distinct string kid"
    return None
