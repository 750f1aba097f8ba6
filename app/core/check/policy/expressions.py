"""Mia-compatible authorization expressions: tokenizer, recursive-descent parser, and a
compiler to nested closures. Never `eval`. The grammar is the Parser's docstring.

Roots: groups, permissions, scopes (sets: `groups.admin` is membership), clientType,
isBackoffice, apiProduct (values), claims (any token claim by dotted path). A missing group,
permission, scope or claim is false. `===`/`!==` and `==`/`!=` both compare without coercion.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Union

SET_ROOTS = ("groups", "permissions", "scopes")
VALUE_ROOTS = ("clientType", "isBackoffice", "apiProduct")
ROOTS = SET_ROOTS + VALUE_ROOTS + ("claims",)
MAX_LENGTH = 4096
# Nesting of parentheses and `!` (each level costs stack at parse, compile and evaluation), and
# operands in one expression. `&&`/`||` chains are compiled flat, so with these bounds no
# expression the parser accepts can exhaust the stack anywhere (a 974-term `||` chain did).
MAX_DEPTH = 32
MAX_TERMS = 256

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<op>===|!==|==|!=|&&|\|\||[!()\[\].,])
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$:\-]*)
""", re.VERBOSE)


# Characters of a token an error message quotes: a 4,000-character identifier inside the length
# limit must not make a 4 KB error line (check-config, start-up and reload log lines).
QUOTED = 40


def _quoted(text: str) -> str:
    return repr(text[:QUOTED]) + ("..." if len(text) > QUOTED else "")


class ExpressionError(ValueError):
    """A syntax error or unknown identifier, with the 1-based column where it was found."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.message = message
        self.column = column


@dataclass(frozen=True)
class Context:
    """What an expression can see about the caller and the matched route."""

    groups: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    client_type: str | None = None
    is_backoffice: bool = False
    api_product: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)


# AST ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Path:
    root: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class BinOp:
    op: str  # "&&", "||", "==", "!=", "in"
    left: "Node"
    right: "Node"


Node = Union[Literal, Path, Not, BinOp]


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    column: int


def tokenize(source: str) -> list[Tok]:
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", 1)
    tokens, pos = [], 0
    while pos < len(source):
        match = TOKEN.match(source, pos)
        if not match:
            raise ExpressionError(f"unexpected character {source[pos]!r}", pos + 1)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Tok(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(Tok("end", "", len(source) + 1))
    return tokens


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


class Parser:
    """Recursive descent over this grammar:

    expr       := or
    or         := and ( "||" and )*
    and        := unary ( "&&" unary )*
    unary      := "!" unary | comparison
    comparison := operand ( ("==" | "!=" | "===" | "!==") operand | "in" operand )?
    operand    := "(" expr ")" | "true" | "false" | STRING | "[" STRING ("," STRING)* "]" | path
    path       := ROOT ( "." NAME | "[" STRING "]" )*
    """

    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = -1  # the whole expression is level 0; each "(" or "!" one more
        self.terms = 0

    @property
    def tok(self) -> Tok:
        return self.tokens[self.i]

    def take(self, text: str | None = None, kind: str | None = None) -> Tok:
        tok = self.tok
        if (text is not None and tok.text != text) or (kind is not None and tok.kind != kind):
            wanted = repr(text) if text else kind
            found = _quoted(tok.text) if tok.kind != "end" else "end of expression"
            raise ExpressionError(f"expected {wanted}, found {found}", tok.column)
        self.i += 1
        return tok

    def at(self, *texts: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in texts

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExpressionError("empty expression", 1)
        node = self.expr()
        if self.tok.kind != "end":
            raise ExpressionError(f"unexpected {_quoted(self.tok.text)}", self.tok.column)
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            # the column of the "(" that went one level too deep
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels",
                                  self.tokens[self.i - 1].column)
        node = self.or_()
        self.depth -= 1
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.at("||"):
            self.i += 1
            node = BinOp("||", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.unary()
        while self.at("&&"):
            self.i += 1
            node = BinOp("&&", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("!"):
            self.i += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels",
                                      self.tokens[self.i - 1].column)
            node = Not(self.unary())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        start = self.tok
        if not self.at("("):  # a parenthesised group is not a term itself; what it holds is
            self.terms += 1
        if self.terms > MAX_TERMS:
            raise ExpressionError(f"expression has more than {MAX_TERMS} terms", start.column)
        left = self.operand()
        if self.at("==", "===", "!=", "!=="):
            op = "==" if self.take().text in ("==", "===") else "!="
            return BinOp(op, left, self.operand())
        if self.tok.kind == "name" and self.tok.text == "in":
            self.i += 1
            right_tok = self.tok
            right = self.operand()
            if not (isinstance(right, Path) and (right.root in SET_ROOTS and not right.parts
                                                 or right.root == "claims")):
                raise ExpressionError("right of 'in' must be groups, permissions, scopes or a claims path",
                                      right_tok.column)
            if isinstance(left, Path) and left.root in SET_ROOTS and not left.parts:
                raise ExpressionError("left of 'in' must be a value", start.column)
            return BinOp("in", left, right)
        if isinstance(left, Path) and left.root in SET_ROOTS and not left.parts:
            raise ExpressionError(f"{left.root} needs a member, like {left.root}.name", start.column)
        if isinstance(left, Path) and left.root == "claims" and not left.parts:
            raise ExpressionError("claims needs a path, like claims.name", start.column)
        return left

    def operand(self) -> Node:
        tok = self.tok
        if self.at("("):
            self.i += 1
            node = self.expr()
            self.take(")")
            return node
        if self.at("["):
            self.i += 1
            items = [_unquote(self.take(kind="string").text)]
            while self.at(","):
                self.i += 1
                items.append(_unquote(self.take(kind="string").text))
            self.take("]")
            return Literal(tuple(items))
        if tok.kind == "string":
            self.i += 1
            return Literal(_unquote(tok.text))
        if tok.kind == "name":
            self.i += 1
            if tok.text in ("true", "false"):
                return Literal(tok.text == "true")
            if tok.text not in ROOTS:
                raise ExpressionError(f"unknown identifier {_quoted(tok.text)}", tok.column)
            return self.path(tok)
        found = _quoted(tok.text) if tok.kind != "end" else "end of expression"
        raise ExpressionError(f"expected a value, found {found}", tok.column)

    def path(self, root: Tok) -> Path:
        parts: list[str] = []
        while self.at(".", "["):
            if root.text in VALUE_ROOTS:
                raise ExpressionError(f"{root.text} has no members", self.tok.column)
            if self.take().text == ".":
                parts.append(self.take(kind="name").text)
            else:
                parts.append(_unquote(self.take(kind="string").text))
                self.take("]")
            if root.text in SET_ROOTS and len(parts) > 1:
                raise ExpressionError(f"{root.text}.<name> takes one name", self.tok.column)
        return Path(root.text, tuple(parts))


def parse(source: str) -> Node:
    """Parse an expression; ExpressionError (with column) for anything malformed."""
    if not isinstance(source, str):
        raise ExpressionError("expression must be a string", 1)
    return Parser(source).parse()


# Compiler ----------------------------------------------------------------------------------
Evaluator = Callable[[Context], Any]


def _claim(claims: Any, parts: tuple[str, ...]) -> Any:
    value = claims
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _compile(node: Node) -> Evaluator:
    if isinstance(node, Literal):
        value = node.value
        return lambda ctx: value
    if isinstance(node, Path):
        root, parts = node.root, node.parts
        if root in SET_ROOTS:
            name = parts[0] if parts else None
            if name is None:
                return lambda ctx: getattr(ctx, root)
            return lambda ctx: name in getattr(ctx, root)
        if root == "clientType":
            return lambda ctx: ctx.client_type
        if root == "isBackoffice":
            return lambda ctx: ctx.is_backoffice
        if root == "apiProduct":
            return lambda ctx: ctx.api_product
        return lambda ctx: _claim(ctx.claims, parts)
    if isinstance(node, Not):
        inner = _compile(node.operand)
        return lambda ctx: not inner(ctx)
    if node.op in ("&&", "||"):
        # A chain `a || b || c` is one flat call over its operands, not one frame per operand.
        operands = tuple(_compile(item) for item in _chain(node, node.op))
        if node.op == "&&":
            return lambda ctx: all(operand(ctx) for operand in operands)
        return lambda ctx: any(operand(ctx) for operand in operands)
    left, right = _compile(node.left), _compile(node.right)
    if node.op == "==":
        return lambda ctx: _equal(left(ctx), right(ctx))
    if node.op == "!=":
        return lambda ctx: not _equal(left(ctx), right(ctx))
    return lambda ctx: _contains(right(ctx), left(ctx))


def _chain(node: BinOp, op: str) -> list[Node]:
    """The operands of a left-nested chain of one operator, in order, without recursion."""
    items: list[Node] = []
    current: Node = node
    while isinstance(current, BinOp) and current.op == op:
        items.append(current.right)
        current = current.left
    items.append(current)
    return items[::-1]


def _equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _contains(collection: Any, needle: Any) -> bool:
    if not isinstance(collection, (frozenset, set, list, tuple)):
        return False
    if isinstance(needle, tuple):  # ["a", "b"] in groups: any of
        return any(n in collection for n in needle)
    return isinstance(needle, str) and needle in collection


@dataclass(frozen=True)
class Expression:
    source: str
    tree: Node
    evaluate: Evaluator

    def __call__(self, ctx: Context) -> bool:
        return bool(self.evaluate(ctx))


def compile_expression(source: str) -> Expression:
    """Parse and compile once; evaluating is a few closure calls."""
    tree = parse(source)
    return Expression(source=source, tree=tree, evaluate=_compile(tree))


def _text(node: Node) -> str:
    """A node written back as expression text (for explain: which term had which value)."""
    if isinstance(node, Literal):
        if isinstance(node.value, bool):
            return "true" if node.value else "false"
        if isinstance(node.value, tuple):
            return "[" + ", ".join(repr(v) for v in node.value) + "]"
        return repr(node.value)
    if isinstance(node, Path):
        return node.root + "".join(f".{p}" if NAME.fullmatch(p) else f"[{p!r}]" for p in node.parts)
    if isinstance(node, Not):
        inner = _text(node.operand)
        return f"!{inner}" if isinstance(node.operand, (Path, Literal, Not)) else f"!({inner})"
    if node.op in ("&&", "||"):
        return f" {node.op} ".join(f"({_text(i)})" if isinstance(i, BinOp) and i.op in ("&&", "||") and i.op != node.op
                                   else _text(i) for i in _chain(node, node.op))
    return f"{_text(node.left)} {node.op} {_text(node.right)}"


NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$:\-]*")


def terms(expression: Expression, ctx: Context) -> list[tuple[str, Any]]:
    """Each term of the expression (an operand of `&&`, `||` or `!`: a comparison, a membership
    such as `groups.admin`, a literal) with its value for `ctx`, in reading order; evaluated by the
    same compiled closures a check runs, so the answer cannot differ from the decision."""
    found: list[tuple[str, Any]] = []
    pending: list[Node] = [expression.tree]
    while pending:
        node = pending.pop()
        if isinstance(node, Not):
            pending.append(node.operand)
        elif isinstance(node, BinOp) and node.op in ("&&", "||"):
            pending.extend(reversed(_chain(node, node.op)))
        else:
            value = _compile(node)(ctx)
            found.append((_text(node), sorted(value) if isinstance(value, frozenset) else value))
    return found
