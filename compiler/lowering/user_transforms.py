"""User-defined transforms (docs/language.md, Declarations): `transform` declarations become catalogue entries.

A declaration names a PyTorch class the user wrote (`impl "module:Class"`), its direction type,
and the shape and domain rules the checker needs. The compiler never imports the class; the
generated module does, and `--check` lists every such import.
"""

from __future__ import annotations

import keyword
import math
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import Annotated, Any

from pydantic import Field, create_model

from ..catalogue import (
    DIST_TABLE,
    NET_TABLE,
    OP_TABLE,
    CallValue,
    EmitArgs,
    Kind,
    OpEntry,
    Params,
    ShapeError,
    TensorRef,
    UserImpl,
)
from ..catalogue.base import DomainRule, Kwargs, NetSlot, Shape, Slot, always
from ..catalogue.counts import Count, CountKwargs, Nested, add_counts
from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..core.domains import NAMED_DOMAINS, REAL, Domain, interval
from ..core.parts import Mix
from ..frontend import syntax as ast

IMPL_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
_KINDS = {k.value: k for k in Kind}
# Keywords the compiler itself passes to the user's class (docs/language.md, User-defined nets).
_RESERVED = {
    "transform": ("shape", "context", "net"),
    "net": ("in_shape", "out_shape", "context_shape", "in_features", "out_features", "context_features"),
}


def impl_alias(module: str) -> str:
    """The name the generated module imports `module` as (a safe identifier: the path was
    checked against IMPL_PATTERN), different for different modules.

    Dots become `_` and underscores `_0`: `mylayers.clip` is `impl_mylayers_clip`, and
    `my_layers` is `impl_my_0layers`, which no dotted path gives (a part of a path cannot
    start with a digit), so `x_y` and `x.y` never share an alias.
    """
    return "impl_" + module.replace("_", "_0").replace(".", "_")


class Invalid(Exception):
    """A malformed declaration: carries its E215 diagnostic (raised by the checks below)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def bad(span: Any, message: str, hint: str | None = None) -> Invalid:
    """The E215 error to raise for a malformed `transform` or `net` declaration."""
    return Invalid(error(codes.E215, span, message, hint))


def transform_entry(decl: ast.TransformDecl, resolve: Any) -> tuple[OpEntry | None, list[Diagnostic]]:
    """The catalogue entry of a declaration (None with diagnostics if it is malformed).

    `resolve` turns a keyword default (an AST value) into a plain value (constants resolved).
    """
    name = decl.name.text
    if name in OP_TABLE or name in DIST_TABLE or name in NET_TABLE:
        return None, [
            error(
                codes.E208,
                decl.name.span,
                f"`{name}` is already in the catalogue",
                f"call your transform e.g. `my_{name}`",
            )
        ]
    try:
        no_repeats(decl)
        kind = _kind(decl)
        impl = impl_of(decl)
        defaults = _keywords(decl, resolve)
        in_dims, out_dims = _shape_rule(decl)
        accepts, produces = _domains(decl, defaults)
        fold = _domain_value(decl.fold, defaults) if decl.fold is not None else None
        net_rule = _net_rule(decl, in_dims)
        own = formula(decl.parameters, defaults, _names(in_dims)) if decl.parameters is not None else None
    except Invalid as exc:
        return None, [exc.diagnostic]
    params = _params_model(name, defaults, takes_net=net_rule is not None)

    def infer(shapes: tuple[Shape, ...], params: Any) -> tuple[Shape, ...]:
        return (_apply_shape(name, in_dims, out_dims, shapes[0]),)

    rule = DomainRule(
        accepts=lambda p: accepts(p),
        role="surjection" if produces is not None else "structural",
        output=(lambda d, p: produces(p)) if produces is not None else None,
        sets_fold=fold(None) if fold is not None else None,
        # `domain same` keeps values but not necessarily their places
        structure=(lambda p, shapes: Mix()) if produces is None else None,
    )

    def emit(e: EmitArgs) -> Kwargs:
        values = tuple((key, getattr(e.params, key)) for key in defaults)
        net = (("net", e.nested["net"]),) if net_rule is not None else ()
        return (("shape", e.t.shape), *net, *values)

    def slots(shapes: tuple[Shape, ...], params: Any) -> dict[str, Slot]:
        if net_rule is None:
            return {}
        assert in_dims is not None  # `_net_rule` requires a shape rule
        bound = _bind_dims(name, in_dims, shapes[0])
        net_in, net_out = net_rule
        return {"net": NetSlot(_sizes(name, net_in, bound), _sizes(name, net_out, bound))}

    def count(k: CountKwargs, nested: Nested) -> Count:
        """Its own parameters (the declared rule) and its net's."""
        assert own is not None
        mine = own(k, _bind_dims(name, in_dims, k["shape"]) if in_dims is not None else {})
        return add_counts(mine, nested(k["net"])) if net_rule is not None else mine

    entry = OpEntry(
        name=name,
        kind=kind,
        params=params,
        runtime=impl.path,
        summary=f"user transform `{name}` ({impl.path})",
        maths="declared by the user; the checker trusts its kind, shape and domain rules",
        infer_shape=infer,
        domain=rule,
        emit=emit,
        slots=slots,
        # Without its own `parameters` rule the count is unknown, whatever its net's.
        user_impl=replace(impl, parameters=count if own is not None else None),
        parameters=count if own is not None else None,
    )
    return entry, []


def _names(dims: tuple[ast.ShapeExpr, ...] | None) -> set[str]:
    return {d.text for d in dims or () if isinstance(d, ast.ShapeName)}


def _net_rule(
    decl: ast.TransformDecl, in_dims: tuple[ast.ShapeExpr, ...] | None
) -> tuple[tuple[ast.ShapeExpr, ...], tuple[ast.ShapeExpr, ...]] | None:
    """The shapes of the net a transform takes (`net [..] -> [..]`), in its shape rule's names."""
    if decl.net is None:
        return None
    left, right = decl.net
    if in_dims is None:
        raise bad(
            left.span,
            f"transform `{decl.name.text}` takes a net but has no shape rule to size it from",
            "declare `shape [D] -> [...]`: the net's sizes are written in its names, e.g. `net [D / 2] -> [D]`",
        )
    if left.dims is None or right.dims is None:
        raise bad(left.span, "a transform's net is declared with two shapes", "e.g. `net [D / 2] -> [D]`")
    names = _names(in_dims)
    for dim in (*left.dims, *right.dims):
        for leaf in leaves(dim):
            if isinstance(leaf, ast.ShapeName) and leaf.text not in names:
                raise bad(leaf.span, f"`{leaf.text}` is not a dimension of the shape rule's input side", None)
            if isinstance(leaf, ast.ShapeNumber) and not isinstance(leaf.value, int):
                raise bad(leaf.span, "dimensions are whole numbers", None)
    return left.dims, right.dims


def _sizes(name: str, dims: tuple[ast.ShapeExpr, ...], bound: dict[str, int]) -> Shape:
    return tuple(evaluate_dim(name, d, bound) for d in dims)


# --------------------------------------------------------------------------------------------
# Parameter formulas (`parameters EXPR`)

# (the constructor's keywords, the shape names bound) → the count
OwnCount = Callable[[CountKwargs, dict[str, int]], Count]


def formula(
    expr: ast.ShapeExpr, defaults: dict[str, Any], names: set[str], extra: frozenset[str] = frozenset()
) -> OwnCount:
    """A declared `parameters` rule as a function of the keywords and the bound shape names.

    Names are the numeric keywords, the shape rule's names and `extra`; `/` divides exactly.
    A value that is not a whole number ≥ 0 (a division that does not come out, a negative
    count) is no count at all: None, shown as unknown.
    """
    numeric = {k for k, v in defaults.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for leaf in leaves(expr):
        if isinstance(leaf, ast.ShapeName) and leaf.text not in numeric | names | extra:
            choices = sorted(numeric | names | extra)
            raise bad(
                leaf.span,
                f"`{leaf.text}` is neither a numeric keyword nor a size of the shape rule",
                f"a parameter count is written in {', '.join(f'`{c}`' for c in choices) or 'numbers only'}",
            )

    def count(k: CountKwargs, bound: dict[str, int]) -> Count:
        values = {**{key: k[key] for key in numeric if key in k}, **bound}
        value = _exact(expr, values)
        if value is None or value.denominator != 1 or value < 0:
            return None
        return int(value)

    return count


def _exact(expr: ast.ShapeExpr, values: dict[str, Any]) -> Fraction | None:
    if isinstance(expr, ast.ShapeName):
        return Fraction(values[expr.text])
    if isinstance(expr, ast.ShapeNumber):
        return Fraction(expr.value)
    a, b = _exact(expr.left, values), _exact(expr.right, values)
    if a is None or b is None:
        return None
    if expr.op == "/":
        return a / b if b else None
    return {"+": a + b, "-": a - b, "*": a * b}[expr.op]


def no_repeats(decl: ast.TransformDecl | ast.NetDecl) -> None:
    seen: set[str] = set()
    for item, span in decl.items:
        if item in seen:
            raise bad(span, f"{_word(decl)} `{decl.name.text}` gives `{item}` twice", "keep one")
        seen.add(item)


def _word(decl: ast.TransformDecl | ast.NetDecl) -> str:
    return "net" if isinstance(decl, ast.NetDecl) else "transform"


def _kind(decl: ast.TransformDecl) -> Kind:
    if decl.kind.text not in _KINDS:
        choices = ", ".join(f"`{k}`" for k in _KINDS)
        raise bad(decl.kind.span, f"unknown transform kind `{decl.kind.text}`", f"the kinds are {choices}")
    return _KINDS[decl.kind.text]


def impl_of(decl: ast.TransformDecl | ast.NetDecl) -> UserImpl:
    if decl.impl is None:
        raise bad(
            decl.name.span,
            f"{_word(decl)} `{decl.name.text}` names no implementation",
            'add `impl "package.module:ClassName"`, the PyTorch class the generated module imports',
        )
    path = decl.impl.value
    parts = re.split(r"[.:]", path)
    if not IMPL_PATTERN.fullmatch(path) or any(keyword.iskeyword(p) for p in parts):
        raise bad(
            decl.impl.span,
            f"`{path}` is not an import path of the form `package.module:ClassName`",
            "dotted Python names, a colon, then the class name: e.g. `mylayers.clip:SoftClip`",
        )
    if parts[0] in ("survae_dsl", "torch", "__future__", "builtins"):
        raise bad(decl.impl.span, f"`{path}` names a module of ours or of torch, not a user layer", None)
    if parts[0] in sys.stdlib_module_names:
        # No layer lives there, and importing some of them does things (`antigravity`, `this`).
        raise bad(
            decl.impl.span,
            f"`{path}` names a module of the Python standard library, not a user layer",
            "name the module where your PyTorch class is defined, e.g. `mylayers.clip:SoftClip`",
        )
    if parts[-1].startswith("__"):
        raise bad(decl.impl.span, f"`{path}` names a dunder attribute, not a layer class", "name the class itself")
    module, _, cls = path.partition(":")
    return UserImpl(module, cls, decl.impl.span)


def _keywords(decl: ast.TransformDecl, resolve: Any) -> dict[str, Any]:
    params = decl.params
    if not params or params[0].default is not None or any(p.default is None for p in params[1:]):
        raise bad(
            decl.name.span,
            f"transform `{decl.name.text}` must take one tensor, then keywords with defaults",
            f"declare it as `transform {decl.name.text}(h, key=default): KIND {{ ... }}`",
        )
    return keyword_values(params[1:], resolve, "transform")


def keyword_values(params: tuple[ast.BlockParam, ...], resolve: Any, word: str) -> dict[str, Any]:
    """The declared keywords with their defaults (resolved), checked to be keywords the user's
    class can receive and the parameter schema can hold."""
    values: dict[str, Any] = {}
    for param in params:
        key = param.name.text
        # The class gets each keyword as a Python keyword argument, and the checker keeps it in
        # a parameter schema: a Python keyword would not parse, and `_x` or a name the schema
        # class already has (`copy`, `model_dump`, ...) would not be a field of it.
        if keyword.iskeyword(key) or key == "self" or key.startswith(("_", "model_")) or hasattr(Params, key):
            raise bad(
                param.name.span,
                f"`{key}` cannot name a keyword of a {word}",
                "rename it: Python keywords, `self`, names starting with `_` and a few reserved names "
                "(`copy`, `json`, `model_...`) are not allowed",
            )
        if key in _RESERVED[word]:
            passed = ", ".join(f"`{r}`" for r in _RESERVED[word])
            raise bad(
                param.name.span,
                f"`{key}` is a keyword the compiler passes to a {word}'s class itself",
                f"rename it; a {word}'s class receives {passed} from the compiler",
            )
        value = resolve(param.default)
        if not isinstance(value, (int, float, bool, str, tuple)):
            raise bad(
                param.span, f"keyword `{param.name.text}` needs a number, boolean, name or list as its default", None
            )
        values[param.name.text] = value
    return values


def _params_model(name: str, defaults: dict[str, Any], takes_net: bool = False) -> type[Params]:
    fields: dict[str, Any] = {"context": (Annotated[TensorRef | None, Field(description="a tensor it reads")], None)}
    if takes_net:
        fields["net"] = (Annotated[CallValue, Field(description="a net: `mlp(...)` or a user net")], ...)
    fields.update(keyword_fields(defaults))
    model = create_model(f"{name}_params", __base__=Params, **fields)
    if takes_net:
        model.nested = {"net": "net"}
        model.examples = {"net": "mlp(hidden=[64])"}
    else:
        model.not_taken = {
            "net": f"to give `{name}` a net, declare its shapes in `transform {name}`: e.g. `net [D / 2] -> [D]` "
            "in the shape rule's names; its class then receives the built net as the keyword `net`"
        }
    return model


def keyword_fields(defaults: dict[str, Any]) -> dict[str, Any]:
    """Schema fields for declared keywords: each typed as its default (a float also takes ints)."""
    fields: dict[str, Any] = {}
    for key, value in defaults.items():
        kind: Any = type(value)
        if kind is float:
            kind = float | int
        fields[key] = (kind, value)
    return fields


# --------------------------------------------------------------------------------------------
# Shapes


def _shape_rule(decl: ast.TransformDecl) -> tuple[tuple[ast.ShapeExpr, ...] | None, tuple[ast.ShapeExpr, ...] | None]:
    if decl.shape is None:
        return None, None
    left, right = decl.shape
    if (left.dims is None) != (right.dims is None):
        raise bad(left.span, "`shape same` applies to both sides", "write `shape [D] -> [D]`, or leave `shape` out")
    if left.dims is None:
        return None, None
    names: set[str] = set()
    for dim in left.dims:
        if isinstance(dim, ast.ShapeName):
            names.add(dim.text)
        elif not (isinstance(dim, ast.ShapeNumber) and isinstance(dim.value, int) and dim.value >= 1):
            raise bad(
                dim.span,
                "the input side of `shape` lists dimension names or whole numbers",
                "e.g. `shape [C, L] -> ...`",
            )
    for dim in right.dims or ():
        for leaf in leaves(dim):
            if isinstance(leaf, ast.ShapeName) and leaf.text not in names:
                raise bad(
                    leaf.span, f"`{leaf.text}` is not a dimension of the input side", f"use one of {sorted(names)}"
                )
            if isinstance(leaf, ast.ShapeNumber) and not isinstance(leaf.value, int):
                raise bad(leaf.span, "dimensions are whole numbers", None)
    return left.dims, right.dims


def leaves(expr: ast.ShapeExpr) -> list[ast.ShapeExpr]:
    if isinstance(expr, ast.ShapeBinary):
        return leaves(expr.left) + leaves(expr.right)
    return [expr]


def _apply_shape(
    name: str, in_dims: tuple[ast.ShapeExpr, ...] | None, out_dims: tuple[ast.ShapeExpr, ...] | None, shape: Shape
) -> Shape:
    if in_dims is None or out_dims is None:
        return shape
    bound = _bind_dims(name, in_dims, shape)
    return tuple(evaluate_dim(name, d, bound) for d in out_dims)


def _bind_dims(name: str, in_dims: tuple[ast.ShapeExpr, ...], shape: Shape) -> dict[str, int]:
    """The sizes the input side's names take for a tensor of `shape` (E304 where it does not fit)."""
    pattern = "[" + ", ".join(show_dim(d) for d in in_dims) + "]"
    if len(in_dims) != len(shape):
        raise ShapeError(
            codes.E304, f"`{name}` works on tensors of shape {pattern}, found [{', '.join(map(str, shape))}]", None
        )
    bound: dict[str, int] = {}
    for dim, size in zip(in_dims, shape, strict=True):
        if isinstance(dim, ast.ShapeNumber) and dim.value != size:
            raise ShapeError(
                codes.E304, f"`{name}` needs {dim.value} where the tensor has {size} (pattern {pattern})", None
            )
        if isinstance(dim, ast.ShapeName):
            if bound.setdefault(dim.text, size) != size:
                raise ShapeError(
                    codes.E304,
                    f"`{name}` needs equal sizes for `{dim.text}` in {pattern}, found {bound[dim.text]} and {size}",
                    None,
                )
    return bound


def evaluate_dim(name: str, expr: ast.ShapeExpr, bound: dict[str, int]) -> int:
    if isinstance(expr, ast.ShapeName):
        return bound[expr.text]
    if isinstance(expr, ast.ShapeNumber):
        return int(expr.value)
    left, right = evaluate_dim(name, expr.left, bound), evaluate_dim(name, expr.right, bound)
    if expr.op == "/":
        if right == 0 or left % right:
            raise ShapeError(
                codes.E305,
                f"`{name}` needs {show_dim(expr.left)} = {left} divisible by {right} (its shape rule divides it)",
                "choose sizes that divide",
            )
        value = left // right
    else:
        value = {"+": left + right, "-": left - right, "*": left * right}[expr.op]
    if value < 1:
        raise ShapeError(codes.E305, f"`{name}`'s shape rule gives a dimension of {value} here", None)
    return value


def show_dim(expr: ast.ShapeExpr) -> str:
    if isinstance(expr, ast.ShapeName):
        return expr.text
    if isinstance(expr, ast.ShapeNumber):
        return str(expr.value)
    return f"{show_dim(expr.left)} {expr.op} {show_dim(expr.right)}"


# --------------------------------------------------------------------------------------------
# Domains


def _domains(decl: ast.TransformDecl, defaults: dict[str, Any]) -> tuple[Any, Any]:
    """(accepts(params), produces(params) or None for `same`)."""
    if decl.domain is None:
        return always(REAL), None
    first, second = decl.domain
    if second is None or second.name.text == "same":
        if first.name.text != "same" and second is not None:
            raise bad(second.span, "`domain X -> same` is not a rule", "write both sides, or `domain same`")
        accepted = _domain_value(first, defaults) if first.name.text != "same" else (lambda p: REAL)
        return accepted, None
    return _domain_value(first, defaults), _domain_value(second, defaults)


def _domain_value(ref: ast.DomainRef, defaults: dict[str, Any]) -> Any:
    """params → Domain for a domain reference (its interval bounds may name keywords)."""
    name = ref.name.text
    if name in NAMED_DOMAINS and not ref.args:
        domain = NAMED_DOMAINS[name]
        return lambda p: domain
    if name == "interval" and len(ref.args) == 2:
        for leaf in [x for a in ref.args for x in leaves(a)]:
            if isinstance(leaf, ast.ShapeName) and not isinstance(defaults.get(leaf.text), (int, float)):
                raise bad(leaf.span, f"`{leaf.text}` is not a numeric keyword of this transform", None)
        lo, hi = ref.args

        def bounds(p: Any) -> Domain:
            values = {k: getattr(p, k) for k in defaults} if p is not None else defaults
            a, b = _number(lo, values), _number(hi, values)
            return interval(min(a, b), max(a, b)) if a != b else interval(a, a + 1e-300)

        if any(math.isnan(_number(side, defaults)) for side in (lo, hi)):
            raise bad(ref.span, "a bound of this interval is not a number (it computes to nan)", "write finite bounds")
        bounds(None)
        return bounds
    raise bad(
        ref.span, f"`{name}` is not a domain a transform can declare", "use real, positive, unit or interval(a, b)"
    )


def _number(expr: ast.ShapeExpr, values: dict[str, Any]) -> float:
    if isinstance(expr, ast.ShapeName):
        return float(values[expr.text])
    if isinstance(expr, ast.ShapeNumber):
        return float(expr.value)
    a, b = _number(expr.left, values), _number(expr.right, values)
    if expr.op == "/":
        return a / b if b else math.inf
    return {"+": a + b, "-": a - b, "*": a * b}[expr.op]
