"""Learned bijections: couplings, autoregressive layers, actnorm, invertible linear maps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..core import codes
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
    ShapeError,
    ShapeRule,
    Slot,
    SlotRule,
    TensorRef,
    single,
)
from .counts import Count, CountKwargs, Nested, numel, with_net
from .rules import need_rank, params_out, part_along, same_shape, shape_only, show, with_size

# --------------------------------------------------------------------------------------------
# Couplings


ContextRead = Annotated[TensorRef | None, Field(description="a tensor the net also reads (conditional flows)")]


Scale = Literal["tanh_exp", "exp", "softplus", "sigmoid", "sigmoid_ref", "softplus_plain"]
SCALE_MATHS = (
    "scale: tanh_exp = exp(2·tanh(s/2)) (default), exp = exp(s), softplus = softplus(s + log(e − 1)), "
    "sigmoid = 2·sigmoid(s); each gives scale(0) = 1, so a zero net output is the identity. The SurVAE "
    "reference code's choices are there too: sigmoid_ref = sigmoid(s + 2) + 1e-3 and softplus_plain = "
    "softplus(s), which are not the identity at s = 0 (0.882 and 0.693). "
)


class CouplingParams(Params):
    net: Annotated[CallValue, Field(description="a net: `mlp(...)`; sizes are inferred")]
    context: ContextRead = None
    mask: Annotated[
        Literal["split", "checkerboard"],
        Field(
            description="`split`: the first `split` entries along `dim` condition; `checkerboard`: "
            "the entries of one colour of a checkerboard over the spatial axes of `[C, L]` or `[C, H, W]` "
            "condition (RealNVP)"
        ),
    ] = "split"
    parity: Annotated[
        int, Field(ge=0, le=1, description="with `mask=checkerboard`: 0, the even squares condition; 1, the odd")
    ] = 0
    dim: Annotated[int, Field(ge=0, description="the axis to split along, from 0")] = 0
    split: Annotated[int | None, Field(ge=1, description="entries that condition, 1..n − 1")] = None

    nested = {"net": "net"}
    examples = {"net": "mlp(hidden=[64, 64])"}
    unset = {"context": "none", "split": "⌈n/2⌉"}

    @field_validator("parity")
    @classmethod
    def _parity_needs_checkerboard(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("mask") != "checkerboard":
            raise ValueError("is for `mask=checkerboard` only: a split coupling has no colours")
        return value

    @field_validator("dim", "split")
    @classmethod
    def _split_needs_split(cls, value: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("mask") == "checkerboard":
            raise ValueError("is for `mask=split` only: a checkerboard alternates over the spatial axes")
        return value


class AffineCouplingParams(CouplingParams):
    scale: Scale = "tanh_exp"


Bins = Annotated[int, Field(ge=2, le=1024, description="spline bins")]
Bound = Annotated[
    float,
    Field(
        gt=0,
        le=1e6,
        description="the spline acts on [−bound, bound]; at most 1e6, so its bin widths stay finite in float32",
    ),
]


class SplineCouplingParams(CouplingParams):
    bins: Bins = 8
    bound: Bound = 3.0


class LogisticMixtureParams(CouplingParams):
    components: Annotated[int, Field(ge=1, le=1024, description="logistics in the mixture (K)")] = 4


def _checkerboard(shape: Shape, op: str) -> None:
    """ShapeError unless a checkerboard fits: `[C, L]` or `[C, H, W]` with ≥ 2 spatial entries."""
    need_rank(shape, (2, 3), op, "`[C, L]` or `[C, H, W]` tensors with `mask=checkerboard`", "use `mask=split`")
    if numel(shape[1:]) < 2:
        raise ShapeError(
            codes.E302,
            f"`{op}` with `mask=checkerboard` needs at least 2 spatial entries, found {show(shape)}",
            "use `mask=split` to split the channels",
            param="mask",
        )


def coupling(op: str, per_entry: Callable[[Any], int]) -> tuple[ShapeRule, SlotRule, Emitter]:
    """(shape rule, slots, emitter) of a coupling whose net gives `per_entry(params)` numbers
    for each transformed entry. With `mask=checkerboard` the net reads the whole (masked)
    tensor and gives numbers for every entry."""

    def parts(shape: Shape, params: CouplingParams) -> tuple[Shape, Shape]:
        if params.mask == "checkerboard":
            _checkerboard(shape, op)
            return shape, shape
        first, rest = part_along(shape, params.dim, params.split, op, "split")
        return with_size(shape, params.dim, first), with_size(shape, params.dim, rest)

    def rule(shape: Shape, params: CouplingParams) -> Shape:
        parts(shape, params)
        return shape

    def slots(shapes: tuple[Shape, ...], params: CouplingParams) -> dict[str, Slot]:
        first, rest = parts(shapes[0], params)
        return {"net": NetSlot(first, params_out(per_entry(params), rest))}

    def emit(e: EmitArgs) -> Kwargs:
        p = e.params
        kwargs: Kwargs = (("shape", e.t.shape), ("net", e.nested["net"]))
        if p.mask == "checkerboard":
            kwargs += (("mask", "checkerboard"), ("parity", p.parity))
        else:
            first, _ = parts(e.t.shape, p)
            kwargs += (("dim", p.dim), ("split", first[p.dim]))
        extra = {k: getattr(p, k) for k in ("scale", "bins", "bound", "components") if hasattr(p, k)}
        return kwargs + tuple((k, float(v) if k == "bound" else v) for k, v in extra.items())

    return single(rule), slots, emit


CHECKERBOARD_MATHS = (
    " With `mask=checkerboard` (RealNVP) on `[C, L]` or `[C, H, W]`, b = 1 on the entries whose spatial "
    "indices sum to an even number (odd with `parity=1`), the same in every channel: the net reads x ⊙ b "
    "(shape in = out's spatial shape, `[C, H, W]` → `[P·C, H, W]`), only the entries with b = 0 are "
    "transformed, and only they enter log|det J|."
)


_affine = coupling("affine_coupling", lambda p: 2)
AFFINE_COUPLING = OpEntry(
    name="affine_coupling",
    kind=Kind.BIJECTIVE,
    params=AffineCouplingParams,
    runtime="AffineCoupling",
    summary=(
        "affine coupling: the first `split` entries along `dim` (or a checkerboard) condition an affine map of the rest"
    ),
    maths=(
        "x = (x_a, x_b) split along `dim`; (s, t) = net(x_a); z_a = x_a, z_b = x_b · scale(s) + t. "
        + SCALE_MATHS
        + "log|det J| = Σ log scale(s). On `[C, H, W]` with a convolutional net, couple along dim=0."
        + CHECKERBOARD_MATHS
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
    summary="additive coupling: the first `split` entries along `dim` (or a checkerboard) shift the rest",
    maths="x = (x_a, x_b); z_a = x_a, z_b = x_b + net(x_a). Volume preserving: log|det J| = 0." + CHECKERBOARD_MATHS,
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
        "bins and unit derivatives: the identity. log|det J| = Σ log dz_b/dx_b." + CHECKERBOARD_MATHS
    ),
    infer_shape=_spline[0],
    domain=NET_BASED,
    emit=_spline[2],
    slots=_spline[1],
    parameters=with_net,
)

_mixture = coupling("logistic_mixture_coupling", lambda p: 3 * p.components + 2)
LOGISTIC_MIXTURE_COUPLING = OpEntry(
    name="logistic_mixture_coupling",
    kind=Kind.BIJECTIVE,
    params=LogisticMixtureParams,
    runtime="LogisticMixtureCoupling",
    summary="Flow++ coupling: a mixture-of-logistics CDF, then the inverse sigmoid, then scale and shift",
    maths=(
        "x = (x_a, x_b); net(x_a) gives, per entry of x_b, K = `components` logits π, means μ and log-scales "
        "log s (clamped at −7), a raw scale a and a shift t (Ho et al. 2019): z_b = logit(F(x_b)) · exp(2·tanh(a/2)) "
        "+ t with F(x) = Σ_k softmax(π)_k · sigmoid((x − μ_k)/s_k), a strictly increasing bijection of the "
        "reals onto (0, 1), so z_b ranges over all reals. log|det J| = Σ [log f(x_b) − log F − log(1 − F) + "
        "2·tanh(a/2)], f the mixture's density, all in log-sum-exp form. A zero net output is the identity "
        "(F = sigmoid). The inverse solves F(x) = sigmoid(y) by 64 steps of bisection on the bracket "
        "[min_k, max_k] of the components' quantiles μ_k + s_k·y, which always holds the root: its error is at "
        "most the bracket's width times 2⁻⁶⁴, below float resolution." + CHECKERBOARD_MATHS
    ),
    infer_shape=_mixture[0],
    domain=NET_BASED,
    emit=_mixture[2],
    slots=_mixture[1],
    parameters=with_net,
)

# --------------------------------------------------------------------------------------------
# Autoregressive


class AutoregressiveBaseParams(Params):
    net: Annotated[CallValue, Field(description="a masked net: `made(hidden=[...])`")]
    context: ContextRead = None
    direction: Annotated[
        Literal["forward", "inverse"],
        Field(
            description="`forward` (MAF): the net reads x, log_prob takes one pass and sampling D; "
            "`inverse` (IAF): the net reads z, sampling takes one pass and log_prob D"
        ),
    ] = "forward"

    nested = {"net": "net"}
    examples = {"net": "made(hidden=[64, 64])"}
    unset = {"context": "none"}


class AutoregressiveParams(AutoregressiveBaseParams):
    scale: Scale = "tanh_exp"


class SplineAutoregressiveParams(AutoregressiveBaseParams):
    bins: Bins = 8
    bound: Bound = 3.0


def _vector(op: str) -> OneShapeRule:
    def rule(shape: Shape, _params: object) -> Shape:
        need_rank(shape, (1,), op, "vectors `[D]`", f"flatten it first: `h = flatten(h)`, then `{op}(h, ...)`")
        return shape

    return rule


def _autoregressive_slots(per_feature: Callable[[Any], int]) -> SlotRule:
    """One masked net reading the vector `[D]` and giving `per_feature(params)` numbers per feature."""
    return lambda shapes, p: {"net": NetSlot(shapes[0], (per_feature(p) * shapes[0][0],), autoregressive=True)}


def _autoregressive_emit(keys: tuple[str, ...]) -> Emitter:
    """The constructor's keywords: shape, net, `keys`, and `direction` only when it is `inverse`
    (the default keeps the modules written before it existed unchanged)."""

    def emit(e: EmitArgs) -> Kwargs:
        p = e.params
        kwargs: Kwargs = (("shape", e.t.shape), ("net", e.nested["net"]))
        kwargs += tuple((k, float(getattr(p, k)) if k == "bound" else getattr(p, k)) for k in keys)
        return kwargs + ((("direction", "inverse"),) if p.direction == "inverse" else ())

    return emit


DIRECTION_MATHS = (
    " With `direction=inverse` (IAF, Kingma et al. 2016) the same map runs the other way: x_d = f(z_d) with "
    "its parameters from made(z_{<d}), so sampling is one pass and log_prob takes D sequential passes; "
    "log|det ∂z/∂x| = −Σ_d log f'(z_d)."
)

AFFINE_AUTOREGRESSIVE = OpEntry(
    name="affine_autoregressive",
    kind=Kind.BIJECTIVE,
    params=AutoregressiveParams,
    runtime="AffineAutoregressive",
    summary="masked autoregressive affine map of a vector (MAF, or IAF with `direction=inverse`)",
    maths=(
        "z_d = f(x_d) = x_d · scale(s_d) + t_d with (s_d, t_d) = made(x_{<d}); scales as in `affine_coupling`. "
        "The Jacobian is triangular: log|det J| = Σ_d log scale(s_d). Inference is one pass; sampling "
        "takes D passes. A zero net output is the identity (with the default scales)." + DIRECTION_MATHS
    ),
    infer_shape=single(_vector("affine_autoregressive")),
    domain=NET_BASED,
    emit=_autoregressive_emit(("scale",)),
    slots=_autoregressive_slots(lambda p: 2),
    parameters=with_net,
)

SPLINE_AUTOREGRESSIVE = OpEntry(
    name="spline_autoregressive",
    kind=Kind.BIJECTIVE,
    params=SplineAutoregressiveParams,
    runtime="SplineAutoregressive",
    summary="masked autoregressive rational-quadratic spline of a vector (NSF-AR)",
    maths=(
        "z_d = f(x_d), f the monotone rational-quadratic spline of `spline_coupling` on [−bound, bound] "
        "(identity tails, boundary derivatives 1) whose `bins` widths, `bins` heights and `bins` − 1 interior "
        "derivatives come from made(x_{<d}) (Durkan et al. 2019). The Jacobian is triangular: log|det J| = "
        "Σ_d log f'(x_d). Inference is one pass; sampling takes D passes. A zero net output is the identity."
        + DIRECTION_MATHS
    ),
    infer_shape=single(_vector("spline_autoregressive")),
    domain=NET_BASED,
    emit=_autoregressive_emit(("bins", "bound")),
    slots=_autoregressive_slots(lambda p: 3 * p.bins - 1),
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
    LOGISTIC_MIXTURE_COUPLING,
    AFFINE_AUTOREGRESSIVE,
    SPLINE_AUTOREGRESSIVE,
    ACTNORM,
    CONV1X1,
    LINEAR,
)
