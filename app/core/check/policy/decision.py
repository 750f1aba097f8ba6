"""Who is calling (the principal) and the answer to nginx (docs/auth.md "Who is calling",
"The decision")."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import quote, unquote

from ...principal import MAX_ANSWERED, Principal
from .expressions import Context, terms
from .routes import BadPath, Rule, RouteTable, normalise

ALLOW, UNAUTHENTICATED, FORBIDDEN = 204, 401, 403
# A decision's outcome by its status: an allow is 204, or 200 where the dialect's proxy lets a
# request through on 200 only (Envoy); 302 is the check's login redirect (core.authorizer).
OUTCOMES = {ALLOW: "allow", 200: "allow", 302: "unauthenticated", UNAUTHENTICATED: "unauthenticated",
            FORBIDDEN: "forbidden"}
UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
# On a 403 for a request target the path table refuses (docs/auth.md "Route matching"): nginx answers
# the client 400 instead of 403 (the check itself may only answer 2xx/401/403).
REFUSED_HEADER = "gatehouse-refused"
REFUSED_TARGET = {REFUSED_HEADER: "request-target"}
# RFC 8187 §3.2.1 ext-value: UTF-8 bytes percent-encoded except attr-char.
EXT_PREFIX = "UTF-8''"
ATTR_CHAR_PUNCTUATION = "!#$&+-.^_`|~"


@dataclass(frozen=True)
class HeaderNames:
    allowed: str = "mia-allowed"
    user_id: str = "mia-userid"
    groups: str = "mia-groups"
    properties: str = "mia-userproperties"
    client_type: str = "mia-clienttype"


# Bounded names of why a decision was taken: the `reason` label of the decision counter and
# the `code` of a decision log line (the words are in `reason`).
CODES = ("allowed", "bad_request", "path_refused", "no_route", "no_identity", "credential_refused",
         "revoked", "session_ended", "missing_scope", "expression_false", "csrf")


def refusal_code(description: str) -> str:
    """The code of a refused credential, from its InvalidToken description."""
    if "revoked" in description:
        return "revoked"
    if "ended" in description:
        return "session_ended"
    return "credential_refused"


@dataclass(frozen=True)
class Decision:
    status: int
    reason: str
    principal: Principal
    rule: Rule | None = None
    # Read-only once built: what the answer carries is decided with the rest of the decision.
    headers: Mapping[str, str] = field(default_factory=dict)
    code: str = "allowed"
    # The credential source consulted: the principal's, or the one whose credential was refused.
    source: str | None = None

    def __post_init__(self) -> None:
        if type(self.headers) is not MappingProxyType:
            object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


def encode_value(value: str) -> str:
    """An identity header value on the wire: printable ASCII as it is (Mia's exact form);
    anything else as an RFC 8187 ext-value, `UTF-8''` + the UTF-8 bytes percent-encoded
    (`Администраторы` -> `UTF-8''%D0%90%D0%B4...`), so any Unicode value survives nginx and
    reaches the upstream losslessly. An ASCII value that itself starts with `UTF-8''` is encoded
    too, so decoding is never ambiguous."""
    if value.isascii() and value[:7].upper() != EXT_PREFIX.upper():
        return value
    return EXT_PREFIX + quote(value, safe=ATTR_CHAR_PUNCTUATION)


def decode_value(value: str) -> str:
    """The inverse of encode_value (for identity headers set by a trusted hop)."""
    if value[:7].upper() == EXT_PREFIX.upper():
        return unquote(value[7:], errors="replace")
    return value


def _safe(value: str, limit: int) -> str | None:
    """Never a header injection from a claim: no control characters, bounded size (encoded)."""
    if UNSAFE.search(value):
        return None
    encoded = encode_value(value)
    return None if len(encoded) > limit else encoded


def _properties(claims: dict[str, Any], properties: tuple[str, ...]) -> str:
    """The user-properties header: the chosen claims as compact JSON (`{}` without one)."""
    chosen = {k: claims[k] for k in properties if k in claims}
    return json.dumps(chosen, separators=(",", ":"), ensure_ascii=True, default=str) if chosen else "{}"


# The identity headers of one answer, with the BFF's Authorization, at most: under the 64 KB the
# shipped nginx reads the check's answer into (and Envoy's 60 KB default), with room for the
# status line and the answer's other headers. A 32 KB provider token beside 200 groups of 40
# characters (8 KB) fits.
ANSWER_HEADER_BYTES = 48 * 1024


def identity_headers(principal: Principal, rule: Rule | None, names: HeaderNames,
                     properties: tuple[str, ...], limit: int) -> dict[str, str]:
    """The headers of an allow: who the principal is, for the upstream. Worked out once per
    principal, rule and header settings (they depend on nothing else); a copy each time."""
    if principal.anonymous:
        return _identity_headers(principal, rule, names, properties, limit)
    key = (id(rule), names, properties, limit)
    hit = principal.answered.get(key)
    if hit is None or hit[0] is not rule:  # the rule is held with its answer: its id is not reused
        if len(principal.answered) >= MAX_ANSWERED:
            principal.answered.clear()
        hit = principal.answered[key] = (rule, _identity_headers(principal, rule, names, properties, limit))
    return dict(hit[1])


def _identity_headers(principal: Principal, rule: Rule | None, names: HeaderNames,
                      properties: tuple[str, ...], limit: int) -> dict[str, str]:
    headers = {names.allowed: "1"}
    if principal.anonymous:
        # An API key alone: no user, but the upstream still learns the client type.
        client_type = _safe(principal.client_type, limit) if principal.client_type else None
        if client_type:
            headers[names.client_type] = client_type
        return headers
    values = {
        names.user_id: principal.id or "",
        # Each group encoded on its own, so ASCII groups keep Mia's form beside a Unicode one.
        names.groups: ",".join(sorted(encode_value(g) for g in principal.groups
                                      if "," not in g and not UNSAFE.search(g))),
        names.properties: _properties(principal.claims, properties),
        names.client_type: principal.client_type or "",
    }
    for claim, header in (rule.headers.items() if rule else ()):
        value = principal.claims.get(claim)
        if isinstance(value, (str, int, float, bool)):
            values[header.lower()] = str(value)
    groups = values.pop(names.groups)
    if len(groups) <= limit:  # already encoded, group by group
        headers[names.groups] = groups
    for name, value in values.items():
        safe = _safe(value, limit)
        if safe is not None:
            headers[name] = safe
    # The whole answer fits the proxy's buffer for the check's headers (the shipped nginx's 64 KB,
    # Envoy's 60 KB) beside the BFF's Authorization: past the budget the largest values are left
    # out, as one over the limit is, rather than the proxy failing every call of this user (500).
    budget = ANSWER_HEADER_BYTES - (_line_size("Authorization", f"Bearer {principal.bearer}") if principal.bearer else 0)
    size = sum(_line_size(k, v) for k, v in headers.items())
    while size > budget:
        largest = max((k for k in headers if k != names.allowed), key=lambda k: len(headers[k]), default=None)
        if largest is None:
            break
        size -= _line_size(largest, headers.pop(largest))
    return headers


def _line_size(name: str, value: str) -> int:
    return len(name) + len(value) + 4  # ": " and CRLF; values are ASCII once encoded


def decide(table: RouteTable, method: str, uri: str, principal: Principal, *, is_backoffice: bool,
           scope_prefix: str = "", names: HeaderNames = HeaderNames(),
           properties: tuple[str, ...] = (), header_limit: int = 16384, source: str | None = None,
           allow: int = ALLOW, challenge: str | None = None) -> Decision:
    """docs/auth.md "The decision", in order; the reason is for logs and `explain`, never for the client. `source`
    is recorded in the decision as it is (the credential source consulted); `allow` is the status
    of an allow (the dialect's: core.policy.dialects); `challenge`: a 401's WWW-Authenticate. An
    allow for a principal with a `bearer` (the BFF's) carries it as Authorization, for the proxy
    to pass upstream."""
    deny = {names.allowed: "0"}
    try:
        path = normalise(uri)
    except BadPath as exc:
        return Decision(FORBIDDEN, f"path refused: {exc}", principal, headers={**deny, **REFUSED_TARGET},
                        code="path_refused", source=source)
    rule = table.match(path, method)
    reading = table.other_reading(path, method, rule)
    if reading:
        return Decision(FORBIDDEN, f"path refused: its {reading} reading matches another route", principal,
                        headers={**deny, **REFUSED_TARGET}, code="path_refused", source=source)
    if rule is None:
        return Decision(UNAUTHENTICATED, "no route matches", principal, headers=_challenged(deny, challenge),
                        code="no_route", source=source)
    block = rule.block(is_backoffice)
    if rule.api_product is not None:
        wanted = {rule.api_product, scope_prefix + rule.api_product}
        if not principal.scopes & wanted:
            status, refused = ((UNAUTHENTICATED, _challenged(deny, challenge)) if principal.anonymous
                               else (FORBIDDEN, deny))
            return Decision(status, f"no scope for API product {rule.api_product}", principal, rule, refused,
                            code="missing_scope", source=source)
    missing = [s for s in rule.scopes if s not in principal.scopes]
    if missing:
        status, refused = ((UNAUTHENTICATED, _challenged(deny, challenge)) if principal.anonymous
                           else (FORBIDDEN, deny))
        return Decision(status, f"missing scopes {' '.join(missing)}", principal, rule, refused,
                        code="missing_scope", source=source)
    allowed = block.expression(_context(principal, rule, is_backoffice))
    if principal.anonymous and not (block.public and allowed):
        return Decision(UNAUTHENTICATED, "no identity", principal, rule, _challenged(deny, challenge),
                        code="no_identity", source=source)
    if not allowed:
        return Decision(FORBIDDEN, f"expression {block.expression.source!r} is false", principal, rule, deny,
                        code="expression_false", source=source)
    headers = identity_headers(principal, rule, names, properties, header_limit)
    if principal.bearer:
        headers["Authorization"] = f"Bearer {principal.bearer}"
    return Decision(allow, "allowed", principal, rule, MappingProxyType(headers), source=source)


def _challenged(deny: dict[str, str], challenge: str | None) -> dict[str, str]:
    """A 401's headers: the deny, and the challenge when the caller gave one."""
    return {**deny, "WWW-Authenticate": challenge} if challenge else deny


def _context(principal: Principal, rule: Rule, is_backoffice: bool) -> Context:
    """What the rule's expression sees of the caller."""
    return Context(groups=principal.groups, permissions=principal.permissions, scopes=principal.scopes,
                   client_type=principal.client_type, is_backoffice=is_backoffice,
                   api_product=rule.api_product, claims=principal.claims)


# Decisions taken by the expression (the others were taken before it was evaluated).
BY_EXPRESSION = frozenset({"allowed", "no_identity", "expression_false", "csrf"})


def explain(decision: Decision, is_backoffice: bool = False) -> dict[str, Any]:
    """The matched rule, the principal, the expression (each term's value) and the outcome with its
    reason. `is_backoffice`: the request was judged by the rule's backoffice block."""
    rule = decision.rule
    p = decision.principal
    return {
        "outcome": OUTCOMES.get(decision.status, str(decision.status)),
        "status": decision.status,
        "reason": decision.reason,
        "code": decision.code,
        "source": decision.source,
        "rule": None if rule is None else {
            "path": rule.path, "method": rule.method,
            "expression": rule.authorization.expression.source, "public": rule.authorization.public,
            "backofficeExpression": rule.backoffice.expression.source if rule.backoffice else None,
            "apiProduct": rule.api_product, "scopes": list(rule.scopes)},
        # Each term of the expression that decided, with its value for this caller (None: the
        # decision was taken before the expression, e.g. no route or a missing scope).
        "terms": [{"term": text, "value": value} for text, value in terms(
            rule.block(is_backoffice).expression, _context(p, rule, is_backoffice))]
        if rule is not None and decision.code in BY_EXPRESSION else None,
        "principal": {"kind": p.kind, "id": p.id, "source": p.source, "groups": sorted(p.groups),
                      "permissions": sorted(p.permissions), "scopes": sorted(p.scopes),
                      "clientType": p.client_type},
        # never the BFF access token: explain is for people, not for the upstream
        "headers": {k: v for k, v in decision.headers.items() if k.lower() != "authorization"},
    }
