"""Distributions (after `~`, or as an op's encoder or decoder) and nets (`net=`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..domains import POSITIVE, REAL, UNIT, TensorType
from .base import DistEntry, NetEntry, NoParams, Params


class NormalParams(Params):
    per: Literal["element", "channel"] = "element"


def _shape(params: object, t: TensorType) -> tuple[tuple[str, object], ...]:
    return (("shape", t.shape),)


STANDARD_NORMAL = DistEntry(
    name="standard_normal",
    params=NoParams,
    runtime="StandardNormal",
    support=REAL,
    discrete=False,
    summary="N(0, 1) on every entry",
    maths="log p(z) = −½ Σ (z² + log 2π).",
    emit=_shape,  # type: ignore[arg-type]
)

NORMAL = DistEntry(
    name="normal",
    params=NormalParams,
    runtime="Normal",
    support=REAL,
    discrete=False,
    summary="a normal with learned location and log-scale, per element or per channel",
    maths=(
        "log p(z) = Σ log N(z; μ, σ²) with μ and log σ learned, starting at 0 (N(0, 1)); "
        "`per=channel` shares them along all but the first axis."
    ),
    emit=lambda p, t: (("shape", t.shape), ("per", p.per)),
)

HALF_NORMAL = DistEntry(
    name="half_normal",
    params=NoParams,
    runtime="HalfNormal",
    support=POSITIVE,
    discrete=False,
    summary="a half-normal on positive values with a learned scale",
    maths="log p(z) = Σ log 2 + log N(z; 0, σ²) for z ≥ 0, σ learned, starting at 1.",
    emit=_shape,  # type: ignore[arg-type]
)

STANDARD_UNIFORM = DistEntry(
    name="standard_uniform",
    params=NoParams,
    runtime="StandardUniform",
    support=UNIT,
    discrete=False,
    summary="Uniform(0, 1) on every entry",
    maths="log p(z) = 0 on (0, 1)^D.",
    emit=_shape,  # type: ignore[arg-type]
)

DISTRIBUTIONS: tuple[DistEntry, ...] = (STANDARD_NORMAL, NORMAL, HALF_NORMAL, STANDARD_UNIFORM)


class MlpParams(Params):
    hidden: Annotated[
        tuple[Annotated[int, Field(ge=1, le=1_000_000)], ...],
        Field(min_length=1, description="widths of the hidden layers, e.g. `[64, 64]`"),
    ] = (64, 64)
    activation: Literal["relu", "gelu", "tanh"] = "relu"


MLP = NetEntry(
    name="mlp",
    params=MlpParams,
    runtime="MLP",
    summary="a fully connected net; its last layer starts at zero",
    emit=lambda p, n_in, n_out: (
        ("in_features", n_in),
        ("out_features", n_out),
        ("hidden", tuple(p.hidden)),
        ("activation", p.activation),
    ),
)

NETS: tuple[NetEntry, ...] = (MLP,)
