"""Fixtures of the unit tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def base(key_files: dict[str, Path]) -> dict[str, str]:
    """The least environment load_settings accepts (the stores are never contacted)."""
    return {
        "MONGODB_URL": "mongodb://127.0.0.1:1/db",
        "REDIS_HOSTS": "127.0.0.1:6379",
        "PRIVATE_RSA_KEY_FILE_PATH": str(key_files["rsa"]),
        "PRIVATE_RSA_KEY_ID": "k1",
        "CLIENT_ID_HASH_SALT": "0123456789abcdef-salt",
        "MIA_JWT_ISSUER": "https://issuer.test",
    }
