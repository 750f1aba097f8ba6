"""The `bff` source: the BFF session's `__Host-` cookie; its principal carries the access token
the answer passes upstream, and a state-changing call with it must be the app's own (CSRF)."""
from __future__ import annotations

from typing import Protocol

from ...principal import Principal
from ..policy.dialects import Headers
from .chain import Held, Presented


class BffSessions(Protocol):
    """The BFF sessions (core/login/bff.py): the principal of a BFF session id, and why a
    state-changing call carrying its cookie is not the app's own (CSRF), if it is not."""

    @property
    def cookie_name(self) -> str: ...

    def principal(self, sid: str) -> Principal:
        """The session's user, with its access token as `bearer`; InvalidToken when it has ended."""
        ...

    def held(self, sid: str) -> Held | None:
        """The worker's copy of the session, for an answer kept on its word."""
        ...

    def csrf_problem(self, headers: Headers) -> str | None: ...


class BffCookie:
    name = "bff"
    cookie = True

    def __init__(self, sessions: BffSessions) -> None:
        self.sessions = sessions
        self.cookie_name = sessions.cookie_name  # configuration: read once, not per check

    def match(self, request: Presented) -> str | None:
        cookies = request.cookies
        return (cookies.get(self.cookie_name) or None) if cookies is not None else None

    def verify(self, sid: str) -> Principal:
        return self.sessions.principal(sid)

    def held(self, sid: str) -> Held | None:
        return self.sessions.held(sid)

    def csrf_problem(self, headers: Headers) -> str | None:
        return self.sessions.csrf_problem(headers)
