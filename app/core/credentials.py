"""Client ids and secrets: generation, HMAC of the id, bcrypt of the secret."""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

import bcrypt

# bcrypt reads at most 72 bytes; a longer "secret" is never one we issued.
BCRYPT_MAX_BYTES = 72


def sha256_hex(value: str) -> str:
    """SHA-256 of a high-entropy value (API key, state, refresh token) as stored or looked up."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_client_id() -> str:
    return secrets.token_hex(16)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def client_id_hash(salt: bytes, client_id: str) -> str:
    """HMAC-SHA256 of the client id under CLIENT_ID_HASH_SALT (key of `credentials`)."""
    return hmac.new(salt, client_id.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_secret(secret: str, cost: int) -> str:
    return bcrypt.hashpw(secret.encode("utf-8"), bcrypt.gensalt(rounds=cost)).decode("ascii")


@functools.lru_cache(maxsize=8)
def _dummy_hash(cost: int) -> bytes:
    return bcrypt.hashpw(b"gatehouse-dummy-secret", bcrypt.gensalt(rounds=cost))


def check_secret(secret: str, secret_hash: str | None, cost: int) -> bool:
    """Constant work whether or not the client exists (bcrypt against a dummy hash)."""
    raw = secret.encode("utf-8")
    too_long = len(raw) > BCRYPT_MAX_BYTES
    target = _dummy_hash(cost) if secret_hash is None else secret_hash.encode("ascii")
    try:
        ok = bcrypt.checkpw(raw[:BCRYPT_MAX_BYTES], target)
    except ValueError:  # a corrupt stored hash: refuse, never crash
        return False
    return ok and secret_hash is not None and not too_long
