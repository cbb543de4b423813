"""Learned bijections: couplings, autoregressive layers, actnorm, invertible linear maps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field

from .base import (
    NET_BASED,
    CallValue,
    EmitArgs,
    Emitter,
    Kind,
    Kwargs,
    NetSlot,
    NoParams,
    OneShapeRule,
    OpEntry,
    Params,
    Shape,
    ShapeRule,
    Slot,
    SlotRule,
    TensorRef,
    single,
)
from .counts import Count, CountKwargs, Nested, with_net
from .rules import need_rank, params_out, part_along, same_shape, shape_only, with_size

# --------------------------------------------------------------------------------------------
# Couplings


ContextRead = Annotated[TensorRef | None, Field(description="a tensor the net also reads (conditional flows)")]


class CouplingParams(Params):
    net: Annotated[CallValue, Field(description="a net: `mlp(...)`; sizes are inferred")]
    context: ContextRead = None
    dim: Annotated[int, Field(ge=0, description="the axis to split along, from 0")] = 0
    split: Annotated[int | None, Field(ge=1, description="entries that condition, 1..n − 1")] = None

    nested = {"net": "net"}
    examples = {"net": "mlp(hidden=[64, 64])"}
    unset = {"context": "none", "split": "⌈n/2⌉"}


class AffineCouplingParams(CouplingParams):
    scale: Literal["tanh_exp", "exp", "softplus", "sigmoid"] = "tanh_exp"


class SplineCouplingParams(CouplingParams):
    bins: Annotated[int, Field(ge=2, le=1024, description="spline bins")] = 8
    bound: Annotated[
        float,
        Field(
            gt=0,
            le=1e6,
            description="the spline acts on [−bound, bound]; at most 1e6, so its bin widths stay finite in float32",
        ),
    ] = 3.0


def coupling(op: str, per_entry: Callable[[Any], int]) -> tuple[ShapeRule, SlotRule, Emitter]:
    """(shape rule, slots, emitter) of a coupling whose net gives `per_entry(params)` numbers
    for each transformed entry."""

    def parts(shape: Shape, params: CouplingParams) -> tuple[Shape, Shape]:
        first, rest = part_along(shape, params.dim, params.split, op, "split")
        return with_size(shape, params.dim, first), with_size(shape, params.dim, rest)

    def rule(shape: Shape, params: CouplingParams) -> Shape:
        parts(shape, params)
        return shape

    def slots(shapes: tuple[Shape, ...], params: CouplingParams) -> dict[str, Slot]:
        first, rest = parts(shapes[0], params)
        return {"net": NetSlot(first, params_out(per_entry(params), rest))}

    def emit(e: EmitArgs) -> Kwargs:
        first, _ = parts(e.t.shape, e.params)
        split = first[e.params.dim]
        kwargs: Kwargs = (("shape", e.t.shape), ("net", e.nested["net"]), ("dim", e.params.dim), ("split", split))
        extra = {k: getattr(e.params, k) for k in ("scale", "bins", "bound") if hasattr(e.params, k)}
        return kwargs + tuple((k, float(v) if k == "bound" else v) for k, v in extra.items())

    return single(rule), slots, emit


_affine = coupling("affine_coupling", lambda p: 2)
AFFINE_COUPLING = OpEntry(
    name="affine_coupling",
    kind=Kind.BIJECTIVE,
    params=AffineCouplingParams,
    runtime="AffineCoupling",
    summary="affine coupling: the first `split` entries along `dim` condition an affine map of the rest",
    maths=(
        "x = (x_a, x_b) split along `dim`; (s, t) = net(x_a); z_a = x_a, z_b = x_b · scale(s) + t. "
        "scale: tanh_exp = exp(2·tanh(s/2)) (default), exp = exp(s), softplus = softplus(s + log(e − 1)), "
        "sigmoid = 2·sigmoid(s); each gives scale(0) = 1, so a zero net output is the identity. "
        "log|det J| = Σ log scale(s). On `[C, H, W]` with a convolutional net, couple along dim=0."
    ),
    infer_shape=_affine[0],
    domain=NET_BASED,
    emit=_affine[2],
    slots=_affine[1],
    parameters=with_net,
)

_additive = coupling("additive_coupling", lambda p: 1)
ADDITIVE_COUPLING = OpEntry(
    name="additive_coupling",
    kind=Kind.BIJECTIVE,
    params=CouplingParams,
    runtime="AdditiveCoupling",
    summary="additive coupling: the first `split` entries along `dim` shift the rest",
    maths="x = (x_a, x_b); z_a = x_a, z_b = x_b + net(x_a). Volume preserving: log|det J| = 0.",
    infer_shape=_additive[0],
    domain=NET_BASED,
    emit=_additive[2],
    slots=_additive[1],
    parameters=with_net,
)

_spline = coupling("spline_coupling", lambda p: 3 * p.bins - 1)
SPLINE_COUPLING = OpEntry(
    name="spline_coupling",
    kind=Kind.BIJECTIVE,
    params=SplineCouplingParams,
    runtime="SplineCoupling",
    summary="rational-quadratic spline coupling on [−bound, bound] with identity tails",
    maths=(
        "x = (x_a, x_b); net(x_a) gives, per entry of x_b, `bins` widths, `bins` heights and `bins` − 1 "
        "interior derivatives of a monotone rational-quadratic spline on [−bound, bound] (Durkan et al. 2019); "
        "outside it the map is the identity, and the boundary derivatives are 1. A zero net output gives equal "
        "bins and unit derivatives: the identity. log|det J| = Σ log dz_b/dx_b."
    ),
    infer_shape=_spline[0],
    domain=NET_BASED,
    emit=_spline[2],
    slots=_spline[1],
    parameters=with_net,
)

# --------------------------------------------------------------------------------------------
# Autoregressive


class AutoregressiveParams(Params):
    net: Annotated[CallValue, Field(description="a masked net: `made(hidden=[...])`")]
    context: ContextRead = None
    scale: Literal["tanh_exp", "exp", "softplus", "sigmoid"] = "tanh_exp"

    nested = {"net": "net"}
    examples = {"net": "made(hidden=[64, 64])"}
    unset = {"context": "none"}


def _vector(op: str) -> OneShapeRule:
    def rule(shape: Shape, _params: object) -> Shape:
        need_rank(shape, (1,), op, "vectors `[D]`", f"flatten it first: `h = flatten(h)`, then `{op}(h, ...)`")
        return shape

    return rule


AFFINE_AUTOREGRESSIVE = OpEntry(
    name="affine_autoregressive",
    kind=Kind.BIJECTIVE,
    params=AutoregressiveParams,
    runtime="AffineAutoregressive",
    summary="masked autoregressive affine map of a vector; sequential inverse",
    maths=(
        "z_d = x_d · scale(s_d) + t_d with (s_d, t_d) = made(x_{<d}); scales as in `affine_coupling`. "
        "The Jacobian is triangular: log|det J| = Σ_d log scale(s_d). Inference is one pass; sampling "
        "takes D passes. A zero net output is the identity."
    ),
    infer_shape=single(_vector("affine_autoregressive")),
    domain=NET_BASED,
    emit=lambda e: (("shape", e.t.shape), ("net", e.nested["net"]), ("scale", e.params.scale)),
    slots=lambda shapes, p: {"net": NetSlot(shapes[0], (2 * shapes[0][0],), autoregressive=True)},
    parameters=with_net,
)

# --------------------------------------------------------------------------------------------
# Per-channel and linear maps


def _actnorm_parameters(k: CountKwargs, _nested: Nested) -> Count:
    channels: int = k["shape"][0]
    return 2 * channels  # shift and log_scale per channel


ACTNORM = OpEntry(
    name="actnorm",
    kind=Kind.BIJECTIVE,
    params=NoParams,
    runtime="ActNorm",
    summary="per-channel learned scale and shift, set from data by `model.initialize`",
    maths=(
        "z = x · exp(s_c) + b_c per channel c (axis 0). Starts as the identity (s = b = 0); "
        "`initialize` sets s and b so that each channel of a batch has zero mean and unit variance. "
        "log|det J| = (entries per channel) · Σ_c s_c."
    ),
    infer_shape=single(same_shape),
    domain=NET_BASED,
    emit=shape_only,
    parameters=_actnorm_parameters,
)


def _channels(shape: Shape, _params: object) -> Shape:
    need_rank(shape, (2, 3), "conv1x1", "`[C, L]` or `[C, H, W]` tensors", "use `linear` on vectors `[D]`")
    return shape


LU_MATHS = (
    "W = P · L · (U + diag(sign · exp(log s))) with P a fixed permutation, L unit lower and U strictly upper "
    "triangular, initialised from a random rotation drawn from a seed fixed per layer. The C² learned numbers "
    "are held in one C×C matrix: L below its diagonal, U above it, log s on it. "
)


def _lu_parameters(k: CountKwargs, _nested: Nested) -> Count:
    """`conv1x1` and `linear` (LU-decomposed): one (C, C) parameter `lu` holding L's strict
    lower triangle, U's strict upper triangle and log s on its diagonal: C², as many as the
    matrix has entries."""
    channels: int = k["shape"][0]
    return channels * channels


CONV1X1 = OpEntry(
    name="conv1x1",
    kind=Kind.BIJECTIVE,
    params=NoParams,
    runtime="Conv1x1",
    summary="invertible 1×1 convolution: one learned C×C matrix at every position (LU-parameterised)",
    maths=LU_MATHS + "z[:, p] = W · x[:, p] at each position p; log|det J| = (positions) · Σ log s.",
    infer_shape=single(_channels),
    domain=NET_BASED,
    emit=lambda e: (("shape", e.t.shape), ("seed", e.ordinal)),
    parameters=_lu_parameters,
)

LINEAR = OpEntry(
    name="linear",
    kind=Kind.BIJECTIVE,
    params=NoParams,
    runtime="Linear",
    summary="invertible linear map of a vector (LU-parameterised, no bias)",
    maths=LU_MATHS + "z = W · x; log|det J| = Σ log s.",
    infer_shape=single(_vector("linear")),
    domain=NET_BASED,
    emit=lambda e: (("shape", e.t.shape), ("seed", e.ordinal)),
    parameters=_lu_parameters,
)

BIJECTIVE_OPS: tuple[OpEntry, ...] = (
    AFFINE_COUPLING,
    ADDITIVE_COUPLING,
    SPLINE_COUPLING,
    AFFINE_AUTOREGRESSIVE,
    ACTNORM,
    CONV1X1,
    LINEAR,
)
