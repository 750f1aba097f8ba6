"""The expression language: Mia's grammar, Gatehouse's additions, errors with columns, and
property tests against a straightforward reference evaluator."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from app.core.check.policy.expressions import Context, ExpressionError, compile_expression, terms

CTX = Context(groups=frozenset({"admin", "users"}), permissions=frozenset({"read", "orders:write"}),
              scopes=frozenset({"tracks"}), client_type="A", is_backoffice=False, api_product="tracks",
              claims={"org": {"tier": "gold"}, "roles": ["ops"], "n": 3})

CASES = [
    ("groups.admin", True), ("groups.nobody", False), ('"admin" in groups', True),
    ('["x", "users"] in groups', True), ('["x", "y"] in groups', False),
    ("permissions.read", True), ('permissions["orders:write"]', True), ("permissions.write", False),
    ('clientType == "A"', True), ("clientType === 'A'", True), ('clientType != "A"', False),
    ("clientType !== 'B'", True), ("isBackoffice", False), ("!isBackoffice", True),
    ("true", True), ("false", False), ("true && false || true", True), ("true && (false || false)", False),
    ("(clientType === 'A' || clientType === 'B') && (groups.admin || groups.users)", True),
    ("groups.admin || groups.users", True), ("scopes.tracks", True), ('"petstore" in scopes', False),
    ("apiProduct in scopes", True), ('claims.org.tier == "gold"', True), ("claims.org.missing", False),
    ('"ops" in claims.roles', True), ('"dev" in claims.roles', False), ("claims.nothing.deeper", False),
    ("!!groups.admin", True), ('claims.n == "3"', False),
]


@pytest.mark.parametrize("source,expected", CASES)
def test_evaluates(source, expected):
    assert compile_expression(source)(CTX) is expected


def test_anonymous_context_is_all_false():
    assert compile_expression("groups.admin || permissions.x || claims.a || apiProduct in scopes")(Context()) is False


ERRORS = [
    ("", "empty expression", 1), ("groups.", "expected name", 8), ("foo.bar", "unknown identifier 'foo'", 1),
    ("groups", "groups needs a member", 1), ("groups.admin &&", "expected a value", 16),
    ("(true", "expected ')'", 6), ("true)", "unexpected ')'", 5), ("clientType.x", "clientType has no members", 11),
    ('"a" in clientType', "right of 'in' must be", 8), ("groups.a.b", "takes one name", 11),
    ("groups.admin & groups.x", "unexpected character '&'", 14), ("[] in groups", "expected string", 2),
    ("'unterminated", "unexpected character", 1), ("eval('x')", "unknown identifier 'eval'", 1),
    ("__import__", "unknown identifier", 1), ("claims", "claims needs a path", 1),
    ("groups in groups", "left of 'in' must be a value", 1), ("true true", "unexpected 'true'", 6),
    ("(" * 100 + "true" + ")" * 100, "nested deeper than 32 levels", None), ("x" * 5000, "longer than", 1),
]


@pytest.mark.parametrize("source,message,column", ERRORS)
def test_errors_name_the_column(source, message, column):
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert message in info.value.message
    if column is not None:
        assert info.value.column == column


# Property tests --------------------------------------------------------------------------
NAMES = st.sampled_from(["admin", "users", "read", "tracks", "x", "orders:write"])


def leaf() -> st.SearchStrategy[tuple[str, Any]]:
    """(source text, reference evaluator over a Context)."""
    return st.one_of(
        st.tuples(st.sampled_from(["groups", "permissions", "scopes"]), NAMES).map(
            lambda t: (f"{t[0]}.{t[1]}" if ":" not in t[1] else f'{t[0]}["{t[1]}"]',
                       lambda c, t=t: t[1] in getattr(c, t[0]))),
        st.tuples(NAMES, st.sampled_from(["groups", "permissions", "scopes"])).map(
            lambda t: (f'"{t[0]}" in {t[1]}', lambda c, t=t: t[0] in getattr(c, t[1]))),
        st.tuples(st.lists(NAMES, min_size=1, max_size=3), st.sampled_from(["groups", "scopes"])).map(
            lambda t: ("[" + ", ".join(f"'{n}'" for n in t[0]) + f"] in {t[1]}",
                       lambda c, t=t: any(n in getattr(c, t[1]) for n in t[0]))),
        st.tuples(st.sampled_from(["A", "B"]), st.sampled_from(["==", "===", "!=", "!=="])).map(
            lambda t: (f"clientType {t[1]} '{t[0]}'",
                       lambda c, t=t: (c.client_type == t[0]) == (t[1] in ("==", "==="))) ),
        st.sampled_from([("true", lambda c: True), ("false", lambda c: False),
                         ("isBackoffice", lambda c: c.is_backoffice),
                         ("apiProduct in scopes", lambda c: c.api_product in c.scopes)]),
    )


def combine(children: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        children.map(lambda a: (f"!({a[0]})", lambda c, a=a: not a[1](c))),
        st.tuples(children, children).map(lambda p: (f"({p[0][0]}) && ({p[1][0]})",
                                                     lambda c, p=p: p[0][1](c) and p[1][1](c))),
        st.tuples(children, children).map(lambda p: (f"({p[0][0]}) || ({p[1][0]})",
                                                     lambda c, p=p: p[0][1](c) or p[1][1](c))),
    )


EXPRESSIONS = st.recursive(leaf(), combine, max_leaves=12)
CONTEXTS = st.builds(
    Context,
    groups=st.frozensets(NAMES, max_size=3), permissions=st.frozensets(NAMES, max_size=3),
    scopes=st.frozensets(NAMES, max_size=3), client_type=st.sampled_from([None, "A", "B"]),
    is_backoffice=st.booleans(), api_product=st.sampled_from([None, "tracks", "x"]))


@settings(max_examples=300, deadline=None)
@given(EXPRESSIONS, CONTEXTS)
def test_compiled_matches_reference(expr, ctx):
    source, reference = expr
    assert compile_expression(source)(ctx) is bool(reference(ctx))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("groups.admin|&!()[]\"' =inscopeclaims,x")), max_size=40))
def test_random_text_only_raises_the_parse_error(text):
    try:
        compile_expression(text)(CTX)
    except ExpressionError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_random_unicode_only_raises_the_parse_error(text):
    try:
        compile_expression(text)(CTX)
    except ExpressionError:
        pass


# Limits (issue 13): a chain the validator accepted once killed every worker with RecursionError.
LIMITS = [
    ("974-term || chain of empty strings", "''||" * 974 + "true", "more than 256 terms", None),
    ("1,023 terms", "||".join(["''"] * 1023), "more than 256 terms", 1 + 256 * len("''||")),
    ("257 terms", " && ".join(["groups.a"] * 257), "more than 256 terms", 1 + 256 * len("groups.a && ")),
    ("33 parentheses", "(" * 33 + "true" + ")" * 33, "nested deeper than 32 levels", 33),
    ("33 negations", "!" * 33 + "true", "nested deeper than 32 levels", 33),
]


@pytest.mark.parametrize("name,source,message,column", LIMITS, ids=[row[0] for row in LIMITS])
def test_limits_are_precise_validation_errors(name, source, message, column):
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert message in info.value.message
    if column is not None:
        assert info.value.column == column


def test_at_the_limits_an_expression_compiles_and_evaluates():
    chain = "||".join(["groups.x"] * 255 + ["groups.admin"])
    assert compile_expression(chain)(CTX) is True
    assert compile_expression("&&".join(["groups.admin"] * 256))(CTX) is True
    assert compile_expression("(" * 32 + "true" + ")" * 32)(CTX) is True
    assert compile_expression("!" * 32 + "true")(CTX) is True


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["(", "!", ""]), st.sampled_from(["true", "''", "groups.a", "claims.x"]),
                          st.sampled_from([" || ", " && "])), min_size=1, max_size=400),
       st.integers(min_value=0, max_value=60))
def test_random_nesting_and_lengths_only_raise_the_validation_error(parts, depth):
    source = "(" * depth + "".join(f"{pre}{term}{op}" for pre, term, op in parts) + "true" + ")" * depth
    try:
        compile_expression(source)(CTX)
    except ExpressionError as exc:
        assert any(m in exc.message for m in ("more than 256 terms", "nested deeper than 32", "longer than 4096",
                                             "expected")), exc.message


# A well-formed expression with its term count and nesting depth, built at random: within the
# limits it compiles and evaluates, beyond them it fails with exactly the limit's message.
LEAVES = st.sampled_from(["true", "false", "''", "groups.admin", "claims.org.tier", "'a' in groups"])


def _wrap(inner):
    return st.one_of(
        st.tuples(st.sampled_from(["(", "!"]), inner).map(
            lambda t: ("(" + t[1][0] + ")", t[1][1], t[1][2] + 1) if t[0] == "(" else
            ("!(" + t[1][0] + ")", t[1][1], t[1][2] + 2)),
        st.tuples(st.lists(inner, min_size=2, max_size=6), st.sampled_from(["||", "&&"])).map(
            lambda t: (t[1].join(s for s, _, _ in t[0]), sum(n for _, n, _ in t[0]), max(d for _, _, d in t[0]))))


SHAPED = st.recursive(LEAVES.map(lambda leaf: (leaf, 1, 0)), _wrap, max_leaves=400)


@settings(max_examples=300, deadline=None)
@given(SHAPED, st.integers(min_value=0, max_value=40))
def test_well_formed_expressions_fail_only_at_the_limits(shaped, extra_depth):
    source, terms, depth = shaped
    source, depth = "(" * extra_depth + source + ")" * extra_depth, depth + extra_depth
    try:
        compile_expression(source)(CTX)
    except ExpressionError as exc:
        if len(source) > 4096:
            allowed = ["longer than 4096 characters"]
        else:
            allowed = (["nested deeper than 32 levels"] if depth > 32 else []) + \
                      (["more than 256 terms"] if terms > 256 else [])
        assert any(m in exc.message for m in allowed), (exc.message, len(source), depth, terms)
    else:
        assert len(source) <= 4096 and depth <= 32 and terms <= 256


@pytest.mark.parametrize("source,expected", [
    ("groups.admin", [("groups.admin", True)]),
    ("groups.admin && !groups.nobody", [("groups.admin", True), ("groups.nobody", False)]),
    ("(clientType === 'A' || clientType === 'B') && groups.x",
     [("clientType == 'A'", True), ("clientType == 'B'", False), ("groups.x", False)]),
    ('["x", "users"] in groups || permissions["orders:write"]',
     [("['x', 'users'] in groups", True), ("permissions.orders:write", True)]),
    ('claims.org.tier == "gold" && !(isBackoffice)', [("claims.org.tier == 'gold'", True), ("isBackoffice", False)]),
    ("true", [("true", True)]),
])
def test_terms_name_each_operand_with_its_value(source, expected):
    """explain's terms: every operand of `&&`, `||` and `!`, in reading order, written back as
    expression text (it parses to the same term), with the value the compiled check gives it."""
    found = terms(compile_expression(source), CTX)
    assert found == expected
    for text, value in found:
        assert bool(compile_expression(text)(CTX)) is bool(value)


@settings(max_examples=200, deadline=None)
@given(EXPRESSIONS, CONTEXTS)
def test_terms_reparse(expr, ctx):
    """Whatever the expression, each term's text compiles, and to the value explain gives it."""
    for text, value in terms(compile_expression(expr[0]), ctx):
        assert compile_expression(text)(ctx) is bool(value)
