"""Fixed elementwise bijections: monotone maps whose domains map by their endpoints (§6.3)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from pydantic import Field, field_validator

from ..core.domains import INF, POSITIVE, REAL, UNIT, Domain
from .base import DomainRule, Kind, NoParams, OpEntry, Params, always, single
from .counts import no_parameters
from .rules import same_shape, shape_only

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


SHIFT = OpEntry(
    name="shift",
    kind=Kind.BIJECTIVE,
    params=ByParams,
    runtime="Shift",
    summary="adds a fixed number",
    maths="z = x + by; log|det J| = 0.",
    infer_shape=single(same_shape),
    domain=DomainRule(
        accepts=always(REAL), role="elementwise", point_map=lambda p: _safe(lambda v: v + p.by), finite=True
    ),
    emit=lambda e: (("shape", e.t.shape), ("by", float(e.params.by))),
    parameters=no_parameters,
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
    infer_shape=single(same_shape),
    domain=DomainRule(
        accepts=always(REAL),
        role="elementwise",
        point_map=lambda p: _safe(lambda v: v * p.by),
        requires=_scale_sign,
        finite=True,
    ),
    emit=lambda e: (("shape", e.t.shape), ("by", float(e.params.by))),
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

ELEMENTWISE_OPS: tuple[OpEntry, ...] = (SHIFT, SCALE, SIGMOID, LOGIT, SOFTPLUS, SOFTPLUS_INV, EXP, LOG)
