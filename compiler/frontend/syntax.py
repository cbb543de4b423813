"""The abstract syntax tree: frozen dataclasses, each with the `Span` it was parsed from.

Shapes of the tree follow docs/language.md, Declarations. Values are literals, identifiers (a constant, an
enum name like `tanh_exp`, or a tensor), lists, calls (`mlp(hidden=[64])`) and arithmetic on numbers
(`4 * c`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.source import Span


@dataclass(frozen=True)
class Name:
    """An identifier as written, with its span."""

    text: str
    span: Span


@dataclass(frozen=True)
class Number:
    value: int | float
    span: Span


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True)
class Ident:
    """A bare name in value position: a constant, an enum name or a tensor."""

    name: str
    span: Span


@dataclass(frozen=True)
class ListValue:
    items: tuple[Value, ...]
    span: Span


@dataclass(frozen=True)
class Keyword:
    name: Name
    value: Value
    span: Span


@dataclass(frozen=True)
class Call:
    """`callee(positional..., key=value...)`: an op, a distribution or a net."""

    callee: Name
    args: tuple[Value, ...]
    kwargs: tuple[Keyword, ...]
    span: Span

    def keyword(self, name: str) -> Keyword | None:
        return next((k for k in self.kwargs if k.name.text == name), None)


@dataclass(frozen=True)
class Arith:
    """`left OP right` in a value, OP one of + - * /: computed when the model is compiled
    (compiler/frontend/arith.py), never emitted as an expression. Parentheses leave no node."""

    op: str
    left: Value
    right: Value
    span: Span


@dataclass(frozen=True)
class Negate:
    """`-operand` in a value, for an operand that is not a number (`-2` is the number -2)."""

    operand: Value
    span: Span


Value = Number | Bool | String | Ident | ListValue | Call | Arith | Negate


@dataclass(frozen=True)
class TypeExpr:
    """`domain[dims]`, `int<K>[dims]` or `interval(a, b)[dims]`."""

    domain: Name
    domain_args: tuple[Value, ...]
    dims: tuple[Value, ...]
    span: Span


@dataclass(frozen=True)
class Doc:
    text: str
    span: Span


@dataclass(frozen=True)
class InputDecl:
    name: Name
    type: TypeExpr
    span: Span


@dataclass(frozen=True)
class ContextDecl:
    """`context c: TYPE`: data the model is conditioned on, read by `context=` and never modelled."""

    name: Name
    type: TypeExpr
    span: Span


@dataclass(frozen=True)
class Return:
    """`return a, b` at the end of a block."""

    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class Pipeline:
    """`head |> f(...) |> g(...)`: `t |> f(k=v)` means `f(t, k=v)`; no stages is a plain value."""

    head: Ident | Call
    stages: tuple[Call, ...]
    span: Span


@dataclass(frozen=True)
class Assign:
    targets: tuple[Name, ...]
    value: Pipeline
    span: Span


@dataclass(frozen=True)
class Tilde:
    """`t ~ dist(...)`: tensor `t` is given a density."""

    target: Name
    dist: Call
    span: Span


@dataclass(frozen=True)
class Repeat:
    count: Value
    body: tuple[Statement, ...]
    span: Span


Statement = Doc | InputDecl | ContextDecl | Return | Assign | Tilde | Repeat


@dataclass(frozen=True)
class ConstDecl:
    name: Name
    value: Value
    span: Span


@dataclass(frozen=True)
class ModelDecl:
    name: Name
    body: tuple[Statement, ...]
    span: Span


@dataclass(frozen=True)
class BlockParam:
    """A block parameter: a tensor (no default) or a keyword with its default value."""

    name: Name
    default: Value | None
    span: Span


@dataclass(frozen=True)
class BlockDecl:
    """`block name(h, k=default) { ... return ... }`: a sub-graph inlined at each call."""

    name: Name
    params: tuple[BlockParam, ...]
    body: tuple[Statement, ...]
    span: Span

    @property
    def tensor_params(self) -> tuple[BlockParam, ...]:
        return tuple(p for p in self.params if p.default is None)

    @property
    def keyword_params(self) -> tuple[BlockParam, ...]:
        return tuple(p for p in self.params if p.default is not None)


@dataclass(frozen=True)
class ShapeName:
    """A dimension name in a `transform`'s shape rule (`D`, `C`, `L`)."""

    text: str
    span: Span


@dataclass(frozen=True)
class ShapeNumber:
    value: int | float  # dimensions must be whole; domain bounds may be any number
    span: Span


@dataclass(frozen=True)
class ShapeBinary:
    """`left OP right` with OP one of + - * / (integer division that must be exact)."""

    op: str
    left: ShapeExpr
    right: ShapeExpr
    span: Span


ShapeExpr = ShapeName | ShapeNumber | ShapeBinary


@dataclass(frozen=True)
class ShapeSide:
    """One side of `shape ... -> ...`: a list of dimension expressions, or `same`."""

    dims: tuple[ShapeExpr, ...] | None  # None for `same`
    span: Span


@dataclass(frozen=True)
class DomainRef:
    """`real`, `positive`, `unit`, `same`, or `interval(a, b)` (a, b may be keyword names)."""

    name: Name
    args: tuple[ShapeExpr, ...]
    span: Span


@dataclass(frozen=True)
class TransformDecl:
    """`transform name(h, k=default): KIND { impl ...; shape ...; domain ...; fold ... }`."""

    name: Name
    params: tuple[BlockParam, ...]
    kind: Name
    impl: String | None
    shape: tuple[ShapeSide, ShapeSide] | None
    domain: tuple[DomainRef, DomainRef | None] | None
    fold: DomainRef | None
    span: Span
    items: tuple[tuple[str, Span], ...] = ()  # (item keyword, span) in order, to report repeats
    # `net [..] -> [..]`: the transform takes `net=`, a net from the first side to the second
    net: tuple[ShapeSide, ShapeSide] | None = None
    parameters: ShapeExpr | None = None  # `parameters EXPR`: its own parameters, in its keywords


@dataclass(frozen=True)
class NetDecl:
    """`net name(k=default) { impl ...; shape ...; parameters ... }`: a user's conditioner net."""

    name: Name
    params: tuple[BlockParam, ...]
    impl: String | None
    shape: tuple[ShapeSide, ShapeSide] | None
    parameters: ShapeExpr | None
    span: Span
    items: tuple[tuple[str, Span], ...] = ()


Declaration = ConstDecl | ModelDecl | BlockDecl | TransformDecl | NetDecl


@dataclass(frozen=True)
class Module:
    """A whole `.survae` file."""

    declarations: tuple[Declaration, ...]
    filename: str
