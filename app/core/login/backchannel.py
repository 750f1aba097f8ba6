"""OpenID Connect Back-Channel Logout 1.0: the checks of a provider's logout token, shared by
the BFF (/bff/backchannel-logout) and the browser login (/web-login/backchannel-logout).

§2.6: the token is a JWT signed by the provider (its keys, pinned algorithms), with our client
id in `aud`, `iat`, `exp`, a `jti` used once, the back-channel `events` member, `sid` and/or
`sub`, and no `nonce`. Any flaw is a 400 and ends nothing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from .. import tokens
from ..errors import BadRequest, InvalidToken
from ..external_tokens import ExternalVerifier
from ..ports import ReplayGuard
from .sessions import digest

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_LOGOUT_TOKEN = 8192


@dataclass(frozen=True)
class LogoutRequest:
    """Whose sessions a valid logout token ends: the provider's session `sid`, else `sub`."""

    issuer: str
    sub: str | None
    sid: str | None
    audiences: tuple[str, ...] = ()  # our client ids the token is for


def verify_logout_token(logout_token: str | None, verifiers: Callable[[str], Sequence[ExternalVerifier]],
                        replay: ReplayGuard, replay_kind: str,
                        clock: Callable[[], float] = time.time) -> LogoutRequest:
    """The checked logout token (BadRequest on any flaw). `verifiers(iss)`: the ID-token
    verifiers of the providers with that issuer (one per client of ours there); the token must
    verify with one of them (signature, iss, aud = that client's id, exp). It is spent only
    once every check has passed."""
    if not logout_token or len(logout_token) > MAX_LOGOUT_TOKEN or logout_token.count(".") != 2:
        raise BadRequest("logout_token is missing or malformed")
    try:
        claims = tokens.unverified_claims(logout_token)
        issuer = claims.get("iss")
        candidates = [v for v in verifiers(issuer) if v.knows(issuer)] if isinstance(issuer, str) else []
        if not candidates:
            raise InvalidToken("the logout token is from another issuer")
        header = tokens.unverified_header(logout_token)
        verified, refusal = None, None
        for verifier in candidates:
            try:
                verified = verifier.verify(logout_token, header, claims).claims
                break
            except InvalidToken as exc:
                refusal = refusal or exc
        if verified is None:
            assert refusal is not None
            raise refusal
    except InvalidToken as exc:
        raise BadRequest(f"invalid logout_token: {exc.description}") from exc
    events = verified.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise BadRequest("invalid logout_token: events lacks the back-channel logout event")
    if "nonce" in verified:
        raise BadRequest("invalid logout_token: it must not contain a nonce")
    if not isinstance(verified.get("iat"), int) or not isinstance(verified.get("jti"), str):
        raise BadRequest("invalid logout_token: iat and jti are required")
    sub = verified.get("sub") if isinstance(verified.get("sub"), str) and verified["sub"] else None
    sid = verified.get("sid") if isinstance(verified.get("sid"), str) and verified["sid"] else None
    if not sub and not sid:
        raise BadRequest("invalid logout_token: it names neither sub nor sid")
    exp = verified.get("exp")
    ttl = max(60, (int(exp) if isinstance(exp, (int, float)) else 0) - int(clock()) + 60)
    if not replay.first_use(replay_kind, digest(f"{verified['iss']}|{verified['jti']}"), ttl):
        raise BadRequest("invalid logout_token: it was already used")
    aud = verified.get("aud")
    audiences = (aud,) if isinstance(aud, str) else tuple(a for a in aud if isinstance(a, str)) \
        if isinstance(aud, list) else ()
    return LogoutRequest(str(verified["iss"]), sub, sid, audiences)
