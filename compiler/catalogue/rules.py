"""Shape helpers shared by the op entries: axes, parts, and how a net's shapes are formed."""

from __future__ import annotations

import math

from ..core import codes
from .base import EmitArgs, Kwargs, Shape, ShapeError, check_axis


def show(shape: Shape) -> str:
    """`[3, 4]`, as shapes are written in a model file."""
    return "[" + ", ".join(map(str, shape)) + "]"


def same_shape(shape: Shape, _params: object) -> Shape:
    return shape


def shape_only(e: EmitArgs) -> Kwargs:
    """Emitter for ops whose runtime class takes only the event shape."""
    return (("shape", e.t.shape),)


def with_size(shape: Shape, dim: int, size: int) -> Shape:
    """`shape` with axis `dim` resized to `size`."""
    out = list(shape)
    out[dim] = size
    return tuple(out)


def params_out(per_entry: int, event: Shape) -> Shape:
    """The shape a net produces for `per_entry` numbers per entry of `event`: the numbers are
    stacked on the first axis (parameter-major), so flat and channel-first nets agree."""
    return (per_entry * event[0], *event[1:])


def halves(n: int) -> tuple[int, int]:
    """The default two-way split: the first part is the larger, ⌈n/2⌉."""
    first = math.ceil(n / 2)
    return first, n - first


def need_rank(shape: Shape, ranks: tuple[int, ...], op: str, what: str, hint: str) -> None:
    """ShapeError E304 unless the tensor has one of `ranks` axes."""
    if len(shape) not in ranks:
        raise ShapeError(codes.E304, f"`{op}` works on {what}, found a tensor of shape {show(shape)}", hint)


def divisible(size: int, by: int, op: str, what: str, param: str | None) -> None:
    """ShapeError E305 unless `size` is a multiple of `by`."""
    if size % by:
        raise ShapeError(
            codes.E305,
            f"`{op}` needs {what} divisible by {by}, found {size}",
            f"choose a `{param}` that divides {size}" if param else None,
            param=param,
        )


def part_along(shape: Shape, dim: int, first: int | None, op: str, param: str) -> tuple[int, int]:
    """(first part, rest) along `dim` for a two-way split: 1 ≤ first < n (E302)."""
    n = check_axis(shape, dim, op)
    if n < 2:
        raise ShapeError(
            codes.E302,
            f"`{op}` needs at least 2 entries along dim={dim} to split, found {n}",
            "split along an axis of size 2 or more, or reshape the tensor first",
            param="dim",
        )
    first = halves(n)[0] if first is None else first
    if not 1 <= first < n:
        raise ShapeError(
            codes.E302,
            f"`{op}` cannot keep {param}={first} of {n} entries along dim={dim}",
            f"`{param}` must be between 1 and {n - 1}",
            param=param,
        )
    return first, n - first
