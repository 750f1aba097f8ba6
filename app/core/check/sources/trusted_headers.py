"""The `trusted-headers` source (TRUST_MIA_USER_HEADERS=true only): the identity an upstream
Gatehouse or gateway set in `miauserid`, `miausergroups` and `miauserproperties`."""
from __future__ import annotations

import json

from ...principal import Principal
from ..policy.decision import decode_value
from ..policy.dialects import Headers
from .chain import Presented


class TrustedHeaders:
    name = "trusted-headers"
    cookie = False
    # A new principal from the headers each time: no answer is kept on its word (app/answer_memo.py).
    repeatable = False

    def match(self, request: Presented) -> Headers | None:
        return request.headers if request.headers.get("miauserid") else None

    def verify(self, headers: Headers) -> Principal:
        try:
            properties = json.loads(headers.get("miauserproperties") or "{}")
        except ValueError:
            properties = {}
        groups = frozenset(decode_value(g.strip()) for g in (headers.get("miausergroups") or "").split(",")
                           if g.strip())
        return Principal(kind="user", id=decode_value(str(headers.get("miauserid"))), groups=groups,
                         claims=properties if isinstance(properties, dict) else {},
                         source="trusted-headers")
