"""User-defined nets (docs/language.md, User-defined nets): `net` declarations become net entries.

A declaration names a PyTorch class the user wrote (`impl "module:Class"`), the shapes it can
connect (`shape [D] -> [E]`: the checker matches the op's slot against it, E309 where it does
not fit) and optionally how many parameters it builds (`parameters EXPR`). It can then be used
as `net=NAME(k=...)` wherever a built-in net is. The compiler never imports the class.

The class is built as `Class(in_shape=..., out_shape=..., context_shape=..., **keywords)`, the
shapes without the batch axis (`context_shape` None without a context), and called as
`net(x, context)` like the runtime's own nets (`survae_dsl/nn/nets.py`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from pydantic import create_model

from ..catalogue import DIST_TABLE, NET_TABLE, OP_TABLE, NetEntry, Params, ShapeError
from ..catalogue.base import Kwargs, Shape
from ..catalogue.counts import Count, CountKwargs, Nested
from ..catalogue.rules import show
from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..frontend import syntax as ast
from .user_transforms import (
    Invalid,
    bad,
    evaluate_dim,
    formula,
    impl_of,
    keyword_fields,
    keyword_values,
    leaves,
    no_repeats,
    show_dim,
)

# Sizes a `parameters` rule of a net may name besides its keywords and shape names: the
# entries per example of what the net reads, produces, and of its context (0 without one).
FEATURES = frozenset({"in_features", "out_features", "context_features"})

Pattern = tuple[ast.ShapeExpr, ...]


def net_entry(decl: ast.NetDecl, resolve: Any) -> tuple[NetEntry | None, list[Diagnostic]]:
    """The net entry of a declaration (None with diagnostics if it is malformed).

    `resolve` turns a keyword default (an AST value) into a plain value (constants resolved).
    """
    name = decl.name.text
    if name in OP_TABLE or name in DIST_TABLE or name in NET_TABLE:
        return None, [
            error(
                codes.E208, decl.name.span, f"`{name}` is already in the catalogue", f"call your net e.g. `my_{name}`"
            )
        ]
    try:
        no_repeats(decl)
        impl = impl_of(decl)
        defaults = keyword_values(decl.params, resolve, "net")
        rule = _shape_rule(decl)
        names = {
            leaf.text for side in rule or () for d in side for leaf in leaves(d) if isinstance(leaf, ast.ShapeName)
        }
        own = formula(decl.parameters, defaults, names, FEATURES) if decl.parameters is not None else None
    except Invalid as exc:
        return None, [exc.diagnostic]
    params = create_model(f"{name}_params", __base__=Params, **keyword_fields(defaults))

    def check(p: Any, in_shape: Shape, out_shape: Shape) -> None:
        _match(name, rule, in_shape, out_shape)

    def emit(p: Any, in_shape: Shape, out_shape: Shape, context: Shape | None) -> Kwargs:
        values = tuple((key, getattr(p, key)) for key in defaults)
        return (("in_shape", in_shape), ("out_shape", out_shape), ("context_shape", context), *values)

    def count(k: CountKwargs, _nested: Nested) -> Count:
        if own is None:
            return None
        context = k["context_shape"]
        sizes = {
            "in_features": math.prod(k["in_shape"]),
            "out_features": math.prod(k["out_shape"]),
            "context_features": math.prod(context) if context is not None else 0,
        }
        return own(k, {**sizes, **_match(name, rule, k["in_shape"], k["out_shape"])})

    entry = NetEntry(
        name=name,
        params=params,
        runtime=impl.path,
        summary=f"user net `{name}` ({impl.path})",
        emit=emit,
        check=check,
        parameters=count if own is not None else None,
        user_impl=replace(impl, parameters=count if own is not None else None),
        details="declared by the user; the checker trusts its shape rule",
    )
    return entry, []


def _shape_rule(decl: ast.NetDecl) -> tuple[Pattern, Pattern] | None:
    """(input pattern, output pattern); None for any shapes (no `shape`, like `mlp`). `shape same`
    is the pattern `[...] -> [...]` of equal shapes, kept as two empty patterns' stand-in."""
    if decl.shape is None:
        return None
    left, right = decl.shape
    if (left.dims is None) != (right.dims is None):
        raise bad(
            left.span, "`shape same` applies to both sides", "write `shape [C, L] -> [K, L]`, or leave `shape` out"
        )
    if left.dims is None or right.dims is None:
        return (), ()  # `same`
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
    for dim in right.dims:
        # A name of its own on the output side is a size the op chooses (`[D] -> [E]`); an
        # expression may only use the input side's names, which are known before it.
        if isinstance(dim, ast.ShapeName):
            continue
        for leaf in leaves(dim):
            if isinstance(leaf, ast.ShapeName) and leaf.text not in names:
                raise bad(
                    leaf.span, f"`{leaf.text}` is not a dimension of the input side", f"use one of {sorted(names)}"
                )
            if isinstance(leaf, ast.ShapeNumber) and not isinstance(leaf.value, int):
                raise bad(leaf.span, "dimensions are whole numbers", None)
    return left.dims, right.dims


def _match(name: str, rule: tuple[Pattern, Pattern] | None, in_shape: Shape, out_shape: Shape) -> dict[str, int]:
    """The sizes the rule's names take for a net from `in_shape` to `out_shape`; E309 where
    the declared rule cannot connect them."""
    if rule is None:
        return {}
    left, right = rule
    if not left and not right:
        if in_shape != out_shape:
            raise _misfit(name, "`shape same`", in_shape, out_shape)
        return {}
    pattern = f"`shape [{', '.join(map(show_dim, left))}] -> [{', '.join(map(show_dim, right))}]`"
    if len(left) != len(in_shape) or len(right) != len(out_shape):
        raise _misfit(name, pattern, in_shape, out_shape)
    bound: dict[str, int] = {}
    for dim, size in zip(left, in_shape, strict=True):
        if isinstance(dim, ast.ShapeName) and bound.setdefault(dim.text, size) != size:
            raise _misfit(name, pattern, in_shape, out_shape)
        if isinstance(dim, ast.ShapeNumber) and dim.value != size:
            raise _misfit(name, pattern, in_shape, out_shape)
    for dim, size in zip(right, out_shape, strict=True):
        if isinstance(dim, ast.ShapeName):
            if bound.setdefault(dim.text, size) != size:
                raise _misfit(name, pattern, in_shape, out_shape)
            continue
        try:
            value = evaluate_dim(name, dim, bound)
        except ShapeError:
            raise _misfit(name, pattern, in_shape, out_shape) from None
        if value != size:
            raise _misfit(name, pattern, in_shape, out_shape)
    return bound


def _misfit(name: str, pattern: str, in_shape: Shape, out_shape: Shape) -> ShapeError:
    return ShapeError(
        codes.E309,
        f"user net `{name}` declares {pattern}, but here it would read {show(in_shape)} and produce {show(out_shape)}",
        "the op using a net sets both shapes: use the net where they fit its rule, or widen the rule",
        param="net",
    )
