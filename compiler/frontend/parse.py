"""Text → AST. Lark (LALR, every token kept) with a post-lexer for bracket newlines.

Raw Lark errors never leave this module: they become `E1xx` diagnostics that spell what was
expected the way the user writes it (`` `)` ``, "a name"), never Lark's terminal names.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import NamedTuple, cast

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from ..core import codes
from ..core.diagnostics import CompileError, Diagnostic, error
from ..core.source import Source, Span
from . import syntax as ast

KEYWORDS = frozenset(
    (
        "model input context doc repeat block return const transform impl shape domain fold net parameters true false"
    ).split()
)
_OPENERS = {"LPAR", "LSQB"}
_CLOSERS = {"RPAR", "RSQB"}
_NAMED_TERMINALS = {
    "NAME": "a name",
    "SIGNED_NUMBER": "a number",
    "STRING": "a string",
    "_NL": "a new line",
    "$END": "the end of the file",
}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}


class _BracketNewlines:
    """Post-lexer: inside ( ) and [ ] newlines are not statement ends, so drop them.

    It keeps no state between parses: each parse's bracket depth is a local of its own token
    stream, so the one cached parser serves parses from any number of threads at once. (After
    a syntax error, `_unclosed` finds the brackets left open from the text, not from here.)
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        for token in stream:
            if token.type in _OPENERS:
                depth += 1
            elif token.type in _CLOSERS:
                depth = max(depth - 1, 0)
            elif token.type == "_NL" and depth:
                continue
            yield token


_BUILDING = threading.Lock()


def lark_parser() -> Lark:
    """The one LALR parser of the grammar, built on first use and shared by every parse.

    It is safe to share between threads: Lark keeps each parse's position in a lexer state
    and a parser state of its own (its tables and lexers are only read; each lexer compiles
    its regular expression once, on first use, and a race there builds an equal one twice),
    and the post-lexer keeps no state. The lock only makes the first callers of several
    threads wait for one build instead of each building (and writing Lark's cache file).
    """
    with _BUILDING:
        return _build_parser()


def parse_tree(text: str) -> Tree[Token]:
    """Lark's parse tree of ``text``; raises Lark's `UnexpectedInput` on a syntax error."""
    return lark_parser().parse(text)


@lru_cache(maxsize=1)
def _build_parser() -> Lark:
    grammar = resources.files("survae_dsl.grammar").joinpath("survae.lark").read_text("utf-8")
    # cache=True keeps the LALR tables in the temp folder: building them takes ~0.2 s per run.
    # keep_all_tokens instead of propagate_positions: spans come from each subtree's first and
    # last token (punctuation and keywords included), which `ToAst` reads only where it makes
    # a span. Lark's own position propagation visits every child of every node and took half
    # of the parse time of a 10,000-line model.
    return Lark(
        grammar, parser="lalr", keep_all_tokens=True, postlex=_BracketNewlines(), maybe_placeholders=True, cache=True
    )


@lru_cache(maxsize=1)
def _spellings() -> dict[str, str]:
    """Terminal name → how a user would write it."""
    spelled = dict(_NAMED_TERMINALS)
    for terminal in lark_parser().terminals:
        if isinstance(terminal.pattern, PatternStr):
            spelled[terminal.name] = f"`{terminal.pattern.value}`"
    return spelled


MAX_SYNTAX_ERRORS = 20
MAX_NESTING = 100  # brackets and braces inside each other; real models nest a few levels
_OPENING = {"(": ")", "[": "]", "{": "}"}
_NOT_CODE = re.compile(r'"(\\.|[^"\\\n])*"|#[^\n]*')
_BRACKET = re.compile(r"[()\[\]]")
# What `_too_deep` counts: brackets, arithmetic operators (not the `-` of `->` or of a number's
# exponent) and what ends an expression; numbers and arrows are matched only to be skipped.
_NESTING_TOKEN = re.compile(r"\w*\d[eE][+-]?\d+|->|\|>|[\[\](){}+\-*/,\n]")


def _too_deep(source: Source) -> Diagnostic | None:
    """E505 where brackets and braces first nest deeper than MAX_NESTING.

    Checked before parsing: the parser and the tree transformer recurse once per level, and
    a few thousand levels would exhaust Python's stack (an internal error, not a diagnostic).
    Strings and comments are blanked first (same length, so offsets stay).
    """
    code = _NOT_CODE.sub(lambda m: " " * len(m.group(0)), source.text)
    # An operator of a shape rule's arithmetic (`n + n + ...`) also nests the tree a level:
    # count each one until the next `,`, within its brackets.
    depth, operators = 0, [0]
    for match in _NESTING_TOKEN.finditer(code):
        token = match.group(0)
        if token in _OPENING:
            depth += 1
            operators.append(0)
        elif token in ")]}":
            depth -= 1
            depth -= operators.pop() if len(operators) > 1 else 0
        elif token == "," or (token == "\n" and len(operators) == 1):  # the end of an expression
            depth -= operators[-1]
            operators[-1] = 0
        elif len(token) == 1 and token in "+-*/":
            depth += 1
            operators[-1] += 1
        if depth > MAX_NESTING:
            line = code.count("\n", 0, match.start()) + 1
            column = match.start() - (code.rfind("\n", 0, match.start()) + 1) + 1
            if token in _OPENING:
                message = f"brackets and braces nest more than {MAX_NESTING} deep here"
                hint = (
                    "flatten the model: a `repeat` or a block call instead of nesting, "
                    "a constant instead of nested lists"
                )
            else:
                message = f"this expression nests more than {MAX_NESTING} deep here"
                hint = "a shape rule needs a few operators: write the size once"
            return error(codes.E505, _point(source, line, column), message, hint)
    return None


def parse(source: Source) -> ast.Module:
    """Parse a whole file; raises `CompileError` with E1xx diagnostics on a syntax error.

    After a syntax error the parser recovers at the next line: the offending line is blanked
    (line numbers stay) and the file parsed again, so one run reports the syntax errors of
    every statement. Recovery stops at the end of the file (an unclosed `{` or bracket
    explains everything after it) and after MAX_SYNTAX_ERRORS.
    """
    deep = _too_deep(source)
    if deep is not None:
        raise CompileError([deep], source)
    try:
        tree = parse_tree(source.text)
    except UnexpectedInput as exc:
        raise CompileError(_recover(source, exc), source) from None
    try:
        return ToAst(source).transform(tree)
    except _AstError as exc:
        raise CompileError([exc.diagnostic], source) from None


def parse_or_none(source: Source) -> ast.Module | None:
    """`parse`'s module of a text that parses; None (no diagnostics made) where `parse` would
    raise: for the language server's re-parse of a few lines, which falls back to `parse`."""
    if _too_deep(source) is not None:
        return None
    try:
        return ToAst(source).transform(parse_tree(source.text))
    except (UnexpectedInput, _AstError):
        return None


def nests_too_deep(source: Source) -> bool:
    """Whether `parse` refuses the text for nesting deeper than MAX_NESTING (E505)."""
    return _too_deep(source) is not None


# ---------------------------------------------------------------------------------------------
# Syntax errors


def _recover(source: Source, first: UnexpectedInput) -> list[Diagnostic]:
    """The first syntax error and those found after blanking each erroneous line in turn."""
    found = [_syntax_error(first, source, source.text)]
    lines = source.text.split("\n")
    exc: UnexpectedInput | None = first
    while exc is not None and len(found) < MAX_SYNTAX_ERRORS:
        line = found[-1].span.line
        if found[-1].code == codes.E103 or not 1 <= line <= len(lines) or not lines[line - 1].strip():
            break
        lines[line - 1] = " " * len(lines[line - 1])  # same length: error offsets stay valid
        text = "\n".join(lines)
        try:
            parse_tree(text)
            exc = None
        except UnexpectedInput as again:
            exc = again
            diagnostic = _syntax_error(again, source, text)
            if diagnostic.span.line <= line or diagnostic.code == codes.E103:
                break  # the blanked line was part of a larger broken construct: stop here
            found.append(diagnostic)
    return found


def _spell(terminals: set[str] | frozenset[str]) -> str:
    known = _spellings()
    # Anonymous terminals (`__ANON_0` for `->`) are shown by their text; other internal ones not.
    spelled = sorted({known.get(t, t.lower()) for t in terminals if t in known or not t.startswith("__")})
    if not spelled:  # Lark found no terminal that could follow: say so rather than guess
        return "a different token here"
    if len(spelled) == 1:
        return spelled[0]
    return "one of " + ", ".join(spelled[:-1]) + " or " + spelled[-1]


def _accepted(exc: UnexpectedInput) -> set[str]:
    """Terminals the parser would really take here (after reductions), not just the state's."""
    accepts = getattr(exc, "accepts", None)
    return set(accepts or getattr(exc, "expected", None) or ())


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    if token.type == "_NL":
        return "a new line"
    return f"`{token.value}`"


def _point(source: Source, line: int, column: int, width: int = 1) -> Span:
    return Span(source.filename, line, column, line, column + width)


class _Opener(NamedTuple):
    """A bracket left open: `(` or `[`, where it is (1-based)."""

    bracket: str
    line: int
    column: int


def _unclosed(exc: UnexpectedInput, text: str) -> _Opener | None:
    """The bracket left open on an earlier line when the parser stopped at `exc`, if any.

    Found from the text that was parsed (strings and comments blanked: the grammar has no
    other token with a bracket in it), by the post-lexer's rule: a closer closes the last
    bracket still open. It counts the brackets before the offending token, and the token
    itself where the parser (not the lexer) refused it: exactly the tokens the post-lexer
    had passed on when the parse stopped. Only a syntax error pays for this scan.
    """
    token = getattr(exc, "token", None)
    line = getattr(token, "line", None) or getattr(exc, "line", None)
    if line is None:
        return None
    if not isinstance(token, Token) or token.type == "$END":
        end = len(text)  # every token was read (`$END` borrows the position of the last one)
    elif getattr(exc, "token_history", None) is None:
        end = token.end_pos if token.end_pos is not None else len(text)  # the parser refused it
    else:  # Lark's contextual lexer refused it: the post-lexer never saw it
        end = token.start_pos if token.start_pos is not None else len(text)
    code = _NOT_CODE.sub(lambda m: " " * len(m.group(0)), text[:end])
    opened: list[int] = []
    for match in _BRACKET.finditer(code):
        if match.group(0) in "([":
            opened.append(match.start())
        elif opened:
            opened.pop()
    if not opened:
        return None
    at = opened[-1]
    opener_line = text.count("\n", 0, at) + 1
    if opener_line >= line:
        return None
    return _Opener(text[at], opener_line, at - (text.rfind("\n", 0, at) + 1) + 1)


def _syntax_error(exc: UnexpectedInput, source: Source, text: str) -> Diagnostic:
    """The diagnostic for Lark's `exc`, raised parsing ``text`` (the source, or the source
    with the lines of earlier errors blanked)."""
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(exc, source)
    opener = _unclosed(exc, text)
    if opener is not None:
        closer = ")" if opener.bracket == "(" else "]"
        return error(
            codes.E102,
            _point(source, opener.line, opener.column),
            f"`{opener.bracket}` is not closed: the statement runs on into line {getattr(exc, 'line', '?')}",
            f"close it with `{closer}` on its line, or where the call ends",
        )
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return error(
            codes.E103,
            source.end_span(),
            f"unexpected end of the file: expected {_spell(_accepted(exc))}",
            "a `{` may be missing its `}`, or a `(` or `[` its closing bracket",
        )
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    width = max(len(str(token.value)), 1) if token.type != "_NL" else 1
    accepted = _accepted(exc)
    # An operator may follow any value: listing `+ - * /` after each would bury what is missing.
    listed = accepted - _OPERATORS if accepted - _OPERATORS else accepted
    return error(
        codes.E102,
        _point(source, token.line, token.column, width),
        f"expected {_spell(listed)}, found {_found(token)}",
        _token_hint(token, accepted, text),
    )


_OPERATORS = frozenset({"PLUS", "MINUS", "STAR", "SLASH"})
ARITHMETIC_PLACES = (
    "arithmetic (`+ - * /`) computes numbers when the model is compiled: it is allowed in values "
    "(keyword values, list entries, `const`, dimensions, `repeat` counts, block defaults) and in a "
    "`transform`'s shape and domain rules; tensors are changed by ops, e.g. `shift(h, by=1)`"
)


def _token_hint(token: Token, expected: set[str], text: str = "") -> str | None:
    # `net` and `parameters` are keywords only where a declaration or its items begin: lexed
    # as a name (`net=` as a keyword argument), the word is not the problem.
    soft = token.value in ("net", "parameters") and "NAME" not in expected
    if token.type != "STRING" and token.value in KEYWORDS and not soft:
        return f"`{token.value}` is a keyword and cannot be used here"
    before = _char_before(token, text)
    if token.value == "/" and before == "/":
        return "there is no `//`: `/` divides exactly, and where a whole number is required the division must be exact"
    if token.value == "*" and before == "*":
        return "there is no power operator `**`: write the product, e.g. `c * c`"
    signed = token.type == "SIGNED_NUMBER" and str(token.value)[:1] in "+-"
    if (token.value in ("+", "-", "*", "/") or signed) and not expected & _OPERATORS:
        return ARITHMETIC_PLACES
    if token.type == "_NL" and ("RPAR" in expected or "RSQB" in expected):
        return "a bracket is not closed"
    if token.type == "NAME" and "_NL" in expected:
        return "statements end at a new line or `;`"
    return None


def _char_before(token: Token, text: str) -> str:
    """The character just before ``token`` in ``text`` ("" at the start or without a position)."""
    position = token.start_pos
    return text[position - 1] if position and 0 < position <= len(text) else ""


def _bad_character(exc: UnexpectedCharacters, source: Source) -> Diagnostic:
    position = exc.pos_in_stream
    assert position is not None, "UnexpectedCharacters records where the lexer stopped"
    char = source.text[position] if position < len(source.text) else exc.char
    span = _point(source, exc.line, exc.column)
    if not char.isascii():
        return error(
            codes.E101,
            span,
            f"non-ASCII character `{char}` (U+{ord(char):04X}): names and syntax are ASCII only",
            "rename it with ASCII letters, digits and `_`; text may use any character inside a `doc` string",
        )
    if char == '"':
        return error(codes.E101, span, "this string is not closed before the end of the line", 'close it with `"`')
    return error(codes.E101, span, f"unexpected character `{char}`", None)


# ---------------------------------------------------------------------------------------------
# Parse tree → AST


class _AstError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


Argument = ast.Value | ast.Keyword  # a call's argument, positional or keyword

# Tokens that carry a value into the AST; the others (punctuation, keywords, newlines) only
# mark where a construct starts and ends.
_VALUE_TOKENS = frozenset({"NAME", "SIGNED_NUMBER", "STRING"})


def _edge_token(tree: Tree[Token], last: bool) -> Token | None:
    """The first (or last) token of ``tree``, descending through subtrees; None if it has none."""
    for child in reversed(tree.children) if last else tree.children:
        if isinstance(child, Token):
            return child
        if isinstance(child, Tree):
            found = _edge_token(child, last)
            if found is not None:
                return found
    return None


def _token_span(filename: str, first: Token, last: Token) -> Span:
    """From the start of ``first`` to the end of ``last``. Lark's lexer gives every token its
    position; the Token type leaves them optional for tokens made by hand."""
    assert first.line is not None and first.column is not None, first
    assert last.end_line is not None and last.end_column is not None, last
    return Span(filename, first.line, first.column, last.end_line, last.end_column)


class ToAst:
    """Builds frozen AST nodes from the parse tree; rejects keywords used as names and
    malformed literals.

    Each rule (or alias) of the grammar has a method of its name, called bottom-up as
    ``method(tree, *values)``: the rule's subtree (for its span) and its children converted,
    value tokens (names, numbers, strings) as tokens, missing optional parts as None, and
    punctuation left out.
    """

    def __init__(self, source: Source) -> None:
        self.source = source

    def transform(self, tree: Tree[Token]) -> ast.Module:
        return cast(ast.Module, self._visit(tree))  # the grammar's `start` rule makes a Module

    def _visit(self, tree: Tree[Token]) -> object:
        values: list[object] = []
        for child in tree.children:
            if isinstance(child, Tree):
                values.append(self._visit(child))
            elif child is None or child.type in _VALUE_TOKENS:
                values.append(child)
        built: object = getattr(self, tree.data)(tree, *values)  # the rule's method, looked up by name
        return built

    def _span(self, tree: Tree[Token]) -> Span:
        """From the subtree's first token to its last, as the user wrote it."""
        first, last = _edge_token(tree, False), _edge_token(tree, True)
        assert first is not None and last is not None, f"no token in {tree.data}"
        return _token_span(self.source.filename, first, last)

    def satom(self, meta: Tree[Token], inner: ast.ShapeExpr) -> ast.ShapeExpr:
        """`( sexpr )` in a shape rule: the expression inside, spanning what it spans."""
        return inner

    def _tok_span(self, token: Token) -> Span:
        return _token_span(self.source.filename, token, token)

    def _binding(self, token: Token) -> ast.Name:
        """A name that is being declared: keywords are refused here."""
        name = ast.Name(str(token), self._tok_span(token))
        if name.text in KEYWORDS:
            raise _AstError(
                error(
                    codes.E104,
                    name.span,
                    f"`{name.text}` is a keyword and cannot be used as a name",
                    f"choose another name, e.g. `{name.text}_`",
                )
            )
        return name

    # declarations ---------------------------------------------------------------------------
    def start(self, meta: Tree[Token], *decls: ast.Declaration) -> ast.Module:
        return ast.Module(tuple(decls), self.source.filename)

    def const_decl(self, meta: Tree[Token], name: Token, value: ast.Value) -> ast.ConstDecl:
        return ast.ConstDecl(self._binding(name), value, self._span(meta))

    def model_decl(self, meta: Tree[Token], name: Token, body: tuple[ast.Statement, ...]) -> ast.ModelDecl:
        return ast.ModelDecl(self._binding(name), body, self._span(meta))

    def body(self, meta: Tree[Token], *stmts: ast.Statement | None) -> tuple[ast.Statement, ...]:
        return tuple(s for s in stmts if s is not None)

    # statements -----------------------------------------------------------------------------
    def block_decl(
        self, meta: Tree[Token], name: Token, params: tuple[ast.BlockParam, ...] | None, body: tuple[ast.Statement, ...]
    ) -> ast.BlockDecl:
        return ast.BlockDecl(self._binding(name), params or (), body, self._span(meta))

    def block_params(self, meta: Tree[Token], *params: ast.BlockParam) -> tuple[ast.BlockParam, ...]:
        return params

    def block_param(self, meta: Tree[Token], name: Token, default: ast.Value | None = None) -> ast.BlockParam:
        return ast.BlockParam(self._binding(name), default, self._span(meta))

    def transform_decl(
        self,
        meta: Tree[Token],
        name: Token,
        params: tuple[ast.BlockParam, ...] | None,
        kind: Token,
        items: list[tuple[str, object, Span]],
    ) -> ast.TransformDecl:
        found: dict[str, object] = {}
        for keyword, value, _span in items:
            found.setdefault(keyword, value)
        # Each value is what the item's method (`impl_item`, `shape_item`, ...) made for its keyword.
        return ast.TransformDecl(
            self._binding(name),
            params or (),
            ast.Name(str(kind), self._tok_span(kind)),
            cast("ast.String | None", found.get("impl")),
            cast("tuple[ast.ShapeSide, ast.ShapeSide] | None", found.get("shape")),
            cast("tuple[ast.DomainRef, ast.DomainRef | None] | None", found.get("domain")),
            cast("ast.DomainRef | None", found.get("fold")),
            self._span(meta),
            tuple((keyword, span) for keyword, _, span in items),
            cast("tuple[ast.ShapeSide, ast.ShapeSide] | None", found.get("net")),
            cast("ast.ShapeExpr | None", found.get("parameters")),
        )

    def net_decl(
        self,
        meta: Tree[Token],
        name: Token,
        params: tuple[ast.BlockParam, ...] | None,
        items: list[tuple[str, object, Span]],
    ) -> ast.NetDecl:
        found: dict[str, object] = {}
        for keyword, value, _span in items:
            found.setdefault(keyword, value)
        return ast.NetDecl(
            self._binding(name),
            params or (),
            cast("ast.String | None", found.get("impl")),
            cast("tuple[ast.ShapeSide, ast.ShapeSide] | None", found.get("shape")),
            cast("ast.ShapeExpr | None", found.get("parameters")),
            self._span(meta),
            tuple((keyword, span) for keyword, _, span in items),
        )

    def net_body(self, meta: Tree[Token], *items: tuple[str, object, Span] | None) -> list[tuple[str, object, Span]]:
        return [i for i in items if i is not None]

    def net_slot_item(self, meta: Tree[Token], left: ast.ShapeSide, right: ast.ShapeSide) -> tuple[str, object, Span]:
        return ("net", (left, right), self._span(meta))

    def parameters_item(self, meta: Tree[Token], expr: ast.ShapeExpr) -> tuple[str, object, Span]:
        return ("parameters", expr, self._span(meta))

    def transform_body(
        self, meta: Tree[Token], *items: tuple[str, object, Span] | None
    ) -> list[tuple[str, object, Span]]:
        return [i for i in items if i is not None]

    def impl_item(self, meta: Tree[Token], text: Token) -> tuple[str, object, Span]:
        return ("impl", ast.String(self._decode(text), self._tok_span(text)), self._span(meta))

    def shape_item(self, meta: Tree[Token], left: ast.ShapeSide, right: ast.ShapeSide) -> tuple[str, object, Span]:
        return ("shape", (left, right), self._span(meta))

    def shape_side(self, meta: Tree[Token], *dims: ast.ShapeExpr | Token) -> ast.ShapeSide:
        if len(dims) == 1 and isinstance(dims[0], Token):  # `same`
            return ast.ShapeSide(None, self._span(meta))
        exprs = tuple(d for d in dims if not isinstance(d, Token))  # only `same` comes as a token
        return ast.ShapeSide(exprs, self._span(meta))

    def s_name(self, meta: Tree[Token], token: Token) -> ast.ShapeName:
        return ast.ShapeName(str(token), self._tok_span(token))

    def s_num(self, meta: Tree[Token], token: Token) -> ast.ShapeExpr:
        number = self.number(meta, token)
        return ast.ShapeNumber(number.value, number.span)

    def s_neg(self, meta: Tree[Token], operand: ast.ShapeExpr) -> ast.ShapeBinary:
        zero = ast.ShapeNumber(0, self._span(meta))
        return ast.ShapeBinary("-", zero, operand, self._span(meta))

    def _binary(self, op: str, meta: Tree[Token], left: ast.ShapeExpr, right: ast.ShapeExpr) -> ast.ShapeBinary:
        return ast.ShapeBinary(op, left, right, self._span(meta))

    def s_add(self, meta: Tree[Token], left: ast.ShapeExpr, right: ast.ShapeExpr) -> ast.ShapeBinary:
        return self._binary("+", meta, left, right)

    def s_sub(self, meta: Tree[Token], left: ast.ShapeExpr, right: ast.ShapeExpr) -> ast.ShapeBinary:
        return self._binary("-", meta, left, right)

    def s_mul(self, meta: Tree[Token], left: ast.ShapeExpr, right: ast.ShapeExpr) -> ast.ShapeBinary:
        return self._binary("*", meta, left, right)

    def s_div(self, meta: Tree[Token], left: ast.ShapeExpr, right: ast.ShapeExpr) -> ast.ShapeBinary:
        return self._binary("/", meta, left, right)

    def domain_item(
        self, meta: Tree[Token], first: ast.DomainRef, second: ast.DomainRef | None = None
    ) -> tuple[str, object, Span]:
        return ("domain", (first, second), self._span(meta))

    def domain_side(self, meta: Tree[Token], name: Token, *args: ast.ShapeExpr | None) -> ast.DomainRef:
        values = tuple(a for a in args if a is not None)
        return ast.DomainRef(ast.Name(str(name), self._tok_span(name)), values, self._span(meta))

    def fold_item(self, meta: Tree[Token], region: ast.DomainRef) -> tuple[str, object, Span]:
        return ("fold", region, self._span(meta))

    def context_decl(self, meta: Tree[Token], name: Token, type_: ast.TypeExpr) -> ast.ContextDecl:
        return ast.ContextDecl(self._binding(name), type_, self._span(meta))

    def return_stmt(self, meta: Tree[Token], *names: Token) -> ast.Return:
        return ast.Return(tuple(self._binding(n) for n in names), self._span(meta))

    def doc(self, meta: Tree[Token], text: Token) -> ast.Doc:
        return ast.Doc(self._decode(text), self._span(meta))

    def input_decl(self, meta: Tree[Token], name: Token, type_: ast.TypeExpr) -> ast.InputDecl:
        return ast.InputDecl(self._binding(name), type_, self._span(meta))

    def type(self, meta: Tree[Token], domain: Token, *rest: tuple[ast.Value, ...] | None) -> ast.TypeExpr:
        args, dims = (rest[0] or (), rest[1]) if len(rest) == 2 else ((), rest[0])
        assert dims is not None, "the grammar's dims are not optional"
        return ast.TypeExpr(ast.Name(str(domain), self._tok_span(domain)), tuple(args), tuple(dims), self._span(meta))

    def domain_args(self, meta: Tree[Token], *values: ast.Value) -> tuple[ast.Value, ...]:
        return values

    def dims(self, meta: Tree[Token], *values: ast.Value) -> tuple[ast.Value, ...]:
        return values

    def assign(
        self, meta: Tree[Token], targets: tuple[ast.Name, ...] | Token, value: ast.Pipeline | ast.Ident | ast.Call
    ) -> ast.Assign:
        # A single target and a pipeline without stages come inlined (`?` rules in the grammar).
        names = (self._binding(targets),) if isinstance(targets, Token) else targets
        if not isinstance(value, ast.Pipeline):
            value = ast.Pipeline(value, (), value.span)
        return ast.Assign(names, value, self._span(meta))

    def targets(self, meta: Tree[Token], *names: Token) -> tuple[ast.Name, ...]:
        return tuple(self._binding(n) for n in names)

    def pipeline(self, meta: Tree[Token], head: ast.Ident | ast.Call, *stages: ast.Call) -> ast.Pipeline:
        return ast.Pipeline(head, stages, self._span(meta))

    def tilde(self, meta: Tree[Token], target: Token, dist: ast.Call) -> ast.Tilde:
        return ast.Tilde(ast.Name(str(target), self._tok_span(target)), dist, self._span(meta))

    def repeat(self, meta: Tree[Token], count: ast.Value, body: tuple[ast.Statement, ...]) -> ast.Repeat:
        return ast.Repeat(count, body, self._span(meta))

    # calls and values -----------------------------------------------------------------------
    def call(self, meta: Tree[Token], callee: Token, args: list[Argument] | Argument | None) -> ast.Call:
        # One argument comes inlined (`?args`): a value or keyword, never a Python list.
        items = [] if args is None else args if isinstance(args, list) else [args]
        positional = tuple(a for a in items if not isinstance(a, ast.Keyword))
        kwargs = tuple(a for a in items if isinstance(a, ast.Keyword))
        return ast.Call(ast.Name(str(callee), self._tok_span(callee)), positional, kwargs, self._span(meta))

    def args(self, meta: Tree[Token], *items: Argument) -> list[Argument]:
        return list(items)

    def kwarg(self, meta: Tree[Token], name: Token, value: ast.Value) -> ast.Keyword:
        return ast.Keyword(ast.Name(str(name), self._tok_span(name)), value, self._span(meta))

    def number(self, meta: Tree[Token], token: Token) -> ast.Number:
        text = str(token)
        is_int = not any(c in text for c in ".eE")
        # Over 19 digits is over 2**63 - 1; and int() raises (ValueError) past 4,300 digits.
        too_long = is_int and len(text.lstrip("+-").lstrip("0")) > 19
        value: int | float = (2**63 if too_long else int(text)) if is_int else float(text)
        if not is_int and not math.isfinite(value):
            raise _AstError(
                error(
                    codes.E105,
                    self._tok_span(token),
                    f"number `{text}` is too large to represent",
                    "use a finite number",
                )
            )
        if is_int and abs(value) > 2**63 - 1:
            raise _AstError(
                error(
                    codes.E105,
                    self._tok_span(token),
                    f"integer `{text if len(text) <= 40 else text[:20] + '…'}` "
                    f"({len(text.lstrip('+-'))} digits) is too large",
                    "use a number below 2**63",
                )
            )
        return ast.Number(value, self._tok_span(token))

    def string(self, meta: Tree[Token], token: Token) -> ast.String:
        return ast.String(self._decode(token), self._tok_span(token))

    def true(self, meta: Tree[Token]) -> ast.Bool:
        return ast.Bool(True, self._span(meta))

    def false(self, meta: Tree[Token]) -> ast.Bool:
        return ast.Bool(False, self._span(meta))

    def list(self, meta: Tree[Token], *items: ast.Value | None) -> ast.ListValue:
        return ast.ListValue(tuple(i for i in items if i is not None), self._span(meta))

    def ident(self, meta: Tree[Token], token: Token) -> ast.Ident:
        return ast.Ident(str(token), self._tok_span(token))

    # arithmetic in values (computed by compiler/frontend/arith.py) ----------------------------
    def v_group(self, meta: Tree[Token], inner: ast.Value) -> ast.Value:
        """`( value )`: the value inside; the formatter puts back the parentheses it needs."""
        return inner

    def v_neg(self, meta: Tree[Token], operand: ast.Value) -> ast.Value:
        # `-(2)` and `- 2` are the number -2, as `-2` is: one spelling per value keeps the
        # formatter's round trip (it prints the number) an identity on the tree.
        if isinstance(operand, ast.Number):
            return ast.Number(-operand.value, self._span(meta))
        return ast.Negate(operand, self._span(meta))

    def _arith(self, op: str, meta: Tree[Token], left: ast.Value, right: ast.Value) -> ast.Arith:
        return ast.Arith(op, left, right, self._span(meta))

    def v_add(self, meta: Tree[Token], left: ast.Value, right: ast.Value) -> ast.Arith:
        return self._arith("+", meta, left, right)

    def v_sub(self, meta: Tree[Token], left: ast.Value, right: ast.Value) -> ast.Arith:
        return self._arith("-", meta, left, right)

    def v_mul(self, meta: Tree[Token], left: ast.Value, right: ast.Value) -> ast.Arith:
        return self._arith("*", meta, left, right)

    def v_div(self, meta: Tree[Token], left: ast.Value, right: ast.Value) -> ast.Arith:
        return self._arith("/", meta, left, right)

    def _decode(self, token: Token) -> str:
        """The text of a string literal; only `\\"`, `\\\\` and `\\n` are escapes."""
        raw, out, i = str(token)[1:-1], [], 0
        while i < len(raw):
            if raw[i] != "\\":
                out.append(raw[i])
                i += 1
                continue
            escaped = raw[i + 1]
            if escaped not in _ESCAPES:
                start = self._tok_span(token)
                column = start.column + 1 + i
                span = Span(self.source.filename, start.line, column, start.line, column + 2)
                raise _AstError(
                    error(
                        codes.E105,
                        span,
                        f"unknown escape `\\{escaped}` in a string",
                        'the escapes are `\\"`, `\\\\` and `\\n`',
                    )
                )
            out.append(_ESCAPES[escaped])
            i += 2
        return "".join(out)
