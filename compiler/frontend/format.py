"""`survae-fmt`: print a `.survae` file in the one canonical layout, keeping every comment.

The formatter prints the AST, so the layout of the input does not matter, only its meaning and
its comments. Before returning, it re-parses its own output and compares the two ASTs with
their spans stripped: a formatter bug raises `InternalError` instead of changing a model. Equal
ASTs lower to the same graph (ops, keywords, tensors); only the line numbers quoted by
diagnostics and by comments in generated code move.

Canonical style
---------------
- 4-space indentation; no tabs; no trailing whitespace; the file ends with one newline.
- One statement per line: `a = f(x); b = g(a)` becomes two lines. Bodies of `model`, `block`,
  `repeat` and `transform` open with `{` at the end of the header line and close with `}` on a
  line of its own; an empty body with no comments is `{}`.
- Blank lines: the input's grouping is kept, runs of blank lines collapse to one, and there is
  never a blank line right after a `{` or before a `}`. Top-level `model`, `block` and
  `transform` declarations are always separated from their neighbours by one blank line.
- Spacing: `key=value`, `, ` between arguments, `[1, 2]`, `a |> f() |> g()` (pipelines stay
  pipelines), `h, d = split(h)`, `t ~ normal()`, `return a, b`, `input x: real[2]`,
  `context c: real[2]`, `block name(h, k=default) {`, `transform t(h, k=1): bijective {`.
- Calls print positional arguments first, then keywords (the AST keeps them apart).
- Types: `real[2]`, `int<4>[2, 3]` (one domain argument: `<K>`), `interval(-1, 1)[2]`.
- `transform` items one per line: `impl "m:C"`, `shape [C, L] -> [C, L / 2]` (shape arithmetic
  spaced, parenthesised only where needed), `domain real -> interval(-b, b)`, `fold positive`.
- Arithmetic in values: `4 * c`, `1 / 4`, `-(a + b)`: operators spaced, parentheses only where
  precedence needs them (a negated number is the number: `-(2)` prints `-2`).
- Numbers keep the text they were written with (`1e-3`, `-0.5`, `.5`); strings are re-escaped
  with `\\"`, `\\\\` and `\\n`.
- A statement whose line would be longer than 100 characters has its longest call wrapped, one
  argument per line, indented one level more, each with a trailing comma, and the closing `)`
  on its own line; nested calls wrap the same way if their line is still too long. Calls that
  fit are joined onto one line. Lists never wrap.
- Comments: a full-line comment stays above the statement (or declaration, transform item,
  call argument) that follows it, or at the end of its block; a trailing comment stays at the
  end of its statement's last line, two spaces after the code. Trailing comments of
  consecutive lines at one indentation are aligned two spaces past the longest of them; a
  line ending in `{` or `(`, or starting with `}` or `)`, is never aligned with others.
- A comment inside a call's parentheses forces that call to wrap, so that it keeps its place
  after `(`, after its argument, or above it. A comment where the canonical layout has no
  line for it (inside a list, a type, or a header's parameters) moves to a full line just
  above its statement or argument, or after the `{` of its block. No comment is ever
  dropped; the text of each is kept, less trailing spaces.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from lark import Token, Tree

from ..core.diagnostics import CompileError, InternalError
from ..core.files import write_atomic
from ..core.gc_pause import paused_gc
from ..core.source import Source, Span
from . import syntax as ast
from .arith import needs_parentheses
from .parse import ToAst, parse, parse_tree

WIDTH = 100
INDENT = "    "

# The grammar's STRING and COMMENT terminals: a `#` inside a string is not a comment.
_STRING_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\\n])*"|#[^\n]*')
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_BRACED = (ast.ModelDecl, ast.BlockDecl, ast.TransformDecl, ast.NetDecl)


# ---------------------------------------------------------------------------------------------
# Public API


def format_source(text: str, filename: str = "<string>") -> str:
    """The canonical text of a `.survae` file; raises `CompileError` on a syntax error.

    Raises `InternalError` rather than return a text whose AST or comments differ.
    """
    source = Source(filename, text)
    module = parse(source)
    formatted = _Printer(source, module).print_module()
    _verify(source, module, formatted)
    return formatted


def strip_spans(node: object) -> object:
    """A span-free, comparable picture of an AST: equal pictures mean equal meaning.

    Numbers keep their type (`1` is not `1.0`) and floats their sign (`-0.0`), which `==` on
    the dataclasses would not distinguish.
    """
    if isinstance(node, Span):
        return None
    if is_dataclass(node) and not isinstance(node, type):
        kept = tuple(strip_spans(getattr(node, f.name)) for f in fields(node) if f.name != "span")
        return (type(node).__name__, kept)
    if isinstance(node, (tuple, list)):
        return tuple(strip_spans(item) for item in node)
    if isinstance(node, bool):
        return ("bool", node)
    if isinstance(node, int):
        return ("int", node)
    if isinstance(node, float):
        return ("float", node.hex())
    return node


def _verify(source: Source, module: ast.Module, formatted: str) -> None:
    """Re-parse the output: same AST (spans aside) and the same comments, or a bug of ours."""
    try:
        again = parse(Source(source.filename, formatted))
    except CompileError as exc:
        raise InternalError(f"survae-fmt produced text that does not parse: {exc}") from None
    if strip_spans(again) != strip_spans(module):
        raise InternalError(f"survae-fmt would change the meaning of {source.filename}; left it as it was")
    before = sorted(c.text for c in scan_comments(source.text))
    after = sorted(c.text for c in scan_comments(formatted))
    if before != after:
        raise InternalError(f"survae-fmt would lose or change a comment of {source.filename}; left it as it was")


# ---------------------------------------------------------------------------------------------
# Comments and where they belong


@dataclass
class Comment:
    """A `#` comment: where it is, its text, and whether it has the line to itself."""

    line: int
    column: int
    text: str
    own_line: bool
    blank: bool = False  # a blank line right above it (full-line comments only)

    @property
    def pos(self) -> tuple[int, int]:
        return (self.line, self.column)


def scan_comments(text: str) -> list[Comment]:
    """Every comment of a file that parses, in order.

    A regex over the grammar's own STRING and COMMENT terminals is exact here: no other token
    can contain `"` or `#`, and the file parsed, so every string is closed.
    """
    found: list[Comment] = []
    for match in _STRING_OR_COMMENT.finditer(text):
        if not match.group().startswith("#"):
            continue
        start = match.start()
        line_start = text.rfind("\n", 0, start) + 1
        own = text[line_start:start].strip() == ""
        line = text.count("\n", 0, start) + 1
        found.append(Comment(line, start - line_start + 1, match.group().rstrip(), own))
    return found


@dataclass
class _Notes:
    """The comments that travel with one printed node (statement, declaration, item, argument)."""

    leading: list[Comment] = field(default_factory=list)  # full-line comments above it
    moved: list[Comment] = field(default_factory=list)  # comments from inside it, moved above
    trailing: Comment | None = None  # at the end of its last line
    blank: bool = False  # a blank line right above the node itself

    def __bool__(self) -> bool:
        return bool(self.leading or self.moved or self.trailing)


@dataclass
class _Box:
    """The comments of a container's own lines: after its `{`/`(`, and before its `}`/`)`."""

    header: Comment | None = None
    footer: list[Comment] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.header or self.footer)


@dataclass(frozen=True, eq=False)
class _Item:
    """One item of a `transform` body, with its value (the AST keeps only the first of each)."""

    keyword: str
    value: Any
    span: Span


Node = Any  # an AST node, a `_Item`, or the module


def _start(node: Node) -> tuple[int, int]:
    return (node.span.line, node.span.column)


def _end(node: Node) -> tuple[int, int]:
    return (node.span.end_line, node.span.end_column)


def _contains(node: Node, comment: Comment) -> bool:
    return _start(node) <= comment.pos < _end(node)


class _Comments:
    """Attaches each comment to the node whose printed line will carry it.

    Attachment depends only on the structure, never on the input's layout beyond which line a
    comment is on, and the printer puts each comment back where attachment finds it again:
    that is what makes formatting idempotent.
    """

    def __init__(self, source: Source, module: ast.Module, items: dict[int, list[_Item]]) -> None:
        self.source = source
        self.items = items
        self.notes: dict[int, _Notes] = {}
        self.boxes: dict[int, _Box] = {}
        for comment in scan_comments(source.text):
            comment.blank = comment.own_line and self._blank_above(comment.line)
            self._attach(module, comment)

    def of(self, node: Node) -> _Notes:
        return self.notes.setdefault(id(node), _Notes())

    def box(self, node: Node) -> _Box:
        return self.boxes.setdefault(id(node), _Box())

    def blank_before(self, node: Node) -> bool:
        """A blank line right above a node that starts its line (not one after a `;` or `{`)."""
        line = self.source.line_text(node.span.line)
        return line[: node.span.column - 1].strip() == "" and self._blank_above(node.span.line)

    def _blank_above(self, line: int) -> bool:
        return line > 1 and self.source.line_text(line - 1).strip() == ""

    # structure ------------------------------------------------------------------------------
    def children(self, node: Node) -> list[Node]:
        """The nodes printed on lines of their own inside `node`, in source order."""
        if isinstance(node, ast.Module):
            return list(node.declarations)
        if isinstance(node, (ast.ModelDecl, ast.BlockDecl, ast.Repeat)):
            return list(node.body)
        if isinstance(node, (ast.TransformDecl, ast.NetDecl)):
            return list(self.items.get(id(node), []))
        if isinstance(node, ast.Call):
            return sorted([*node.args, *node.kwargs], key=_start)
        return []

    @staticmethod
    def inner_calls(node: Node) -> list[ast.Call]:
        """Calls directly inside a statement or argument, each a container of its own."""
        if isinstance(node, ast.Assign):
            parts: list[Any] = [node.value.head, *node.value.stages]
        elif isinstance(node, ast.Tilde):
            parts = [node.dist]
        elif isinstance(node, (ast.ConstDecl, ast.Keyword)):
            parts = [node.value]
        else:
            parts = []
        return [p for p in parts if isinstance(p, ast.Call)]

    @staticmethod
    def is_container(node: Node) -> bool:
        return isinstance(
            node, (ast.Module, ast.ModelDecl, ast.BlockDecl, ast.Repeat, ast.TransformDecl, ast.NetDecl, ast.Call)
        )

    # attachment -----------------------------------------------------------------------------
    def _attach(self, container: Node, comment: Comment) -> None:
        kids = self.children(container)
        holder = next((k for k in kids if _contains(k, comment)), None)
        if holder is not None:
            self._attach_inside(holder, comment)
            return
        if not comment.own_line:
            ending = [k for k in kids if k.span.end_line == comment.line and _end(k) <= comment.pos]
            if ending:
                self._set_trailing(ending[-1], comment)
                return
            box = self.box(container)
            before_kids = all(_start(k) > comment.pos for k in kids)
            if before_kids and box.header is None and not isinstance(container, ast.Module):
                box.header = comment
                return
            comment.blank = False
        following = next((k for k in kids if _start(k) > comment.pos), None)
        if following is not None:
            self.of(following).leading.append(comment)
        else:
            self.box(container).footer.append(comment)

    def _attach_inside(self, node: Node, comment: Comment) -> None:
        if self.is_container(node):
            self._attach(node, comment)
            return
        call = next((c for c in self.inner_calls(node) if _contains(c, comment)), None)
        if call is not None:
            self._attach(call, comment)
            return
        comment.blank = False
        self.of(node).moved.append(comment)

    def _set_trailing(self, node: Node, comment: Comment) -> None:
        notes = self.of(node)
        if notes.trailing is None:
            notes.trailing = comment
        else:  # cannot happen (one comment per line), but never drop one
            comment.blank = False
            notes.moved.append(comment)

    # queries --------------------------------------------------------------------------------
    def has_any(self, call: ast.Call) -> bool:
        """Whether printing `call` on one line would leave a comment nowhere to go."""
        if self.boxes.get(id(call)):
            return True
        for kid in self.children(call):
            if self.notes.get(id(kid)):
                return True
            inner = [kid] if isinstance(kid, ast.Call) else self.inner_calls(kid)
            if any(self.has_any(c) for c in inner):
                return True
        return False


def _transform_items(source: Source, module: ast.Module) -> dict[int, list[_Item]]:
    """Every item of every `transform`, repeated ones included (the AST keeps the first only).

    A repeated item is an error the checker reports; the formatter must still print it as it
    was, not drop it. Needs a second parse, done only for files with a `transform`.
    """
    decls = [d for d in module.declarations if isinstance(d, (ast.TransformDecl, ast.NetDecl))]
    if not decls:
        return {}
    recorded: dict[tuple[int, int], list[_Item]] = {}

    class _Recorder(ToAst):
        def transform_decl(self, meta: Tree[Token], name: Token, params: Any, kind: Token, items: Any) -> Any:
            decl = super().transform_decl(meta, name, params, kind, items)
            recorded[_start(decl)] = [_Item(keyword, value, span) for keyword, value, span in items]
            return decl

        def net_decl(self, meta: Tree[Token], name: Token, params: Any, items: Any) -> Any:
            decl = super().net_decl(meta, name, params, items)
            recorded[_start(decl)] = [_Item(keyword, value, span) for keyword, value, span in items]
            return decl

    _Recorder(source).transform(parse_tree(source.text))
    return {id(d): recorded.get(_start(d), []) for d in decls}


# ---------------------------------------------------------------------------------------------
# Printing


@dataclass
class _Line:
    """One output line: its code (with indentation) and the trailing comment it carries."""

    text: str
    comment: str | None = None


_Part = ast.Value  # one element of a pipeline (an identifier or a call) or any value


class _Printer:
    """Prints a module canonically; all layout decisions live here."""

    def __init__(self, source: Source, module: ast.Module) -> None:
        self.source = source
        self.module = module
        self.items = _transform_items(source, module)
        self.comments = _Comments(source, module, self.items)
        self.out: list[_Line] = []

    def print_module(self) -> str:
        previous: ast.Declaration | None = None
        for decl in self.module.declarations:
            separate = previous is not None and (isinstance(decl, _BRACED) or isinstance(previous, _BRACED))
            self._node(decl, "", first=previous is None, force_blank=separate)
            previous = decl
        self._footer(self.comments.box(self.module), "", first=previous is None)
        if not self.out:
            return ""
        return "\n".join(_aligned(self.out)) + "\n"

    # nodes with their comments ----------------------------------------------------------------
    def _node(self, node: Node, indent: str, first: bool, force_blank: bool = False) -> None:
        """A statement, declaration or item on its own lines, with the comments around it."""
        notes = self.comments.of(node)
        node_blank = self.comments.blank_before(node)
        above = [(c.blank, c) for c in notes.leading] + [(False, c) for c in notes.moved]
        if notes.moved:  # the node's blank line goes above the comments moved out of it
            above[len(notes.leading)] = (node_blank, notes.moved[0])
            node_blank = False
        for index, (blank, comment) in enumerate(above):
            self._blank(blank or (force_blank and index == 0), first and index == 0)
            self.out.append(_Line(indent + comment.text))
        self._blank(node_blank or (force_blank and not above), first and not above)
        lines = self._lines(node, indent)
        if notes.trailing is not None:
            lines[-1].comment = notes.trailing.text
        self.out.extend(lines)

    def _blank(self, wanted: bool, first: bool) -> None:
        if wanted and not first and self.out and self.out[-1].text != "":
            self.out.append(_Line(""))

    def _footer(self, box: _Box, indent: str, first: bool) -> None:
        for index, comment in enumerate(box.footer):
            self._blank(comment.blank, first and index == 0)
            self.out.append(_Line(indent + comment.text))

    def _lines(self, node: Node, indent: str) -> list[_Line]:
        if isinstance(node, (ast.ModelDecl, ast.BlockDecl, ast.Repeat, ast.TransformDecl, ast.NetDecl)):
            return self._braced(node, indent)
        if isinstance(node, ast.Assign):
            parts: list[_Part] = [node.value.head, *node.value.stages]
            return self._chain(indent, ", ".join(t.text for t in node.targets) + " = ", parts, "")
        if isinstance(node, ast.Tilde):
            return self._chain(indent, f"{node.target.text} ~ ", [node.dist], "")
        if isinstance(node, ast.ConstDecl):
            return self._chain(indent, f"const {node.name.text} = ", [node.value], "")
        return [_Line(indent + self._simple(node))]

    def _simple(self, node: Node) -> str:
        """A statement or item that always fits on one line."""
        if isinstance(node, ast.Doc):
            return f"doc {_string(node.text)}"
        if isinstance(node, ast.InputDecl):
            return f"input {node.name.text}: {self._type(node.type)}"
        if isinstance(node, ast.ContextDecl):
            return f"context {node.name.text}: {self._type(node.type)}"
        if isinstance(node, ast.Return):
            return "return " + ", ".join(n.text for n in node.names)
        if isinstance(node, _Item):
            return self._item(node)
        raise InternalError(f"survae-fmt cannot print a {type(node).__name__}")

    def _braced(self, node: Node, indent: str) -> list[_Line]:
        """`header {`, the body one level deeper, `}`: printed into `self.out` directly."""
        box = self.comments.box(node)
        kids = self.comments.children(node)
        header = indent + self._header(node) + " {"
        if not kids and not box:
            return [_Line(header + "}")]
        self.out.append(_Line(header, box.header.text if box.header else None))
        for index, kid in enumerate(kids):
            self._node(kid, indent + INDENT, first=index == 0)
        self._footer(box, indent + INDENT, first=not kids)
        return [_Line(indent + "}")]

    def _header(self, node: Node) -> str:
        if isinstance(node, ast.ModelDecl):
            return f"model {node.name.text}"
        if isinstance(node, ast.BlockDecl):
            return f"block {node.name.text}({self._params(node.params)})"
        if isinstance(node, ast.TransformDecl):
            return f"transform {node.name.text}({self._params(node.params)}): {node.kind.text}"
        if isinstance(node, ast.NetDecl):
            return f"net {node.name.text}({self._params(node.params)})"
        return f"repeat {self._flat(node.count)}"

    def _params(self, params: Iterable[ast.BlockParam]) -> str:
        return ", ".join(p.name.text if p.default is None else f"{p.name.text}={self._flat(p.default)}" for p in params)

    # values --------------------------------------------------------------------------------
    def _flat(self, value: ast.Value | ast.Keyword) -> str:
        """A value on one line."""
        if isinstance(value, ast.Keyword):
            return f"{value.name.text}={self._flat(value.value)}"
        if isinstance(value, ast.Number):
            return self._number(value.value, value.span)
        if isinstance(value, ast.Bool):
            return "true" if value.value else "false"
        if isinstance(value, ast.String):
            return _string(value.value)
        if isinstance(value, ast.Ident):
            return value.name
        if isinstance(value, ast.ListValue):
            return "[" + ", ".join(self._flat(v) for v in value.items) + "]"
        if isinstance(value, ast.Call):
            return f"{value.callee.text}(" + ", ".join(self._flat(a) for a in _arguments(value)) + ")"
        if isinstance(value, ast.Arith):  # spaced, parenthesised only where precedence needs it
            left, right = self._flat(value.left), self._flat(value.right)
            if needs_parentheses(value.left, value.op, right_side=False):
                left = f"({left})"
            if needs_parentheses(value.right, value.op, right_side=True):
                right = f"({right})"
            return f"{left} {value.op} {right}"
        if isinstance(value, ast.Negate):  # never of a number: `-(2)` parses as the number -2
            inner = self._flat(value.operand)
            return f"-({inner})" if isinstance(value.operand, ast.Arith) else f"-{inner}"
        raise InternalError(f"survae-fmt cannot print a {type(value).__name__}")

    def _number(self, value: int | float, span: Span) -> str:
        """The number as written when that text means this value, else Python's spelling."""
        written = self._text(span)
        if written is not None and _NUMBER.fullmatch(written) and _same_number(written, value):
            return written
        return repr(value) if isinstance(value, float) else str(value)

    def _text(self, span: Span) -> str | None:
        if span.line != span.end_line:
            return None
        return self.source.line_text(span.line)[span.column - 1 : span.end_column - 1]

    def _type(self, type_: ast.TypeExpr) -> str:
        args = [self._flat(a) for a in type_.domain_args]
        domain = type_.domain.text
        if len(args) == 1:
            domain += f"<{args[0]}>"
        elif args:
            domain += "(" + ", ".join(args) + ")"
        return domain + "[" + ", ".join(self._flat(d) for d in type_.dims) + "]"

    # transform items -----------------------------------------------------------------------
    def _item(self, item: _Item) -> str:
        if item.keyword == "impl":
            return f"impl {_string(item.value.value)}"
        if item.keyword == "shape":
            left, right = item.value
            return f"shape {self._side(left)} -> {self._side(right)}"
        if item.keyword == "domain":
            first, second = item.value
            return f"domain {self._domain(first)}" + (f" -> {self._domain(second)}" if second is not None else "")
        if item.keyword == "net":
            left, right = item.value
            return f"net {self._side(left)} -> {self._side(right)}"
        if item.keyword == "parameters":
            return f"parameters {self._shape(item.value)}"
        return f"fold {self._domain(item.value)}"

    def _side(self, side: ast.ShapeSide) -> str:
        if side.dims is None:  # a name (`same`): the AST keeps only that it was a name
            return self._text(side.span) or "same"
        return "[" + ", ".join(self._shape(d) for d in side.dims) + "]"

    def _domain(self, ref: ast.DomainRef) -> str:
        if not ref.args:
            return ref.name.text
        return f"{ref.name.text}(" + ", ".join(self._shape(a) for a in ref.args) + ")"

    def _shape(self, expr: ast.ShapeExpr) -> str:
        """Shape arithmetic, spaced, with parentheses only where precedence needs them."""
        if isinstance(expr, ast.ShapeName):
            return expr.text
        if isinstance(expr, ast.ShapeNumber):
            return self._number(expr.value, expr.span)
        if _is_negation(expr):
            operand = self._shape(expr.right)
            # Parentheses unless a name follows: `-2` would read back as the number -2.
            return f"-{operand}" if isinstance(expr.right, ast.ShapeName) else f"-({operand})"
        left, right = self._shape(expr.left), self._shape(expr.right)
        if _binds_looser(expr.left, expr.op, right_side=False):
            left = f"({left})"
        if _binds_looser(expr.right, expr.op, right_side=True):
            right = f"({right})"
        return f"{left} {expr.op} {right}"

    # statements that may wrap ---------------------------------------------------------------
    def _chain(self, indent: str, prefix: str, parts: list[_Part], suffix: str) -> list[_Line]:
        """`prefix part |> part ... suffix`, wrapping calls until every line fits (if it can).

        Calls holding a comment always wrap. Otherwise, while some line is too long, the longest
        call on it that has arguments wraps; the decision depends on the AST only.
        """
        broken = {i for i, p in enumerate(parts) if isinstance(p, ast.Call) and self.comments.has_any(p)}
        while True:
            candidates = self._overlong(indent, prefix, parts, suffix, broken)
            if not candidates:
                break
            broken.add(max(candidates, key=lambda i: (len(self._flat(parts[i])), -i)))
        return self._render(indent, prefix, parts, suffix, broken)

    def _overlong(self, indent: str, prefix: str, parts: list[_Part], suffix: str, broken: set[int]) -> list[int]:
        """Calls that could still wrap on the first too-long line of the chain's own lines."""
        for text, members in self._segments(indent, prefix, parts, suffix, broken):
            wrappable = [i for i in members if isinstance(part := parts[i], ast.Call) and _arguments(part)]
            if len(text) > WIDTH and wrappable:
                return wrappable
        return []

    def _segments(
        self, indent: str, prefix: str, parts: list[_Part], suffix: str, broken: set[int]
    ) -> Iterator[tuple[str, list[int]]]:
        """The chain's own lines (not wrapped arguments), and the unwrapped parts on each."""
        text = indent + prefix
        members: list[int] = []
        for index, part in enumerate(parts):
            text += " |> " if index else ""
            if index in broken:
                assert isinstance(part, ast.Call)
                yield text + part.callee.text + "(", members
                text, members = indent + ")", []
            else:
                text += self._flat(part)
                members.append(index)
        yield text + suffix, members

    def _render(self, indent: str, prefix: str, parts: list[_Part], suffix: str, broken: set[int]) -> list[_Line]:
        """The chain with the calls in `broken` wrapped, one argument per line."""
        lines: list[_Line] = []
        text = indent + prefix
        for index, part in enumerate(parts):
            text += " |> " if index else ""
            if index not in broken:
                text += self._flat(part)
                continue
            assert isinstance(part, ast.Call)
            box = self.comments.box(part)
            lines.append(_Line(text + part.callee.text + "(", box.header.text if box.header else None))
            lines += self._arguments(part, indent + INDENT)
            lines += [_Line(indent + INDENT + c.text) for c in box.footer]
            text = indent + ")"
        lines.append(_Line(text + suffix))
        return lines

    def _arguments(self, call: ast.Call, indent: str) -> list[_Line]:
        """A wrapped call's arguments, one per line with a trailing comma, comments kept."""
        lines: list[_Line] = []
        for arg in _arguments(call):
            notes = self.comments.of(arg)
            lines += [_Line(indent + c.text) for c in (*notes.leading, *notes.moved)]
            if isinstance(arg, ast.Keyword):
                arg_lines = self._chain(indent, f"{arg.name.text}=", [arg.value], ",")
            else:
                arg_lines = self._chain(indent, "", [arg], ",")
            if notes.trailing is not None:
                arg_lines[-1].comment = notes.trailing.text
            lines += arg_lines
        return lines


def _arguments(call: ast.Call) -> list[ast.Value | ast.Keyword]:
    return [*call.args, *call.kwargs]


def _aligned(lines: list[_Line]) -> list[str]:
    """Trailing comments of a run of sibling lines share a column, two spaces past the longest.

    A run is consecutive lines at one indentation that each carry a comment; a line that opens
    or closes a bracket or brace stands alone, so a comment after `{` or `)` is not pushed
    out by the statements around it.
    """
    out: list[str] = []
    index = 0
    while index < len(lines):
        if lines[index].comment is None:
            out.append(lines[index].text)
            index += 1
            continue
        end = index + 1
        while end < len(lines) and _aligns_with(lines[end - 1], lines[end]):
            end += 1
        column = max(len(line.text) for line in lines[index:end]) + 2
        out += [line.text.ljust(column) + str(line.comment) for line in lines[index:end]]
        index = end
    return out


def _aligns_with(first: _Line, other: _Line) -> bool:
    def indent(line: _Line) -> int:
        return len(line.text) - len(line.text.lstrip())

    def alone(line: _Line) -> bool:
        code = line.text.strip()
        return code.endswith(("{", "(")) or code.startswith(("}", ")"))

    if first.comment is None or other.comment is None or alone(first) or alone(other):
        return False
    return indent(first) == indent(other)


def _string(text: str) -> str:
    """A string literal: only `\\"`, `\\\\` and `\\n` are escapes in the language."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _same_number(written: str, value: int | float) -> bool:
    is_int = not any(c in written for c in ".eE")
    if is_int != isinstance(value, int):
        return False
    parsed = int(written) if is_int else float(written)
    if isinstance(value, float):
        return math.isfinite(value) and float(parsed).hex() == value.hex()
    return parsed == value


def _is_negation(expr: ast.ShapeBinary) -> bool:
    """`-x` parses as `0 - x` with the zero spanning the whole `-x`; a written `0 - x` does not."""
    left = expr.left
    return expr.op == "-" and isinstance(left, ast.ShapeNumber) and left.value == 0 and left.span == expr.span


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _binds_looser(operand: ast.ShapeExpr, op: str, right_side: bool) -> bool:
    """Whether `operand` needs parentheses as an operand of `op` (all operators bind left)."""
    if not isinstance(operand, ast.ShapeBinary) or _is_negation(operand):
        return False
    mine, theirs = _PRECEDENCE[operand.op], _PRECEDENCE[op]
    return mine < theirs or (right_side and mine == theirs)


# ---------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="survae-fmt",
        description="Format .survae model files in place in the canonical layout, keeping every comment.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="the .survae files to format")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; list the files that would change and exit 1 if any"
    )
    parser.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")
    return parser


@paused_gc()  # only in the command line: `format_source` leaves a caller's collector alone
def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done (or, with --check, nothing to change), 1 a file would change with
    --check, has a syntax error or cannot be read or written, 2 bad usage, 3 a bug of ours."""
    args = build_parser().parse_args(argv)
    statuses = [_format_file(Path(name), args.check, args.diff) for name in args.files]
    return max(statuses, default=0)


def _format_file(path: Path, check: bool, diff: bool) -> int:
    """Format one file; problems are reported, never raised, so the other files still run."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {path}: {_reason(exc)}")
    try:
        formatted = format_source(text, filename=str(path))
    except CompileError as exc:
        print(exc.render(), file=sys.stderr)
        print(f"\n{path}: not formatted: it does not parse", file=sys.stderr)
        return 1
    except InternalError as exc:
        return _internal(str(exc))
    except Exception as exc:  # noqa: BLE001 - anything else is our bug, and says so
        traceback.print_exception(exc, file=sys.stderr)
        return _internal(f"{type(exc).__name__} while formatting {path}")
    if formatted == text:
        return 0
    if diff:
        lines = difflib.unified_diff(
            text.splitlines(keepends=True), formatted.splitlines(keepends=True), str(path), f"{path} (formatted)"
        )
        sys.stdout.writelines(lines)
    if check:
        print(path)
        return 1
    if diff:
        return 0
    try:
        write_atomic(path, formatted.encode("utf-8"))
    except OSError as exc:
        return _fail(f"cannot write {path}: {_reason(exc)}")
    print(f"reformatted {path}", file=sys.stderr)
    return 0


def _internal(message: str) -> int:
    print(f"survae-fmt: internal error: {message}. This is a bug in survae-fmt; please report it.", file=sys.stderr)
    return 3


def _fail(message: str) -> int:
    print(f"survae-fmt: error: {message}", file=sys.stderr)
    return 1


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


if __name__ == "__main__":
    sys.exit(main())
