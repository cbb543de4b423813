"""Fixed elementwise bijections: monotone maps whose domains map by their endpoints (§6.3)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..core import codes
from ..core.domains import INF, POSITIVE, REAL, UNIT, Domain
from .base import (
    NET_BASED,
    ChannelMaps,
    DomainRule,
    EmitArgs,
    Kind,
    Kwargs,
    NoParams,
    OpEntry,
    Params,
    Shape,
    ShapeError,
    always,
    single,
)
from .counts import Count, CountKwargs, Nested, no_parameters, numel
from .rules import same_shape, shape_only, show

# --------------------------------------------------------------------------------------------
# Fixed elementwise maps: monotone, so domains map by their endpoints


def _safe(fn: Callable[[float], float]) -> Callable[[float], float]:
    """Extend a map to the closed ends of its domain (±inf and the singular edges)."""

    def mapped(v: float) -> float:
        try:
            return fn(v)
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


Numbers = tuple[float, ...]


class ByParams(Params):
    by: Annotated[
        float | Numbers,
        Field(
            description=(
                "a number, or a list of numbers: one per entry (`per=element`) or per entry of axis 0 (`per=channel`)"
            )
        ),
    ]
    per: Annotated[
        Literal["element", "channel"] | None,
        Field(validate_default=True, description="what a list's numbers belong to: entries, or entries of axis 0"),
    ] = None

    examples = {"by": "1.0"}
    unset = {"per": "element (with a list)"}

    @field_validator("by")
    @classmethod
    def _not_empty(cls, value: float | Numbers) -> float | Numbers:
        if isinstance(value, tuple) and not value:
            raise ValueError("must hold at least one number")
        return value

    @field_validator("per")
    @classmethod
    def _only_with_a_list(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not isinstance(info.data.get("by"), tuple):
            raise ValueError("goes only with a list `by=[...]`: one number already applies to every entry")
        return value


class ScaleParams(ByParams):
    @field_validator("by")
    @classmethod
    def _nonzero(cls, value: float | Numbers) -> float | Numbers:
        if any(v == 0 for v in _numbers(value)):
            raise ValueError("must not be 0 (scaling by 0 is not invertible)")
        return value


def _numbers(by: float | Numbers) -> Numbers:
    return by if isinstance(by, tuple) else (by,)


def elementwise(
    name: str,
    runtime: str,
    accepts: Domain,
    point: Callable[[float], float],
    summary: str,
    maths: str,
    params: type[Params] = NoParams,
) -> OpEntry:
    """A fixed elementwise bijection: domains and folds map through `point`
    (docs/language.md, What the checker enforces)."""
    return OpEntry(
        name=name,
        kind=Kind.BIJECTIVE,
        params=params,
        runtime=runtime,
        summary=summary,
        maths=maths,
        infer_shape=single(same_shape),
        domain=DomainRule(accepts=always(accepts), role="elementwise", point_map=lambda p: _safe(point)),
        emit=shape_only,
        parameters=no_parameters,
    )


# --------------------------------------------------------------------------------------------
# `shift` and `scale`: one number, or a list with one number per entry or per channel


def _fits(shape: Shape, params: ByParams) -> Shape:
    """E312 unless a list `by` has one number per entry (per element) or per entry of axis 0."""
    if isinstance(params.by, tuple):
        per = params.per or "element"
        want = numel(shape) if per == "element" else shape[0]
        if len(params.by) != want:
            what = f"entry of the tensor ({show(shape)})" if per == "element" else f"entry of axis 0 of {show(shape)}"
            other = shape[0] if per == "element" else numel(shape)
            alternative = "per=channel" if per == "element" else "per=element"
            raise ShapeError(
                codes.E312,
                f"`by` has {len(params.by)} numbers, but `per={per}` needs one per {what}: {want}",
                f"give {want} numbers, or {other} with `{alternative}`" if other != want else f"give {want} numbers",
                param="by",
            )
    return shape


def _entry_maps(make: Callable[[float], Callable[[float], float]]) -> Callable[[Any, Shape], ChannelMaps | None]:
    """The rule's per-entry maps for a list `by` (None for one number): for each index along
    axis 0, the distinct maps its entries get. Equal numbers share one map object, so the
    checker can tell where the maps differ."""

    def maps(params: ByParams, shape: Shape) -> ChannelMaps | None:
        if not isinstance(params.by, tuple):
            return None
        made = {v: _safe(make(v)) for v in dict.fromkeys(params.by)}
        if params.per == "channel":
            return tuple((made[v],) for v in params.by)
        rest = numel(shape[1:])
        rows = (params.by[c * rest : (c + 1) * rest] for c in range(shape[0]))
        return tuple(tuple(made[v] for v in dict.fromkeys(row)) for row in rows)

    return maps


def _emit_by(e: EmitArgs) -> Kwargs:
    by = e.params.by
    if not isinstance(by, tuple):
        return (("shape", e.t.shape), ("by", float(by)))
    return (("shape", e.t.shape), ("by", tuple(float(v) for v in by)), ("per", e.params.per or "element"))


_BY_MATHS = (
    " `by` is one number, or a list: one number per entry in row-major order (`per=element`, the default) "
    "or per entry of axis 0, shared along the other axes (`per=channel`)."
)

SHIFT = OpEntry(
    name="shift",
    kind=Kind.BIJECTIVE,
    params=ByParams,
    runtime="Shift",
    summary="adds a fixed number, or a fixed number per entry or channel",
    maths="z = x + by; log|det J| = 0." + _BY_MATHS,
    infer_shape=single(_fits),
    domain=DomainRule(
        accepts=always(REAL),
        role="elementwise",
        point_map=lambda p: _safe(lambda v: v + p.by),
        entry_maps=_entry_maps(lambda by: lambda v: v + by),
        finite=True,
    ),
    emit=_emit_by,
    parameters=no_parameters,
)


def _scale_sign(domain: Domain, params: ScaleParams) -> str | None:
    if any(v < 0 for v in _numbers(params.by)) and domain != REAL:
        what = "a negative number" if not isinstance(params.by, tuple) else "a list with a negative number"
        return f"`scale` by {what} needs a real tensor, found {domain}"
    return None


SCALE = OpEntry(
    name="scale",
    kind=Kind.BIJECTIVE,
    params=ScaleParams,
    runtime="Scale",
    summary="multiplies by a fixed non-zero number, or one per entry or channel (positive unless the tensor is real)",
    maths=(
        "z = by · x; log|det J| = D · log|by| for one number, Σ over entries of log|by_i| for a list "
        "(each channel's number counted once per position with `per=channel`)." + _BY_MATHS + " A list with "
        "numbers of both signs maps each entry by its own number: the checker gives the tensor the hull of the "
        "entries' images, and a fold's region only where every entry's image agrees; different numbers along a "
        "sorted axis, or a negative one, break the order of `sort`."
    ),
    infer_shape=single(_fits),
    domain=DomainRule(
        accepts=always(REAL),
        role="elementwise",
        point_map=lambda p: _safe(lambda v: v * p.by),
        entry_maps=_entry_maps(lambda by: lambda v: v * by),
        requires=_scale_sign,
        finite=True,
    ),
    emit=_emit_by,
    parameters=no_parameters,
)

SIGMOID = elementwise(
    "sigmoid",
    "Sigmoid",
    REAL,
    _sigmoid,
    "real → unit",
    "z = 1 / (1 + e^{−x}); log|det J| = Σ log σ(x) + log σ(−x).",
)
LOGIT = elementwise(
    "logit",
    "Logit",
    UNIT,
    _logit,
    "unit → real (an exact 0 or 1 is moved to the nearest interior float)",
    "z = log x − log(1 − x); log|det J| = −Σ log x + log(1 − x).",
)
SOFTPLUS = elementwise(
    "softplus",
    "Softplus",
    REAL,
    _softplus,
    "real → positive",
    "z = log(1 + e^x); log|det J| = Σ log σ(x).",
)
SOFTPLUS_INV = elementwise(
    "softplus_inv",
    "SoftplusInv",
    POSITIVE,
    _softplus_inv,
    "positive → real (an exact 0 is moved to the smallest positive float)",
    "z = log(e^x − 1); log|det J| = −Σ log(1 − e^{−x}).",
)


def _exp(v: float) -> float:
    return INF if v > 700 else math.exp(v)


def _log(v: float) -> float:
    return -INF if v <= 0.0 else math.log(v)


EXP = elementwise(
    "exp",
    "Exp",
    REAL,
    _exp,
    "real → positive",
    "z = e^x; log|det J| = Σ x.",
)
LOG = elementwise(
    "log",
    "Log",
    POSITIVE,
    _log,
    "positive → real (an exact 0 is moved to the smallest positive float)",
    "z = log x; log|det J| = −Σ log x.",
)

# --------------------------------------------------------------------------------------------
# Learned per-entry and per-channel affine maps: real → real (NET_BASED: a fold leaks into
# them unless its region is the reals, an order of `sort` always does)


class AffineParams(Params):
    per: Literal["element", "channel"] = "element"


def _affine_parameters(k: CountKwargs, _nested: Nested) -> Count:
    shape: Shape = k["shape"]
    return 2 * (numel(shape) if k.get("per", "element") == "element" else shape[0])  # shift and log_scale


AFFINE = OpEntry(
    name="affine",
    kind=Kind.BIJECTIVE,
    params=AffineParams,
    runtime="Affine",
    summary="learned scale and shift per entry (`per=element`) or per channel (`per=channel`)",
    maths=(
        "z = x · exp(s) + b with s and b learned, one per entry (`per=element`, the default) or one per entry "
        "of axis 0 shared along the other axes (`per=channel`); both start at 0, so a fresh layer is the identity "
        "(unlike `actnorm`, nothing is set from data). log|det J| = Σ over entries of s."
    ),
    infer_shape=single(same_shape),
    domain=NET_BASED,
    emit=lambda e: (("shape", e.t.shape), ("per", e.params.per)),
    parameters=_affine_parameters,
)


class BatchNormParams(Params):
    momentum: Annotated[
        float, Field(gt=0, le=1, description="how far the running averages move towards each batch's statistics")
    ] = 0.1
    eps: Annotated[float, Field(gt=0, le=1, description="added to the variance before its square root")] = 1e-5
    affine: Annotated[bool, Field(description="learn a log-scale and a shift per channel after normalising")] = True


def _batchnorm_parameters(k: CountKwargs, _nested: Nested) -> Count:
    channels: int = k["shape"][0]
    return 2 * channels if k.get("affine", True) else 0  # log_scale and shift; the running averages are buffers


BATCHNORM = OpEntry(
    name="batchnorm",
    kind=Kind.BIJECTIVE,
    params=BatchNormParams,
    runtime="BatchNorm",
    summary="batch normalisation as a bijection (RealNVP), per channel; exact in evaluation mode only",
    maths=(
        "z = (x − μ_c) / √(σ²_c + eps) · exp(s_c) + b_c per channel c (axis 0), s and b learned (`affine=true`, "
        "starting at 0). In evaluation mode (`model.eval()`) μ and σ² are running averages: a fixed affine "
        "bijection, log|det J| = (positions) · Σ_c (s_c − ½ log(σ²_c + eps)), exact. In training mode they are "
        "the batch's mean and variance over the batch and the other axes (the running averages move towards them "
        "by `momentum`): the map of one example depends on the rest of its batch, so `log_prob` is not a "
        "per-example density; `--check` notes it. Sampling uses the running averages."
    ),
    infer_shape=single(same_shape),
    domain=NET_BASED,
    emit=lambda e: (
        ("shape", e.t.shape),
        ("momentum", float(e.params.momentum)),
        ("eps", float(e.params.eps)),
        ("affine", e.params.affine),
    ),
    parameters=_batchnorm_parameters,
    note=(
        "is exact in evaluation mode only (`model.eval()`): in training mode `log_prob` normalises by the "
        "statistics of the batch, so it is not a per-example density"
    ),
)

ELEMENTWISE_OPS: tuple[OpEntry, ...] = (
    SHIFT,
    SCALE,
    SIGMOID,
    LOGIT,
    SOFTPLUS,
    SOFTPLUS_INV,
    EXP,
    LOG,
    AFFINE,
    BATCHNORM,
)
