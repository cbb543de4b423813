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
from typing import Annotated, Any

from pydantic import Field, create_model

from ..catalogue import (
    DIST_TABLE,
    NET_TABLE,
    OP_TABLE,
    EmitArgs,
    Kind,
    OpEntry,
    Params,
    ShapeError,
    TensorRef,
    UserImpl,
)
from ..catalogue.base import DomainRule, Kwargs, Shape, always
from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..core.domains import NAMED_DOMAINS, REAL, Domain, interval
from ..core.parts import Mix
from ..frontend import syntax as ast

IMPL_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
_KINDS = {k.value: k for k in Kind}


def impl_alias(module: str) -> str:
    """The name the generated module imports `module` as (a safe identifier: the path was
    checked against IMPL_PATTERN), different for different modules.

    Dots become `_` and underscores `_0`: `mylayers.clip` is `impl_mylayers_clip`, and
    `my_layers` is `impl_my_0layers`, which no dotted path gives (a part of a path cannot
    start with a digit), so `x_y` and `x.y` never share an alias.
    """
    return "impl_" + module.replace("_", "_0").replace(".", "_")


class _Invalid(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _bad(span: Any, message: str, hint: str | None = None) -> _Invalid:
    return _Invalid(error(codes.E215, span, message, hint))


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
        _no_repeats(decl)
        kind = _kind(decl)
        impl = _impl(decl)
        defaults = _keywords(decl, resolve)
        in_dims, out_dims = _shape_rule(decl)
        accepts, produces = _domains(decl, defaults)
        fold = _domain_value(decl.fold, defaults) if decl.fold is not None else None
    except _Invalid as exc:
        return None, [exc.diagnostic]
    params = _params_model(name, defaults)

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
        return (("shape", e.t.shape), *values)

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
        user_impl=impl,
    )
    return entry, []


def _no_repeats(decl: ast.TransformDecl) -> None:
    seen: set[str] = set()
    for item, span in decl.items:
        if item in seen:
            raise _bad(span, f"transform `{decl.name.text}` gives `{item}` twice", "keep one")
        seen.add(item)


def _kind(decl: ast.TransformDecl) -> Kind:
    if decl.kind.text not in _KINDS:
        choices = ", ".join(f"`{k}`" for k in _KINDS)
        raise _bad(decl.kind.span, f"unknown transform kind `{decl.kind.text}`", f"the kinds are {choices}")
    return _KINDS[decl.kind.text]


def _impl(decl: ast.TransformDecl) -> UserImpl:
    if decl.impl is None:
        raise _bad(
            decl.name.span,
            f"transform `{decl.name.text}` names no implementation",
            'add `impl "package.module:ClassName"`, the PyTorch class the generated module imports',
        )
    path = decl.impl.value
    parts = re.split(r"[.:]", path)
    if not IMPL_PATTERN.fullmatch(path) or any(keyword.iskeyword(p) for p in parts):
        raise _bad(
            decl.impl.span,
            f"`{path}` is not an import path of the form `package.module:ClassName`",
            "dotted Python names, a colon, then the class name: e.g. `mylayers.clip:SoftClip`",
        )
    if parts[0] in ("survae_dsl", "torch", "__future__", "builtins"):
        raise _bad(decl.impl.span, f"`{path}` names a module of ours or of torch, not a user layer", None)
    if parts[0] in sys.stdlib_module_names:
        # No layer lives there, and importing some of them does things (`antigravity`, `this`).
        raise _bad(
            decl.impl.span,
            f"`{path}` names a module of the Python standard library, not a user layer",
            "name the module where your PyTorch class is defined, e.g. `mylayers.clip:SoftClip`",
        )
    if parts[-1].startswith("__"):
        raise _bad(decl.impl.span, f"`{path}` names a dunder attribute, not a layer class", "name the class itself")
    module, _, cls = path.partition(":")
    return UserImpl(module, cls, decl.impl.span)


def _keywords(decl: ast.TransformDecl, resolve: Any) -> dict[str, Any]:
    params = decl.params
    if not params or params[0].default is not None or any(p.default is None for p in params[1:]):
        raise _bad(
            decl.name.span,
            f"transform `{decl.name.text}` must take one tensor, then keywords with defaults",
            f"declare it as `transform {decl.name.text}(h, key=default): KIND {{ ... }}`",
        )
    values: dict[str, Any] = {}
    for param in params[1:]:
        key = param.name.text
        # The class gets each keyword as a Python keyword argument, and the checker keeps it in
        # a parameter schema: a Python keyword would not parse, and `_x` or a name the schema
        # class already has (`copy`, `model_dump`, ...) would not be a field of it.
        if keyword.iskeyword(key) or key == "self" or key.startswith(("_", "model_")) or hasattr(Params, key):
            raise _bad(
                param.name.span,
                f"`{key}` cannot name a keyword of a transform",
                "rename it: Python keywords, `self`, names starting with `_` and a few reserved names "
                "(`copy`, `json`, `model_...`) are not allowed",
            )
        value = resolve(param.default)
        if not isinstance(value, (int, float, bool, str, tuple)) or param.name.text in ("shape", "context"):
            raise _bad(
                param.span, f"keyword `{param.name.text}` needs a number, boolean, name or list as its default", None
            )
        values[param.name.text] = value
    return values


def _params_model(name: str, defaults: dict[str, Any]) -> type[Params]:
    fields: dict[str, Any] = {"context": (Annotated[TensorRef | None, Field(description="a tensor it reads")], None)}
    for key, value in defaults.items():
        kind: Any = type(value)
        if kind is float:
            kind = float | int
        fields[key] = (kind, value)
    return create_model(f"{name}_params", __base__=Params, **fields)


# --------------------------------------------------------------------------------------------
# Shapes


def _shape_rule(decl: ast.TransformDecl) -> tuple[tuple[ast.ShapeExpr, ...] | None, tuple[ast.ShapeExpr, ...] | None]:
    if decl.shape is None:
        return None, None
    left, right = decl.shape
    if (left.dims is None) != (right.dims is None):
        raise _bad(left.span, "`shape same` applies to both sides", "write `shape [D] -> [D]`, or leave `shape` out")
    if left.dims is None:
        return None, None
    names: set[str] = set()
    for dim in left.dims:
        if isinstance(dim, ast.ShapeName):
            names.add(dim.text)
        elif not (isinstance(dim, ast.ShapeNumber) and isinstance(dim.value, int) and dim.value >= 1):
            raise _bad(
                dim.span,
                "the input side of `shape` lists dimension names or whole numbers",
                "e.g. `shape [C, L] -> ...`",
            )
    for dim in right.dims or ():
        for leaf in _leaves(dim):
            if isinstance(leaf, ast.ShapeName) and leaf.text not in names:
                raise _bad(
                    leaf.span, f"`{leaf.text}` is not a dimension of the input side", f"use one of {sorted(names)}"
                )
            if isinstance(leaf, ast.ShapeNumber) and not isinstance(leaf.value, int):
                raise _bad(leaf.span, "dimensions are whole numbers", None)
    return left.dims, right.dims


def _leaves(expr: ast.ShapeExpr) -> list[ast.ShapeExpr]:
    if isinstance(expr, ast.ShapeBinary):
        return _leaves(expr.left) + _leaves(expr.right)
    return [expr]


def _apply_shape(
    name: str, in_dims: tuple[ast.ShapeExpr, ...] | None, out_dims: tuple[ast.ShapeExpr, ...] | None, shape: Shape
) -> Shape:
    if in_dims is None or out_dims is None:
        return shape
    pattern = "[" + ", ".join(_show(d) for d in in_dims) + "]"
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
    return tuple(_evaluate_dim(name, d, bound) for d in out_dims)


def _evaluate_dim(name: str, expr: ast.ShapeExpr, bound: dict[str, int]) -> int:
    if isinstance(expr, ast.ShapeName):
        return bound[expr.text]
    if isinstance(expr, ast.ShapeNumber):
        return int(expr.value)
    left, right = _evaluate_dim(name, expr.left, bound), _evaluate_dim(name, expr.right, bound)
    if expr.op == "/":
        if right == 0 or left % right:
            raise ShapeError(
                codes.E305,
                f"`{name}` needs {_show(expr.left)} = {left} divisible by {right} (its shape rule divides it)",
                "choose sizes that divide",
            )
        value = left // right
    else:
        value = {"+": left + right, "-": left - right, "*": left * right}[expr.op]
    if value < 1:
        raise ShapeError(codes.E305, f"`{name}`'s shape rule gives a dimension of {value} here", None)
    return value


def _show(expr: ast.ShapeExpr) -> str:
    if isinstance(expr, ast.ShapeName):
        return expr.text
    if isinstance(expr, ast.ShapeNumber):
        return str(expr.value)
    return f"{_show(expr.left)} {expr.op} {_show(expr.right)}"


# --------------------------------------------------------------------------------------------
# Domains


def _domains(decl: ast.TransformDecl, defaults: dict[str, Any]) -> tuple[Any, Any]:
    """(accepts(params), produces(params) or None for `same`)."""
    if decl.domain is None:
        return always(REAL), None
    first, second = decl.domain
    if second is None or second.name.text == "same":
        if first.name.text != "same" and second is not None:
            raise _bad(second.span, "`domain X -> same` is not a rule", "write both sides, or `domain same`")
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
        for leaf in [x for a in ref.args for x in _leaves(a)]:
            if isinstance(leaf, ast.ShapeName) and not isinstance(defaults.get(leaf.text), (int, float)):
                raise _bad(leaf.span, f"`{leaf.text}` is not a numeric keyword of this transform", None)
        lo, hi = ref.args

        def bounds(p: Any) -> Domain:
            values = {k: getattr(p, k) for k in defaults} if p is not None else defaults
            a, b = _number(lo, values), _number(hi, values)
            return interval(min(a, b), max(a, b)) if a != b else interval(a, a + 1e-300)

        if any(math.isnan(_number(side, defaults)) for side in (lo, hi)):
            raise _bad(ref.span, "a bound of this interval is not a number (it computes to nan)", "write finite bounds")
        bounds(None)
        return bounds
    raise _bad(
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
