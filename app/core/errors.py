"""Domain errors. Each carries its HTTP status and a safe wire form; app/errors.py renders them."""
from __future__ import annotations


class GatehouseError(Exception):
    """Base of every error Gatehouse answers to a caller."""

    status: int = 400
    error: str = "bad_request"

    def __init__(self, description: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(GatehouseError):
    status, error = 400, "bad_request"


class Unauthenticated(GatehouseError):
    status, error = 401, "unauthenticated"


class Forbidden(GatehouseError):
    status, error = 403, "forbidden"


class NotFound(GatehouseError):
    status, error = 404, "not_found"


class Conflict(GatehouseError):
    """The record exists already (a duplicate user, say); nothing was written."""

    status, error = 409, "conflict"


class TooManyRequests(GatehouseError):
    status, error = 429, "too_many_requests"

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__(description, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


# What a 503 tells its caller to wait before trying again: a store that went away is usually back
# (a restart, a failover) within seconds (docs/operations.md "Bounds under faults").
RETRY_AFTER_SECONDS = 5


class NoSigningKey(GatehouseError):
    """A process holding only public keys (the /auth group) was asked to sign: the request belongs
    to the other process group (RFC 9110 §15.5.20: this server cannot answer it)."""

    status, error = 421, "misdirected_request"


class DependencyUnavailable(GatehouseError):
    """A store or peer needed for this answer is down or timed out: fail closed. A 503 says when
    to try again (`Retry-After`); its 502 subclasses do not."""

    status, error = 503, "temporarily_unavailable"

    def __init__(self, description: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description, headers=headers)
        if self.status == 503:
            self.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))


class OAuthError(GatehouseError):
    """RFC 6749 §5.2 error; rendered as {error, error_description} with no-store."""


class InvalidRequest(OAuthError):
    status, error = 400, "invalid_request"


class InvalidClient(OAuthError):
    status, error = 401, "invalid_client"


class UnauthorizedClient(OAuthError):
    status, error = 400, "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    status, error = 400, "unsupported_grant_type"


class InvalidScope(OAuthError):
    status, error = 400, "invalid_scope"


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: the bearer token is missing, malformed, expired or revoked."""

    status, error = 401, "invalid_token"


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2."""

    status, error = 400, "invalid_client_metadata"


class LoginFailed(GatehouseError):
    """A browser login that cannot complete (state, code, ID token); nothing was created."""

    status, error = 400, "login_failed"


class BadGateway(DependencyUnavailable):
    """The identity provider answered something unusable (not a refusal of the user)."""

    status, error = 502, "bad_gateway"


class TokenRefusedByProvider(BadGateway):
    """The identity provider answered 401/403 to the access token Gatehouse presented (its
    userinfo endpoint, say); a 502 unless the caller has another source for what it needed."""
