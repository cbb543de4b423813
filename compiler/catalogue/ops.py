"""The transforms of LANGUAGE.md §7 that this version compiles, one entry each."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ..domains import ANY_INT, INF, POSITIVE, REAL, UNIT, Domain, TensorType, interval
from .base import (
    NET_BASED,
    STRUCTURAL,
    Arg,
    CallValue,
    DomainRule,
    EmitNested,
    Kind,
    NoParams,
    OpEntry,
    Params,
    ShapeError,
    always,
    check_axis,
)

Kwargs = tuple[tuple[str, Arg], ...]


def same_shape(shape: tuple[int, ...], _params: object) -> tuple[int, ...]:
    return shape


def shape_only(_params: object, t: TensorType, _nested: EmitNested) -> Kwargs:
    return (("shape", t.shape),)


# --------------------------------------------------------------------------------------------
# Couplings


class CouplingParams(Params):
    net: Annotated[CallValue, Field(description="a net: `mlp(...)`; sizes are inferred")]
    dim: Annotated[int, Field(ge=0, description="the axis to split along, from 0")] = 0
    split: Annotated[int | None, Field(ge=1, description="entries that condition, 1..n − 1; default ⌈n/2⌉")] = None

    nested = {"net": "net"}
    examples = {"net": "mlp(hidden=[64, 64])"}


class AffineCouplingParams(CouplingParams):
    scale: Literal["tanh_exp", "exp", "softplus", "sigmoid"] = "tanh_exp"


def coupling_split(shape: tuple[int, ...], params: CouplingParams, op: str) -> tuple[int, int]:
    """(entries that condition, entries transformed) along `dim`; ShapeError if impossible."""
    n = check_axis(shape, params.dim, op)
    if n < 2:
        raise ShapeError(
            "E302",
            f"`{op}` needs at least 2 entries along dim={params.dim} to split, found {n}",
            "couple along an axis of size 2 or more, or reshape the tensor first",
            param="dim",
        )
    split = params.split if params.split is not None else math.ceil(n / 2)
    if not 1 <= split < n:
        raise ShapeError(
            "E302",
            f"`{op}` cannot keep split={split} of {n} entries along dim={params.dim} as the condition",
            f"`split` must be between 1 and {n - 1}",
            param="split",
        )
    return split, n - split


def coupling_shape(op: str) -> object:
    def rule(shape: tuple[int, ...], params: CouplingParams) -> tuple[int, ...]:
        coupling_split(shape, params, op)
        return shape

    return rule


def emit_coupling(op: str, outputs_per_entry: int) -> object:
    def emit(params: CouplingParams, t: TensorType, nested: EmitNested) -> Kwargs:
        split, rest = coupling_split(t.shape, params, op)
        per_slice = t.size // t.shape[params.dim]
        net = nested("net", split * per_slice, outputs_per_entry * rest * per_slice)
        kwargs: Kwargs = (("shape", t.shape), ("net", net), ("dim", params.dim), ("split", split))
        scale = getattr(params, "scale", None)
        return kwargs + ((("scale", scale),) if scale else ())

    return emit


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
        "log|det J| = Σ log scale(s)."
    ),
    infer_shape=coupling_shape("affine_coupling"),  # type: ignore[arg-type]
    domain=NET_BASED,
    emit=emit_coupling("affine_coupling", 2),  # type: ignore[arg-type]
)

ADDITIVE_COUPLING = OpEntry(
    name="additive_coupling",
    kind=Kind.BIJECTIVE,
    params=CouplingParams,
    runtime="AdditiveCoupling",
    summary="additive coupling: the first `split` entries along `dim` shift the rest",
    maths="x = (x_a, x_b); z_a = x_a, z_b = x_b + net(x_a). Volume preserving: log|det J| = 0.",
    infer_shape=coupling_shape("additive_coupling"),  # type: ignore[arg-type]
    domain=NET_BASED,
    emit=emit_coupling("additive_coupling", 1),  # type: ignore[arg-type]
)

# --------------------------------------------------------------------------------------------
# Structural and learned per-channel maps


class DimParams(Params):
    dim: Annotated[int, Field(ge=0, description="the axis, from 0")] = 0


def reverse_shape(shape: tuple[int, ...], params: DimParams) -> tuple[int, ...]:
    check_axis(shape, params.dim, "reverse")
    return shape


REVERSE = OpEntry(
    name="reverse",
    kind=Kind.BIJECTIVE,
    params=DimParams,
    runtime="Reverse",
    summary="reverses the order of the entries along `dim`",
    maths="z_i = x_{n−1−i} along `dim`. A permutation: log|det J| = 0.",
    infer_shape=reverse_shape,  # type: ignore[arg-type]
    domain=STRUCTURAL,
    emit=lambda p, t, nested: (("shape", t.shape), ("dim", p.dim)),
)

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
    infer_shape=same_shape,
    domain=NET_BASED,
    emit=shape_only,
)

# --------------------------------------------------------------------------------------------
# Fixed elementwise maps: monotone, so domains map by their endpoints


def _safe(fn: object) -> object:
    """Extend a map to the closed ends of its domain (±inf and the singular edges)."""

    def mapped(v: float) -> float:
        try:
            return fn(v)  # type: ignore[operator]
        except (OverflowError, ValueError, ZeroDivisionError):
            return INF if v > 0 else -INF

    return mapped


def _sigmoid(v: float) -> float:
    return 0.0 if v == -INF else 1.0 if v == INF else 1.0 / (1.0 + math.exp(-v))


def _logit(v: float) -> float:
    return -INF if v <= 0.0 else INF if v >= 1.0 else math.log(v / (1.0 - v))


def _softplus(v: float) -> float:
    return v if v > 30 else math.log1p(math.exp(v)) if v != -INF else 0.0


def _softplus_inv(v: float) -> float:
    return -INF if v <= 0.0 else v if v > 30 else math.log(math.expm1(v))


class ByParams(Params):
    by: Annotated[float, Field(description="a number")]

    examples = {"by": "1.0"}


class ScaleParams(ByParams):
    @field_validator("by")
    @classmethod
    def _nonzero(cls, value: float) -> float:
        if value == 0:
            raise ValueError("must not be 0 (scaling by 0 is not invertible)")
        return value


def elementwise(
    name: str,
    runtime: str,
    accepts: Domain,
    point: object,
    summary: str,
    maths: str,
    params: type[Params] = NoParams,
) -> OpEntry:
    """A fixed elementwise bijection: domains and folds map through `point` (LANGUAGE.md §6.3)."""
    return OpEntry(
        name=name,
        kind=Kind.BIJECTIVE,
        params=params,
        runtime=runtime,
        summary=summary,
        maths=maths,
        infer_shape=same_shape,
        domain=DomainRule(accepts=always(accepts), role="elementwise", point_map=lambda p: _safe(point)),  # type: ignore[arg-type]
        emit=shape_only,
    )


SHIFT = OpEntry(
    name="shift",
    kind=Kind.BIJECTIVE,
    params=ByParams,
    runtime="Shift",
    summary="adds a fixed number",
    maths="z = x + by; log|det J| = 0.",
    infer_shape=same_shape,
    domain=DomainRule(accepts=always(REAL), role="elementwise", point_map=lambda p: _safe(lambda v: v + p.by)),
    emit=lambda p, t, nested: (("shape", t.shape), ("by", float(p.by))),
)

def _scale_sign(domain: Domain, params: ScaleParams) -> str | None:
    if params.by < 0 and domain != REAL:
        return f"`scale` by a negative number needs a real tensor, found {domain}"
    return None


SCALE = OpEntry(
    name="scale",
    kind=Kind.BIJECTIVE,
    params=ScaleParams,
    runtime="Scale",
    summary="multiplies by a fixed non-zero number (positive unless the tensor is real)",
    maths="z = by · x; log|det J| = D · log|by|.",
    infer_shape=same_shape,
    domain=DomainRule(
        accepts=always(REAL),
        role="elementwise",
        point_map=lambda p: _safe(lambda v: v * p.by),
        requires=_scale_sign,
    ),
    emit=lambda p, t, nested: (("shape", t.shape), ("by", float(p.by))),
)

SIGMOID = elementwise(
    "sigmoid", "Sigmoid", REAL, _sigmoid, "real → unit",
    "z = 1 / (1 + e^{−x}); log|det J| = Σ log σ(x) + log σ(−x).",
)
LOGIT = elementwise(
    "logit", "Logit", UNIT, _logit, "unit → real (inputs clamped to [ε, 1 − ε])",
    "z = log x − log(1 − x); log|det J| = −Σ log x + log(1 − x).",
)
SOFTPLUS = elementwise(
    "softplus", "Softplus", REAL, _softplus, "real → positive",
    "z = log(1 + e^x); log|det J| = Σ log σ(x).",
)
SOFTPLUS_INV = elementwise(
    "softplus_inv", "SoftplusInv", POSITIVE, _softplus_inv, "positive → real (inputs clamped to ≥ ε)",
    "z = log(e^x − 1); log|det J| = −Σ log(1 − e^{−x}).",
)

# --------------------------------------------------------------------------------------------
# Surjections


def _abs_output(domain: Domain, _params: object) -> Domain:
    if domain.lo >= 0:
        return domain
    if domain.hi <= 0:
        return interval(-domain.hi, -domain.lo)
    return interval(0.0, max(-domain.lo, domain.hi))


class AbsParams(Params):
    sign: Literal["uniform"] = "uniform"


ABS = OpEntry(
    name="abs",
    kind=Kind.INFERENCE_SURJECTIVE,
    params=AbsParams,
    runtime="Abs",
    summary="folds each entry onto its absolute value (exact)",
    maths=(
        "z = |x|. Generative direction: x = s · z with a sign s = ±1 drawn uniformly. "
        "Contribution log p(s | z) = −D · log 2. Exact only if the model downstream puts no mass "
        "on z < 0: its output carries the fold `positive` (LANGUAGE.md §6.3)."
    ),
    infer_shape=same_shape,
    domain=DomainRule(
        accepts=always(REAL),
        role="surjection",
        output=_abs_output,
        sets_fold=POSITIVE,
        regenerates=lambda out: interval(-out.hi, out.hi),  # s · z with a random sign
    ),
    emit=shape_only,
)


def _dequantize_output(domain: Domain, _params: object) -> Domain:
    return UNIT


DEQUANTIZE = OpEntry(
    name="dequantize",
    kind=Kind.GENERATIVE_SURJECTIVE,
    params=NoParams,
    runtime="Dequantize",
    summary="int<K> → unit by adding uniform noise (a lower bound)",
    maths=(
        "z = (x + u) / K with u ~ Uniform(0, 1)^D. Generative direction: x = ⌊K · z⌋, clamped to "
        "{0, …, K − 1}. Contribution −log q(z | x) = −D · log K, so log_prob is a one-sample "
        "lower bound (ELBO) of the discrete log-likelihood."
    ),
    infer_shape=same_shape,
    domain=DomainRule(accepts=always(ANY_INT), role="surjection", output=_dequantize_output),
    emit=lambda p, t, nested: (("shape", t.shape), ("num_classes", t.domain.classes)),
)

OPS: tuple[OpEntry, ...] = (
    AFFINE_COUPLING,
    ADDITIVE_COUPLING,
    REVERSE,
    ACTNORM,
    SHIFT,
    SCALE,
    SIGMOID,
    LOGIT,
    SOFTPLUS,
    SOFTPLUS_INV,
    ABS,
    DEQUANTIZE,
)
