"""Distributions (after `~`, or as an op's encoder or decoder) and nets (`net=`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..core import codes
from ..core.domains import ANY_INT, POSITIVE, REAL, UNIT, TensorType, integers
from .base import CallValue, DistEntry, Kwargs, NetEntry, NoParams, Params, Shape, ShapeError, TensorRef
from .counts import Count, CountKwargs, Nested, chain, conv, dense, no_parameters, numel, own_or_net
from .rules import show

Net = Annotated[
    CallValue | None,
    Field(validate_default=True, description="makes it conditional: its parameters come from `net(context)`"),
]
Context = Annotated[TensorRef | None, Field(description="the tensor its net reads (after `~`)")]


class ConditionalParams(Params):
    context: Context = None
    net: Net = None

    nested = {"net": "net"}
    examples = {"net": "mlp(hidden=[64])"}
    unset = {"context": "none", "net": "none (unconditional)"}

    @field_validator("net")
    @classmethod
    def _net_reads_the_context(cls, value: CallValue | None, info: ValidationInfo) -> CallValue | None:
        if value is None and info.data.get("context") is not None:
            raise ValueError("with `context=`: a net reads the context and gives the parameters")
        return value


class NormalParams(ConditionalParams):
    per: Annotated[Literal["element", "channel"], Field(validate_default=True)] = "element"

    @field_validator("per")
    @classmethod
    def _per_element_when_conditional(cls, value: str, info: ValidationInfo) -> str:
        if value == "channel" and info.data.get("net") is not None:
            raise ValueError("must be `element` with `net=`: a net gives parameters per element")
        return value


def _shape(params: object, t: TensorType) -> Kwargs:
    return (("shape", t.shape),)


STANDARD_NORMAL = DistEntry(
    name="standard_normal",
    params=NoParams,
    runtime="StandardNormal",
    support=REAL,
    discrete=False,
    summary="N(0, 1) on every entry",
    maths="log p(z) = −½ Σ (z² + log 2π).",
    emit=_shape,
    parameters=no_parameters,
)


def _normal_parameters(k: CountKwargs, nested: Nested) -> Count:
    if k.get("net") is not None:
        return nested(k["net"])
    shape = k["shape"] if k.get("per", "element") == "element" else k["shape"][:1]
    return 2 * numel(shape)  # loc and log_scale


NORMAL = DistEntry(
    name="normal",
    params=NormalParams,
    runtime="Normal",
    support=REAL,
    discrete=False,
    summary="a normal with learned location and log-scale, per element or per channel; conditional with `net=`",
    maths=(
        "log p(z) = Σ log N(z; μ, σ²) with μ and log σ learned, starting at 0 (N(0, 1)); "
        "`per=channel` shares them along all but the first axis. With `net=`, (μ, log σ) = net(context): "
        "a zero net output is N(0, 1)."
    ),
    emit=lambda p, t: (("shape", t.shape), ("per", p.per)),
    params_per_entry=lambda p, t: 2,
    parameters=_normal_parameters,
)

HALF_NORMAL = DistEntry(
    name="half_normal",
    params=ConditionalParams,
    runtime="HalfNormal",
    support=POSITIVE,
    discrete=False,
    summary="a half-normal on positive values with a learned scale; conditional with `net=`",
    maths="log p(z) = Σ log 2 + log N(z; 0, σ²) for z ≥ 0, log σ learned (or net(context)), starting at 0.",
    emit=_shape,
    params_per_entry=lambda p, t: 1,
    parameters=own_or_net(lambda k: 1),
)

TRUNCATED_NORMAL = DistEntry(
    name="truncated_normal",
    params=ConditionalParams,
    runtime="TruncatedNormal",
    support=POSITIVE,
    discrete=False,
    summary=(
        "a normal with learned location and log-scale truncated to positive values (its mode can leave 0, "
        "unlike the half-normal's); conditional with `net=`"
    ),
    maths=(
        "log p(z) = Σ log N(z; μ, σ²) − log Φ(μ/σ) for z ≥ 0, with μ and log σ learned (or net(context)), "
        "starting at 0: the half-normal with σ = 1. Sampled by inversion, z = μ − σ Φ⁻¹(u Φ(μ/σ))."
    ),
    emit=_shape,
    params_per_entry=lambda p, t: 2,
    parameters=own_or_net(lambda k: 2),
)

LOGIT_NORMAL = DistEntry(
    name="logit_normal",
    params=ConditionalParams,
    runtime="LogitNormal",
    support=UNIT,
    discrete=False,
    summary="σ(N(μ, σ²)) on (0, 1), learned; conditional with `net=` (a variational dequantizer's q)",
    maths=(
        "u = sigmoid(y) with y ~ N(μ, σ²): log p(u) = Σ log N(logit u; μ, σ²) − log u − log(1 − u); an exact "
        "0 or 1 is moved to the nearest interior float. μ and log σ learned (or net(context)), starting at 0."
    ),
    emit=_shape,
    params_per_entry=lambda p, t: 2,
    parameters=own_or_net(lambda k: 2),
)

STANDARD_UNIFORM = DistEntry(
    name="standard_uniform",
    params=NoParams,
    runtime="StandardUniform",
    support=UNIT,
    discrete=False,
    summary="Uniform(0, 1) on every entry",
    maths="log p(z) = 0 on (0, 1)^D.",
    emit=_shape,
    parameters=no_parameters,
)

CATEGORICAL = DistEntry(
    name="categorical",
    params=ConditionalParams,
    runtime="Categorical",
    support=ANY_INT,
    discrete=True,
    summary="a categorical on int<K> with learned logits; conditional with `net=`",
    maths=(
        "log p(x) = Σ log softmax(ℓ)_{x} per entry, K logits ℓ per entry, learned (or net(context)), "
        "starting at 0: uniform."
    ),
    emit=lambda p, t: (("shape", t.shape), ("num_classes", t.domain.classes)),
    params_per_entry=lambda p, t: t.domain.classes,
    parameters=own_or_net(lambda k: k["num_classes"]),
)

BERNOULLI = DistEntry(
    name="bernoulli",
    params=ConditionalParams,
    runtime="Bernoulli",
    support=integers(2),
    discrete=True,
    summary="a Bernoulli on int<2> with learned logits; conditional with `net=`",
    maths="log p(x) = Σ x · log σ(ℓ) + (1 − x) · log σ(−ℓ), ℓ learned (or net(context)), starting at 0: p = ½.",
    emit=_shape,
    params_per_entry=lambda p, t: 1,
    parameters=own_or_net(lambda k: 1),
)

DISTRIBUTIONS: tuple[DistEntry, ...] = (
    STANDARD_NORMAL,
    NORMAL,
    HALF_NORMAL,
    TRUNCATED_NORMAL,
    LOGIT_NORMAL,
    STANDARD_UNIFORM,
    CATEGORICAL,
    BERNOULLI,
)

# --------------------------------------------------------------------------------------------
# Nets: `check(params, in_shape, out_shape)` refuses shapes the net cannot connect.

Width = Annotated[int, Field(ge=1, le=1_000_000)]


class MlpParams(Params):
    hidden: Annotated[
        tuple[Width, ...],
        Field(min_length=1, description="widths of the hidden layers, e.g. `[64, 64]`"),
    ] = (64, 64)
    activation: Literal["relu", "gelu", "tanh"] = "relu"


def _numel(shape: Shape | None) -> int:
    count = 1
    for size in shape or ():
        count *= size
    return count


def _channels(in_shape: Shape, context: Shape | None) -> int:
    """Input channels (features) of a channel-first net: a context with the same trailing
    axes is stacked on the channels, any other is flattened and broadcast (runtime nets)."""
    if context is None:
        return in_shape[0]
    if len(context) == len(in_shape) and context[1:] == in_shape[1:]:
        return in_shape[0] + context[0]
    return in_shape[0] + _numel(context)


def _mlp_parameters(k: CountKwargs, _nested: Nested) -> Count:
    widths = (k["in_features"], *k.get("hidden", (64,)), k["out_features"])
    return chain(widths, dense)


MLP = NetEntry(
    name="mlp",
    params=MlpParams,
    runtime="MLP",
    summary="a fully connected net on the flattened input; its last layer starts at zero",
    emit=lambda p, i, o, c: (
        ("in_features", _numel(i) + (_numel(c) if c is not None else 0)),
        ("out_features", _numel(o)),
        ("hidden", tuple(p.hidden)),
        ("activation", p.activation),
    ),
    parameters=_mlp_parameters,
)


def _same_space(net: str, in_shape: Shape, out_shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    """ShapeError unless both shapes have one of `ranks` axes and the same sizes after the first."""
    if len(in_shape) not in ranks or len(out_shape) != len(in_shape) or in_shape[1:] != out_shape[1:]:
        raise ShapeError(
            codes.E309,
            f"`{net}` works on {what} and keeps every size but the first, but here it would read "
            f"{show(in_shape)} and produce {show(out_shape)}",
            "use `mlp`, which flattens, or split along dim=0 (the channels) so both parts keep their size",
            param="net",
        )


class ConvParams(Params):
    hidden: Annotated[Width, Field(description="channels of the hidden layers")] = 64
    layers: Annotated[int, Field(ge=1, le=1000, description="convolutions in all")] = 2
    kernel: Annotated[int, Field(ge=1, le=99, description="an odd kernel size")] = 3

    @field_validator("kernel")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("must be odd (the output keeps the input's size)")
        return value


def _conv_parameters(k: CountKwargs, _nested: Nested) -> Count:
    layers, hidden, kernel, spatial = (
        k.get("layers", 2),
        k.get("hidden", 64),
        k.get("kernel", 3),
        k.get("spatial_dims", 2),
    )
    widths = (k["in_channels"], *([hidden] * (layers - 1)), k["out_channels"])
    return chain(widths, lambda a, b: conv(a, b, kernel, spatial))


CONV = NetEntry(
    name="conv",
    params=ConvParams,
    runtime="ConvNet",
    summary="a convolutional net on `[C, L]` or `[C, H, W]`, same spatial size out; last layer zero",
    emit=lambda p, i, o, c: (
        ("in_channels", _channels(i, c)),
        ("out_channels", o[0]),
        ("hidden", p.hidden),
        ("layers", p.layers),
        ("kernel", p.kernel),
        ("spatial_dims", len(i) - 1),
    ),
    check=lambda p, i, o: _same_space("conv", i, o, (2, 3), "`[C, L]` or `[C, H, W]` tensors"),
    keeps_space=True,
    parameters=_conv_parameters,
)


class ResnetParams(Params):
    hidden: Annotated[Width, Field(description="width of the residual blocks")] = 64
    blocks: Annotated[int, Field(ge=1, le=1000, description="residual blocks")] = 2


def _resnet_parameters(k: CountKwargs, _nested: Nested) -> Count:
    hidden: int = k.get("hidden", 64)
    blocks: int = k.get("blocks", 2)
    spatial: int = k.get("spatial_dims", 2)

    def layer(a: int, b: int) -> int:
        return dense(a, b) if spatial == 0 else conv(a, b, 3, spatial)

    return layer(k["in_channels"], hidden) + 2 * blocks * layer(hidden, hidden) + layer(hidden, k["out_channels"])


RESNET = NetEntry(
    name="resnet",
    params=ResnetParams,
    runtime="ResNet",
    summary="residual blocks: convolutional on `[C, L]`/`[C, H, W]`, dense on vectors `[D]`; last layer zero",
    emit=lambda p, i, o, c: (
        ("in_channels", _channels(i, c) if len(i) > 1 else _numel(i) + (_numel(c) if c is not None else 0)),
        ("out_channels", o[0]),
        ("hidden", p.hidden),
        ("blocks", p.blocks),
        ("spatial_dims", len(i) - 1),
    ),
    check=lambda p, i, o: _same_space("resnet", i, o, (1, 2, 3), "vectors or images"),
    keeps_space=True,
    parameters=_resnet_parameters,
)


class TransformerParams(Params):
    dim: Annotated[int, Field(ge=1, le=1_000_000, description="the model width")] = 64
    heads: Annotated[int, Field(ge=1, le=1024, description="attention heads; they divide `dim`")] = 4
    layers: Annotated[int, Field(ge=1, le=1000, description="transformer layers")] = 2
    positional: Annotated[bool, Field(description="encode the elements' order (`true`) or not")] = False

    @field_validator("heads")
    @classmethod
    def _divides(cls, value: int, info: ValidationInfo) -> int:
        width = info.data.get("dim")
        if isinstance(width, int) and width % value:
            raise ValueError(f"must divide `dim` ({width})")
        return value


def _transformer_parameters(k: CountKwargs, _nested: Nested) -> Count:
    dim: int = k.get("dim", 64)
    layers: int = k.get("layers", 2)
    norm = 2 * dim  # LayerNorm: weight and bias
    block = norm + dense(dim, 3 * dim) + dense(dim, dim) + norm + dense(dim, 4 * dim) + dense(4 * dim, dim)
    position: int = k["length"] * dim if k.get("positional", False) else 0
    return dense(k["in_features"], dim) + position + layers * block + norm + dense(dim, k["out_features"])


TRANSFORMER = NetEntry(
    name="transformer",
    params=TransformerParams,
    runtime="Transformer",
    summary="a transformer over the N elements of a `[F, N]` set (order-blind unless `positional=true`)",
    emit=lambda p, i, o, c: (
        ("in_features", _channels(i, c)),
        ("out_features", o[0]),
        ("dim", p.dim),
        ("heads", p.heads),
        ("layers", p.layers),
        ("positional", p.positional),
        ("length", i[1]),
    ),
    check=lambda p, i, o: _same_space("transformer", i, o, (2,), "sets `[F, N]`"),
    keeps_space=True,
    parameters=_transformer_parameters,
)


class MadeParams(Params):
    hidden: Annotated[tuple[Width, ...], Field(min_length=1, description="hidden widths, e.g. `[64, 64]`")] = (64, 64)
    activation: Literal["relu", "gelu", "tanh"] = "relu"


def _made_emit(p: MadeParams, i: Shape, o: Shape, c: Shape | None) -> Kwargs:
    return (
        ("features", i[0]),
        ("hidden", tuple(p.hidden)),
        ("params_per_feature", o[0] // i[0]),
        ("context_features", _numel(c) if c is not None else 0),
        ("activation", p.activation),
    )


def _made_parameters(k: CountKwargs, _nested: Nested) -> Count:
    # Masked linear layers are full nn.Linear layers: the masked-out weights are parameters too.
    features = k["features"]
    widths = (
        features + k.get("context_features", 0),
        *k.get("hidden", (64,)),
        k.get("params_per_feature", 2) * features,
    )
    return chain(widths, dense)


MADE = NetEntry(
    name="made",
    params=MadeParams,
    runtime="MADE",
    summary="a masked autoencoder (Germain et al. 2015): output d depends only on inputs before d",
    emit=_made_emit,
    autoregressive=True,
    parameters=_made_parameters,
)

NETS: tuple[NetEntry, ...] = (MLP, CONV, RESNET, TRANSFORMER, MADE)
