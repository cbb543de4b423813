"""Structural bijections: they move entries around and never change a value (log|det J| = 0)."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

from ..core import codes
from ..core.parts import Concat, Permute, Regroup, Reverse, Split, Transpose
from .base import (
    EmitArgs,
    Kind,
    Kwargs,
    NoParams,
    OneShapeRule,
    OpEntry,
    Params,
    Shape,
    ShapeError,
    check_axis,
    single,
    structural,
)
from .counts import no_parameters
from .rules import divisible, halves, need_rank, show, with_size

Dim = Annotated[int, Field(ge=0, description="the axis, from 0")]
Size = Annotated[int, Field(ge=1, le=1 << 40)]


class DimParams(Params):
    dim: Dim = 0


class ShuffleParams(DimParams):
    seed: Annotated[int, Field(ge=0, le=2**63 - 1, description="seed of the fixed permutation")] = 0


def _along(op: str) -> OneShapeRule:
    def rule(shape: Shape, params: DimParams) -> Shape:
        check_axis(shape, params.dim, op)
        return shape

    return rule


REVERSE = OpEntry(
    name="reverse",
    kind=Kind.BIJECTIVE,
    params=DimParams,
    runtime="Reverse",
    summary="reverses the order of the entries along `dim`",
    maths="z_i = x_{n−1−i} along `dim`. A permutation: log|det J| = 0.",
    infer_shape=single(_along("reverse")),
    domain=structural(lambda p, shapes: Reverse(p.dim)),
    emit=lambda e: (("shape", e.t.shape), ("dim", e.params.dim)),
    parameters=no_parameters,
)

_MASK64 = (1 << 64) - 1


def copy_seed(seed: int, ordinal: int) -> int:
    """The seed a `shuffle` layer is built with: SplitMix64's output for state `seed` at step
    `ordinal` (the layer's position among the model's shuffles, from 1), top bit dropped.

    Every copy unrolled from a `repeat` or from several calls of a block then draws its own
    permutation, yet the same source always gives the same model and the written `seed` still
    chooses them all. SplitMix64's finaliser is a fixed bijection of 64-bit words (never
    Python's salted `hash()`), so two shuffles of one model never share a seed (but for a
    chance of 2**-63 from the dropped bit); docs/language.md, Our choices, states the formula.
    """
    x = (seed + ordinal * 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) >> 1


SHUFFLE = OpEntry(
    name="shuffle",
    kind=Kind.BIJECTIVE,
    params=ShuffleParams,
    runtime="Shuffle",
    summary="a fixed random permutation along `dim`, drawn from `seed` and stored in the module",
    maths="z_i = x_{π(i)} along `dim` for a permutation π fixed by `seed` and the layer's position among "
    "the model's shuffles (each copy unrolled from a `repeat` or block draws its own; docs/language.md, "
    "Our choices). log|det J| = 0.",
    infer_shape=single(_along("shuffle")),
    domain=structural(lambda p, shapes: Permute(p.dim)),
    emit=lambda e: (("shape", e.t.shape), ("dim", e.params.dim), ("seed", copy_seed(e.params.seed, e.ordinal))),
    parameters=no_parameters,
)


class TransposeParams(Params):
    dims: Annotated[tuple[Dim, ...], Field(min_length=1, description="a permutation of the axes, e.g. `[1, 0]`")]

    examples = {"dims": "[1, 0]"}


def _transpose(shape: Shape, params: TransposeParams) -> Shape:
    if sorted(params.dims) != list(range(len(shape))):
        raise ShapeError(
            codes.E306,
            f"`transpose` needs `dims` to list each axis of a shape {show(shape)} tensor once, "
            f"found {show(params.dims)}",
            f"use a permutation of {show(tuple(range(len(shape))))}",
            param="dims",
        )
    return tuple(shape[d] for d in params.dims)


TRANSPOSE = OpEntry(
    name="transpose",
    kind=Kind.BIJECTIVE,
    params=TransposeParams,
    runtime="Transpose",
    summary="permutes the axes (point clouds `[N, 2]` become `[2, N]`)",
    maths="z[i_{d_0}, …] = x[i_0, …]: axis k of z is axis dims[k] of x. log|det J| = 0.",
    infer_shape=single(_transpose),
    domain=structural(lambda p, shapes: Transpose(tuple(p.dims))),
    emit=lambda e: (("shape", e.t.shape), ("dims", tuple(e.params.dims))),
    parameters=no_parameters,
)


class FactorParams(Params):
    factor: Annotated[int, Field(ge=1, le=1 << 20, description="the spatial factor f")] = 2


def _squeeze(shape: Shape, params: FactorParams) -> Shape:
    need_rank(shape, (3,), "squeeze2d", "images `[C, H, W]`", "reshape the tensor to `[C, H, W]` first")
    c, h, w = shape
    f = params.factor
    divisible(h, f, "squeeze2d", "the height", "factor")
    divisible(w, f, "squeeze2d", "the width", "factor")
    return (c * f * f, h // f, w // f)


def _unsqueeze(shape: Shape, params: FactorParams) -> Shape:
    need_rank(shape, (3,), "unsqueeze2d", "images `[C, H, W]`", "reshape the tensor to `[C, H, W]` first")
    c, h, w = shape
    f = params.factor
    divisible(c, f * f, "unsqueeze2d", f"the channels (factor² = {f * f})", "factor")
    return (c // (f * f), h * f, w * f)


SQUEEZE2D = OpEntry(
    name="squeeze2d",
    kind=Kind.BIJECTIVE,
    params=FactorParams,
    runtime="Squeeze2d",
    summary="`[C, H, W] → [C·f², H/f, W/f]`: each f×f patch becomes f² channels",
    maths="z[c·f² + i·f + j, y, x] = x[c, y·f + i, x·f + j]. log|det J| = 0.",
    infer_shape=single(_squeeze),
    domain=structural(lambda p, shapes: Regroup()),
    emit=lambda e: (("shape", e.t.shape), ("factor", e.params.factor)),
    parameters=no_parameters,
)

UNSQUEEZE2D = OpEntry(
    name="unsqueeze2d",
    kind=Kind.BIJECTIVE,
    params=FactorParams,
    runtime="Unsqueeze2d",
    summary="`[C·f², H, W] → [C, H·f, W·f]`, the inverse of `squeeze2d`",
    maths="The inverse permutation of `squeeze2d`. log|det J| = 0.",
    infer_shape=single(_unsqueeze),
    domain=structural(lambda p, shapes: Regroup()),
    emit=lambda e: (("shape", e.t.shape), ("factor", e.params.factor)),
    parameters=no_parameters,
)


class ReshapeParams(Params):
    shape: Annotated[tuple[Size, ...], Field(min_length=1, description="the new shape, e.g. `[4, 4]`")]

    examples = {"shape": "[4, 4]"}


def _reshape(shape: Shape, params: ReshapeParams) -> Shape:
    target = tuple(params.shape)
    if math.prod(target) != math.prod(shape):
        raise ShapeError(
            codes.E307,
            f"`reshape` cannot turn {show(shape)} ({math.prod(shape)} entries) into {show(target)} "
            f"({math.prod(target)} entries)",
            "the new shape must have as many entries as the old one",
            param="shape",
        )
    return target


RESHAPE = OpEntry(
    name="reshape",
    kind=Kind.BIJECTIVE,
    params=ReshapeParams,
    runtime="Reshape",
    summary="the same entries in a new shape (row-major order)",
    maths="z = x read in row-major order into the new shape. log|det J| = 0.",
    infer_shape=single(_reshape),
    domain=structural(lambda p, shapes: Regroup()),
    emit=lambda e: (("shape", e.t.shape), ("target", tuple(e.params.shape))),
    parameters=no_parameters,
)

FLATTEN = OpEntry(
    name="flatten",
    kind=Kind.BIJECTIVE,
    params=NoParams,
    runtime="Flatten",
    summary="the entries as one vector `[D]` (row-major order)",
    maths="z = x read in row-major order. log|det J| = 0.",
    infer_shape=single(lambda shape, p: (math.prod(shape),)),
    domain=structural(lambda p, shapes: Regroup()),
    emit=lambda e: (("shape", e.t.shape),),
    parameters=no_parameters,
)

# --------------------------------------------------------------------------------------------
# Several tensors


class SplitParams(DimParams):
    sizes: Annotated[tuple[Size, ...] | None, Field(min_length=2, description="the size of each part")] = None

    unset = {"sizes": "[⌈n/2⌉, ⌊n/2⌋]"}


def _split_sizes(shape: Shape, params: SplitParams) -> tuple[int, ...]:
    n = check_axis(shape, params.dim, "split")
    if params.sizes is None:
        if n < 2:
            raise ShapeError(
                codes.E302,
                f"`split` needs at least 2 entries along dim={params.dim}, found {n}",
                "split along an axis of size 2 or more",
                param="dim",
            )
        return halves(n)
    if sum(params.sizes) != n:
        raise ShapeError(
            codes.E302,
            f"`split` sizes {show(params.sizes)} add up to {sum(params.sizes)}, but dim={params.dim} has {n} entries",
            f"give sizes that add up to {n}",
            param="sizes",
        )
    return tuple(params.sizes)


SPLIT = OpEntry(
    name="split",
    kind=Kind.BIJECTIVE,
    params=SplitParams,
    runtime="Split",
    summary="cuts a tensor along `dim` into parts (default two, the first ⌈n/2⌉)",
    maths="(z_1, …, z_m) = consecutive parts of x along `dim`. log|det J| = 0.",
    infer_shape=lambda shapes, p: tuple(with_size(shapes[0], p.dim, s) for s in _split_sizes(shapes[0], p)),
    domain=structural(lambda p, shapes: Split(p.dim, _split_sizes(shapes[0], p))),
    emit=lambda e: (("shape", e.t.shape), ("dim", e.params.dim), ("sizes", _split_sizes(e.t.shape, e.params))),
    num_outputs=lambda p: 2 if p.sizes is None else len(p.sizes),
    parameters=no_parameters,
)


def _concat(shapes: tuple[Shape, ...], params: DimParams) -> tuple[Shape, ...]:
    first = shapes[0]
    check_axis(first, params.dim, "concat")
    for other in shapes[1:]:
        others_agree = len(other) == len(first) and all(
            a == b for d, (a, b) in enumerate(zip(first, other, strict=True)) if d != params.dim
        )
        if not others_agree:
            raise ShapeError(
                codes.E308,
                f"`concat` along dim={params.dim} needs the other axes to agree, found {show(first)} and {show(other)}",
                "tensors joined along `dim` must have the same size on every other axis",
                param="dim",
            )
    return (with_size(first, params.dim, sum(s[params.dim] for s in shapes)),)


def _emit_concat(e: EmitArgs) -> Kwargs:
    return (("shapes", tuple(t.shape for t in e.inputs)), ("dim", e.params.dim))


CONCAT = OpEntry(
    name="concat",
    kind=Kind.BIJECTIVE,
    params=DimParams,
    runtime="Concat",
    summary="joins two or more tensors along `dim`",
    maths="z = (x_1, …, x_m) joined along `dim`. log|det J| = 0.",
    infer_shape=_concat,
    domain=structural(lambda p, shapes: Concat(p.dim)),
    emit=_emit_concat,
    num_inputs=None,
    parameters=no_parameters,
)

STRUCTURAL_OPS: tuple[OpEntry, ...] = (
    REVERSE,
    SHUFFLE,
    TRANSPOSE,
    SQUEEZE2D,
    UNSQUEEZE2D,
    RESHAPE,
    FLATTEN,
    SPLIT,
    CONCAT,
)
