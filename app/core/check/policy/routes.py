"""The route table (Mia's auth.json shape plus Gatehouse's apiProduct, scopes, headers) and
route matching (docs/auth.md "Route matching").

    {"/orders/": {"GET": {"authorization": {"expression": "groups.admin", "public": false},
                          "backofficeAuthorization": {"expression": "true"},
                          "apiProduct": "orders", "scopes": ["orders:read"],
                          "headers": {"usagePlan": "x-usage-plan"}}}}
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable
from urllib.parse import unquote

from .expressions import Expression, ExpressionError, compile_expression

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "ALL"})
RULE_KEYS = frozenset({"authorization", "backofficeAuthorization", "apiProduct", "scopes", "headers"})
AUTH_KEYS = frozenset({"expression", "public"})
HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,63}$")
SLASHES = re.compile(r"/{2,}")
ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
# One C-speed scan each instead of a Python loop over the characters (the check runs per request).
RAW_UNSAFE = re.compile("[\x00-\x20\x7f-\U0010ffff]")  # space, control or non-ASCII, as sent
# Decoded: C0/C1 controls, DEL, backslash, `;`, `?` or `#` (_unsafe_characters names which).
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\\\\]")
DECODED_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\\\\;?#]")
UNMARKED = frozenset({"Mn", "Me", "Cf"})  # nonspacing and enclosing marks, invisible format characters
MAX_PATH = 4096
EXCERPT = 60  # characters of an expression quoted around an error, so an error line stays short


class RouteFileError(ValueError):
    """The route file is invalid; `problems` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


Reading = Callable[[str], str]


def bare(text: str) -> str:
    """`text` without marks and invisible format characters, in its compatibility form (NFKD,
    marks and format characters dropped, NFKC): what an accent-insensitive comparison reads."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) and unicodedata.category(c) not in UNMARKED)
    return unicodedata.normalize("NFKC", kept)


# How upstreams that do not compare paths exactly read one (docs/auth.md "Route matching"):
# Python's casefold(); upper case (Java's equalsIgnoreCase, .NET's OrdinalIgnoreCase, JavaScript's
# toUpperCase read `ı` as `I`); lower case (`İ` is `i` + a combining dot); and each of them
# without marks (a base-strength collator reads `ï̈`, `i̇` as `i`).
READINGS: tuple[tuple[str, Reading], ...] = (
    ("case-insensitive", str.casefold),
    ("upper-case", str.upper),
    ("lower-case", str.lower),
    ("accent-insensitive", bare),
    ("case- and accent-insensitive", lambda text: bare(text.casefold()).casefold()),
    ("upper-case accent-insensitive", lambda text: bare(text.upper()).upper()),
    ("lower-case accent-insensitive", lambda text: bare(text.lower()).lower()),
)


@lru_cache(maxsize=64)  # paths of up to 4,096 characters: a few recent ones, not a history
def readings(path: str) -> tuple[str, ...]:
    """`path` as each of READINGS reads it; remembered, as a check reads a non-ASCII path twice
    (normalise, then RouteTable.other_reading)."""
    return tuple(reading(path) for _, reading in READINGS)


class BadPath(ValueError):
    """The request path cannot be matched safely (traversal, control characters, too long)."""


@dataclass(frozen=True)
class Authorization:
    expression: Expression
    public: bool


@dataclass(frozen=True)
class Rule:
    path: str
    method: str
    authorization: Authorization
    backoffice: Authorization | None
    api_product: str | None = None
    scopes: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # claim -> upstream header name

    def block(self, is_backoffice: bool) -> Authorization:
        return self.backoffice if is_backoffice and self.backoffice else self.authorization


def _authorization(raw: Any, where: str, problems: list[str]) -> Authorization | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object with `expression` and optional `public`")
        return None
    unknown = set(raw) - AUTH_KEYS
    if unknown:
        problems.append(f"{where}: unknown keys {_shown(', '.join(sorted(unknown)))}")
    source = raw.get("expression", "false" if not raw.get("public") else "true")
    public = raw.get("public", False)
    if not isinstance(public, bool):
        problems.append(f"{where}.public: must be true or false")
    if not isinstance(source, str):
        problems.append(f"{where}.expression: must be a string")
        return None
    try:
        return Authorization(compile_expression(source), bool(public))
    except ExpressionError as exc:
        problems.append(f"{where}.expression {excerpt(source, exc.column)}: {exc.message} at column {exc.column}")
        return None


def excerpt(source: str, column: int) -> str:
    """A bounded quote of `source` around a 1-based column (the whole of a short expression)."""
    if len(source) <= EXCERPT:
        return repr(source)
    start = max(0, min(column - 1 - EXCERPT // 2, len(source) - EXCERPT))
    text = source[start:start + EXCERPT]
    return ("..." if start else "") + repr(text) + ("..." if start + EXCERPT < len(source) else "")


def _shown(path: Any) -> str:
    """A route path as an error line shows it: bounded in length."""
    text = str(path)
    return text if len(text) <= 200 else text[:200] + "..."


def _rule(path: str, method: str, raw: Any, problems: list[str]) -> Rule | None:
    where = f"route {_shown(path)} {method}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    unknown = set(raw) - RULE_KEYS
    if unknown:
        problems.append(f"{where}: unknown keys {_shown(', '.join(sorted(unknown)))}")
    if "authorization" not in raw:
        problems.append(f"{where}: `authorization` is required")
        return None
    auth = _authorization(raw["authorization"], f"{where} authorization", problems)
    backoffice = (_authorization(raw["backofficeAuthorization"], f"{where} backofficeAuthorization", problems)
                  if "backofficeAuthorization" in raw else None)
    product = raw.get("apiProduct")
    if product is not None and (not isinstance(product, str) or not product):
        problems.append(f"{where} apiProduct: must be a non-empty string")
    scopes = raw.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
        problems.append(f"{where} scopes: must be a list of strings")
        scopes = []
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) and HEADER_NAME.match(v) for k, v in headers.items()):
        problems.append(f"{where} headers: must map claim names to header names")
        headers = {}
    if auth is None:
        return None
    return Rule(path=path, method=method, authorization=auth, backoffice=backoffice,
                api_product=product if isinstance(product, str) else None,
                scopes=tuple(scopes), headers=dict(headers))


class RouteTable:
    """Compiled rules, looked up by exact path then parents along `/` boundaries."""

    def __init__(self, rules: dict[str, dict[str, Rule]]) -> None:
        self.rules = rules
        # The same rules under each reading of their paths: a spelling that some reading matches
        # to another rule than its exact spelling is refused (docs/auth.md "Route matching").
        # A reading that leaves every path of the table as it is needs no look-up for a path it
        # leaves alone either (`same`).
        self.read: list[tuple[str, Reading, dict[str, dict[str, Rule]], bool]] = []
        for name, reading in READINGS:
            table: dict[str, dict[str, Rule]] = {}
            for path, methods in rules.items():
                table.setdefault(reading(path), methods)
            self.read.append((name, reading, table, all(reading(path) == path for path in rules)))
        # Every path ASCII lower case: then an ASCII spelling reads alike in every reading (marks
        # and compatibility forms are not ASCII; ASCII upper and lower case are one-to-one), so
        # the case fold alone stands for all of them.
        self.plain = all(path.isascii() and path == path.lower() for path in rules)

    @classmethod
    def load(cls, document: Any) -> "RouteTable":
        """Validate the whole file (every expression compiled); RouteFileError lists every problem."""
        problems: list[str] = []
        rules: dict[str, dict[str, Rule]] = {}
        if not isinstance(document, dict):
            raise RouteFileError(["the route file must be a JSON object of paths"])
        for path, methods in document.items():
            if not isinstance(path, str) or not path.startswith("/") or "//" in path or ".." in path.split("/"):
                problems.append(f"route {_shown(repr(path))}: must be an absolute path without // or ..")
                continue
            if not isinstance(methods, dict) or not methods:
                problems.append(f"route {_shown(path)}: must map methods (or ALL) to rules")
                continue
            for method, raw in methods.items():
                upper = method.upper() if isinstance(method, str) else method
                if upper not in METHODS:
                    problems.append(f"route {_shown(path)}: unknown method {_shown(repr(method))}")
                    continue
                rule = _rule(path, upper, raw, problems)
                if rule:
                    rules.setdefault(path, {})[upper] = rule
        if problems:
            raise RouteFileError(problems)
        return cls(rules)

    def match(self, path: str, method: str) -> Rule | None:
        """The rule for a normalised path: exact first, then `/a/b/` → `/a/b` → `/a/` → … → `/`."""
        return _match(self.rules, path, method)

    def other_reading(self, path: str, method: str, rule: Rule | None) -> str | None:
        """The name of a reading of `path` (its case fold, upper or lower case, or its form
        without marks, as case- or accent-insensitive upstreams read it) that picks another rule
        than the exact spelling does (as Mia matches); None when every reading agrees."""
        if path.isascii() and self.plain:
            # ASCII upper and lower case are one-to-one and marks and compatibility forms are not
            # ASCII: the case fold stands for every reading (the hot path: one comparison).
            folded = path.lower()
            if folded == path:
                return None
            other = _match(self.read[0][2], folded, method)
            if other is rule or other is not None and rule is not None and other.path == rule.path:
                return None
            return READINGS[0][0]
        read = readings(path)
        for (name, reading, table, same), text in zip(self.read, read):
            if same and text == path:
                continue
            other = _match(table, text, method)
            if other is rule:
                continue
            if other is None or rule is None or reading(other.path) != reading(rule.path):
                return name
        return None


def _match(rules: dict[str, dict[str, Rule]], path: str, method: str) -> Rule | None:
    """Exact path first, then its parents along `/` boundaries."""
    candidate = path
    while True:
        keys = (candidate, candidate[:-1]) if len(candidate) > 1 and candidate.endswith("/") else (candidate,)
        for key in keys:
            methods = rules.get(key)
            if methods:
                rule = methods.get(method) or methods.get("ALL")
                if rule:
                    return rule
        if candidate == "/":
            return None
        base = candidate[:-1] if candidate.endswith("/") else candidate
        candidate = base[:base.rfind("/") + 1]


def normalise(uri: str) -> str:
    """The path Gatehouse judges, or BadPath for a spelling that upstreams may read as another
    path (docs/auth.md "Route matching" has the table): the query is stripped, the path decoded once
    and repeated (also %2F-encoded) slashes collapsed; refused are targets that are not
    origin-form, a raw `#`, raw non-ASCII or control characters, backslashes, percent-encoded
    bytes that are not UTF-8 or that decode to another escape (`%2561`), `;` path parameters,
    an encoded `?` or `#`, compatibility characters (full-width letters), `.`/`..` segments,
    and segments that end in a dot or begin or end with whitespace (`/admin.`, `/admin%20`),
    also in any reading of the path (READINGS)."""
    if not uri:
        raise BadPath("missing")
    if "#" in uri:
        raise BadPath("raw # in the request target")
    if RAW_UNSAFE.search(uri):
        raise BadPath("raw space, control or non-ASCII characters")
    path = uri.split("?", 1)[0]
    if not path.startswith("/"):
        raise BadPath("not an origin-form target")
    if len(path) > MAX_PATH:
        raise BadPath("path too long")
    # The steps below skip work that cannot change the answer (most paths are plain ASCII):
    # without `%` there is nothing to decode; ASCII is NFKC already; after the control characters
    # are refused, an ASCII segment can only be spoiled by a dot or a space.
    try:
        decoded = unquote(path, errors="strict") if "%" in path else path
    except UnicodeDecodeError as exc:
        raise BadPath("percent-encoded bytes that are not UTF-8") from exc
    # Without an escape in the target there is none in the decoded path (it is the same string).
    if DECODED_UNSAFE.search(decoded) or (decoded is not path and ENCODED.search(decoded)):
        raise BadPath(_unsafe_characters(decoded))
    ascii_only = decoded.isascii()
    if not ascii_only and unicodedata.normalize("NFKC", decoded) != decoded:
        raise BadPath("compatibility characters (NFKC changes the path)")
    collapsed = SLASHES.sub("/", decoded) if "//" in decoded else decoded
    if ascii_only and "." not in collapsed and " " not in collapsed:
        return collapsed
    problem = _unsafe_segments(collapsed)
    if problem:
        raise BadPath(problem)
    if not ascii_only:
        # What a case- or accent-insensitive upstream reads must be as safe as the spelling:
        # `/x/..\u0301` without its mark is `/x/..`.
        named: dict[str, str] = {}
        for (name, _), read in zip(READINGS, readings(collapsed)):
            named.setdefault(read, name)
        named.pop(collapsed, None)  # judged above
        for read, name in named.items():
            unsafe = DECODED_UNSAFE.search(read) or ENCODED.search(read)
            problem = _unsafe_characters(read) if unsafe else _unsafe_segments(read)
            if problem:
                raise BadPath(f"its {name} reading has {problem}")
    return collapsed


def _unsafe_characters(decoded: str) -> str:
    """Which of DECODED_UNSAFE's characters, or an escape, a decoded path holds (it holds one)."""
    if CONTROLS.search(decoded):
        return "control characters or backslash"
    if ENCODED.search(decoded):
        return "double percent-encoding"
    if ";" in decoded:
        return "path parameters (;)"
    # Only an escape gets them here (a raw `?` ends the path, a raw `#` is refused): an upstream
    # that decodes before it splits reads a query or a fragment.
    return "an encoded ? or #"


def _unsafe_segments(path: str) -> str | None:
    """A `.`/`..` segment, or one that ends in a dot or has whitespace around it, or None."""
    for segment in path.split("/"):
        if segment in (".", ".."):
            return "dot segments"
        if segment and segment[-1] in ". \t" or segment != segment.strip():
            return "a segment ending in a dot, or with whitespace around it"
    return None
