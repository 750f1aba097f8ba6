"""app/error_answers.py `classify`: the one reading of an exception, shared by the Flask error handlers
and the /auth edge — status, code, safe reason, the cause's type name, headers and log level."""
from __future__ import annotations

import logging

import pytest

from app.core.errors import (BadGateway, DependencyUnavailable, Forbidden, InvalidClient, InvalidToken,
                             TooManyRequests)
from app.error_answers import INVALID_TOKEN_CHALLENGE, classify


def caused(exc: Exception, cause: Exception) -> Exception:
    exc.__cause__ = cause
    return exc


# exception -> status, code, reason, cause, headers, level, unexpected
CASES = [
    ("dependency down", caused(DependencyUnavailable("redis is unavailable"), ConnectionError("refused")),
     (503, "temporarily_unavailable", "redis is unavailable", "ConnectionError", {"Retry-After": "5"},
      logging.WARNING, False)),
    ("invalid token gets its challenge", InvalidToken("token has been revoked"),
     (401, "invalid_token", "token has been revoked", None, {"WWW-Authenticate": INVALID_TOKEN_CHALLENGE},
      logging.INFO, False)),
    ("its own challenge kept", InvalidToken("x", headers={"WWW-Authenticate": "Basic"}),
     (401, "invalid_token", "x", None, {"WWW-Authenticate": "Basic"}, logging.INFO, False)),
    ("rate limit keeps Retry-After", TooManyRequests("slow down", 7),
     (429, "too_many_requests", "slow down", None, {"Retry-After": "7"}, logging.INFO, False)),
    ("forbidden", Forbidden("no"), (403, "forbidden", "no", None, {}, logging.INFO, False)),
    ("provider fault, a dependency", BadGateway("unusable"),
     (502, "bad_gateway", "unusable", None, {}, logging.WARNING, False)),
    ("oauth error", InvalidClient("unknown client"), (401, "invalid_client", "unknown client", None, {}, logging.INFO,
                                                      False)),
    ("a defect", KeyError("secret-looking detail"),
     (500, "internal", "unhandled error (see the errors log)", None, {}, logging.ERROR, True)),
]


@pytest.mark.parametrize("exc, want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify(exc, want):
    f = classify(exc)
    assert (f.status, f.code, f.reason, f.cause, f.headers, f.level, f.unexpected) == want
