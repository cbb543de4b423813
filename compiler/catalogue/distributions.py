"""Distributions (after `~`, or as an op's encoder or decoder) and nets (`net=`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..core import codes
from ..core.domains import ANY_INT, POSITIVE, REAL, UNIT, TensorType, integers
from .base import CallValue, DistEntry, Kwargs, NetEntry, NoParams, Params, Shape, ShapeError, TensorRef
from .counts import (
    Count,
    CountKwargs,
    Nested,
    activation_factor,
    chain,
    conv,
    conv_space,
    dense,
    no_parameters,
    norm_parameters,
    numel,
    own_or_net,
)
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

STANDARD_HALF_NORMAL = DistEntry(
    name="standard_half_normal",
    params=NoParams,
    runtime="StandardHalfNormal",
    support=POSITIVE,
    discrete=False,
    summary="|N(0, 1)| on every entry: a half-normal with scale 1, nothing learned",
    maths="log p(z) = Σ log 2 − ½ (z² + log 2π) for z ≥ 0 (−∞ below 0): `half_normal()` with σ fixed at 1.",
    emit=_shape,
    parameters=no_parameters,
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
    STANDARD_HALF_NORMAL,
    TRUNCATED_NORMAL,
    LOGIT_NORMAL,
    STANDARD_UNIFORM,
    CATEGORICAL,
    BERNOULLI,
)

# --------------------------------------------------------------------------------------------
# Nets: `check(params, in_shape, out_shape)` refuses shapes the net cannot connect.

Width = Annotated[int, Field(ge=1, le=1_000_000)]
Dropout = Annotated[
    float, Field(ge=0.0, lt=1.0, description="dropout probability after each hidden activation (0: none)")
]
# Elementwise activations (the runtime's `nets.ELEMENTWISE`); `swish` is `silu`'s other name.
Activation = Literal[
    "relu", "gelu", "gelu_sigmoid", "tanh", "elu", "leaky_relu", "silu", "swish", "softplus", "sigmoid"
]
# ... and `concat_elu`, elu([h, −h]), which doubles the width the next layer reads.
WideActivation = Literal[
    "relu", "gelu", "gelu_sigmoid", "tanh", "elu", "leaky_relu", "silu", "swish", "softplus", "sigmoid", "concat_elu"
]
Norm = Literal["none", "batch", "layer"]

_OPTIONS_TEXT = (
    "`activation`: relu, gelu (x·Φ(x)), gelu_sigmoid (x·σ(1.702x)), tanh, elu, leaky_relu (slope 0.01), "
    "silu (= swish), softplus, sigmoid{wide}. `dropout=p`: dropout after each hidden activation (a "
    "conditioner's dropout keeps the flow exact for each drawn mask; eval mode draws none, and sampling "
    "or inverting in training mode uses a fresh mask, so call `model.eval()` first)."
)
_NORM_TEXT = (
    " `norm`: after each hidden layer, before its activation, `batch` (BatchNorm) or `layer` "
    "(LayerNorm on vectors, GroupNorm with one group on `[C, ...]`: each example over its channels and "
    "positions). The verdict holds per example for the model in eval mode: the net is a conditioner, "
    "and with running statistics it is a fixed function of each example. In training mode `batch` "
    "normalises with the batch's statistics, so each example's log-density then depends on the other "
    "examples of its batch: `--check` says so in a note (the likelihood class is that of eval mode); "
    "evaluate (and report likelihoods) in eval mode, or use `layer`, which never mixes examples."
)


# `--check`'s note on a net with `norm=batch` (NetEntry.note), worded as `batchnorm`'s.
BATCH_NORM_NOTE = (
    "uses `norm=batch`: exact in evaluation mode only (`model.eval()`): in training mode the net "
    "normalises by the statistics of the batch, so `log_prob` is not a per-example density"
)


def _batch_norm_note(p: Params) -> str | None:
    return BATCH_NORM_NOTE if getattr(p, "norm", "none") == "batch" else None


def _options_text(wide: bool, norm: bool) -> str:
    text = _OPTIONS_TEXT.format(wide=", or concat_elu (elu([h, −h]), twice the width)" if wide else "")
    return text + (_NORM_TEXT if norm else "")


def _optional(p: Params, defaults: dict[str, object]) -> Kwargs:
    """The keywords among `defaults` whose value differs from it: a net built with its
    defaults is emitted as before these options existed."""
    return tuple((key, getattr(p, key)) for key, default in defaults.items() if getattr(p, key) != default)


class MlpParams(Params):
    hidden: Annotated[
        tuple[Width, ...],
        Field(min_length=1, description="widths of the hidden layers, e.g. `[64, 64]`"),
    ] = (64, 64)
    activation: WideActivation = "relu"
    dropout: Dropout = 0.0
    norm: Norm = "none"


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


def _hidden_chain(
    width: int, hidden: tuple[int, ...], layer: Callable[[int, int, int], int], activation: str, norm: str
) -> tuple[int, int]:
    """Parameters of hidden layers `layer(index, in, out)` each followed by `norm` and
    `activation`, and the width the next layer reads."""
    total = 0
    for index, size in enumerate(hidden):
        total += layer(index, width, size) + norm_parameters(norm, size)
        width = size * activation_factor(activation)
    return total, width


def _mlp_parameters(k: CountKwargs, _nested: Nested) -> Count:
    activation, norm = k.get("activation", "relu"), k.get("norm", "none")
    total, width = _hidden_chain(
        k["in_features"], tuple(k.get("hidden", (64,))), lambda _, a, b: dense(a, b), activation, norm
    )
    return total + dense(width, k["out_features"])


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
        *_optional(p, {"dropout": 0.0, "norm": "none"}),
    ),
    parameters=_mlp_parameters,
    note=_batch_norm_note,
    details="Hidden layers: linear → norm → activation → dropout. " + _options_text(wide=True, norm=True),
)


def _same_space(net: str, in_shape: Shape, out_shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    """ShapeError unless both shapes have one of `ranks` axes and the same sizes after the first."""
    if len(in_shape) not in ranks or len(out_shape) != len(in_shape) or in_shape[1:] != out_shape[1:]:
        # Not for sets: a convolution along a set's axis would make its order matter.
        resize = _resize_between(in_shape, out_shape) if net != "transformer" else None
        hint = "use `mlp`, which flattens, or split along dim=0 (the channels) so both parts keep their size"
        if resize is not None:
            # An op that maps between sizes (a vae's encoder or decoder, a context net): a
            # strided or upsampling conv makes exactly these sizes, and the checker accepts it.
            resizing = net if net in ("conv", "resnet") else "conv"  # the nets with `stride`/`upsample`
            hint = (
                f"`{resizing}(..., {resize})` turns the spatial sizes {show(in_shape[1:])} into "
                f"{show(out_shape[1:])}: use it here, or `mlp`, which flattens"
            )
        raise ShapeError(
            codes.E309,
            f"`{net}` works on {what} and keeps every size but the first, but here it would read "
            f"{show(in_shape)} and produce {show(out_shape)}",
            hint,
            param="net",
        )


def _resize_between(in_shape: Shape, out_shape: Shape) -> str | None:
    """`stride=s` or `upsample=u` where a conv with it maps `[C, *space]` (1 or 2 spatial axes)
    to `[C', *space']` with these spatial sizes (`conv_space`), else None."""
    if len(in_shape) not in (2, 3) or len(out_shape) != len(in_shape) or in_shape[1:] == out_shape[1:]:
        return None
    space, wanted = in_shape[1:], out_shape[1:]
    for factor in range(2, 65):  # the range `stride` and `upsample` accept
        if conv_space(space, stride=factor) == wanted:
            return f"stride={factor}"
        if conv_space(space, upsample=factor) == wanted:
            return f"upsample={factor}"
    return None


Kernel = Annotated[int, Field(ge=1, le=99)]
Factor = Annotated[int, Field(ge=1, le=64)]


def _check_entries(values: int | tuple[int, ...], low: int, high: int, odd: bool = False) -> None:
    """ValueError unless every entry is in [low, high] (and odd)."""
    entries = (values,) if isinstance(values, int) else values
    if not entries:
        raise ValueError("must not be empty")
    for value in entries:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        if odd and value % 2 == 0:
            raise ValueError("must be odd (so a convolution keeps or exactly divides the size)")


class ConvParams(Params):
    hidden: Annotated[
        int | tuple[int, ...],
        Field(description="channels of the hidden layers: one width, or one per hidden layer (`[512, 512]`)"),
    ] = 64
    layers: Annotated[
        int | None, Field(ge=1, le=1000, description="convolutions in all (one more than the hidden widths)")
    ] = None
    kernel: Annotated[
        int | tuple[int, ...],
        Field(description="odd kernel sizes: one for every convolution, or one each (`[3, 1, 3]`)"),
    ] = 3
    activation: WideActivation = "relu"
    dropout: Dropout = 0.0
    norm: Norm = "none"
    stride: Annotated[Factor, Field(description="the first convolution's stride: spatial sizes L → ⌈L/stride⌉")] = 1
    upsample: Annotated[Factor, Field(description="nearest upsampling of the input: spatial sizes L → L·upsample")] = 1

    unset = {"layers": "2, or the length of a `hidden` or `kernel` list"}

    @field_validator("hidden")
    @classmethod
    def _widths(cls, value: int | tuple[int, ...]) -> int | tuple[int, ...]:
        _check_entries(value, 1, 1_000_000)
        return value

    @field_validator("layers")
    @classmethod
    def _layers_agree(cls, value: int | None, info: ValidationInfo) -> int | None:
        hidden = info.data.get("hidden")
        if value is not None and isinstance(hidden, tuple) and value != len(hidden) + 1:
            raise ValueError(
                f"must be {len(hidden) + 1} with {len(hidden)} hidden widths (leave it out: the widths say it)"
            )
        return value

    @field_validator("kernel")
    @classmethod
    def _kernels(cls, value: int | tuple[int, ...], info: ValidationInfo) -> int | tuple[int, ...]:
        _check_entries(value, 1, 99, odd=True)
        if isinstance(value, tuple):
            hidden, layers = info.data.get("hidden"), info.data.get("layers")
            count = len(hidden) + 1 if isinstance(hidden, tuple) else layers
            if count is not None and len(value) != count:
                raise ValueError(f"must have one size per convolution: {count}, not {len(value)}")
        return value

    @field_validator("upsample")
    @classmethod
    def _one_resize(cls, value: int, info: ValidationInfo) -> int:
        return _one_resize(value, info)


def _one_resize(upsample: int, info: ValidationInfo) -> int:
    """`upsample`, unless `stride` is also above 1 (ValueError)."""
    if upsample > 1 and info.data.get("stride", 1) > 1:
        raise ValueError("cannot be used with `stride`: a net either downsamples or upsamples")
    return upsample


def _conv_layers(p: ConvParams) -> int:
    """The number of convolutions: from a `hidden` list, `layers`, a `kernel` list, or 2."""
    if isinstance(p.hidden, tuple):
        return len(p.hidden) + 1
    if p.layers is not None:
        return p.layers
    return len(p.kernel) if isinstance(p.kernel, tuple) else 2


def _conv_resize(p: ConvParams | ResnetParams, in_shape: Shape) -> Shape:
    """The spatial sizes after a strided or upsampling first layer (`conv_space`)."""
    return conv_space(in_shape[1:], p.stride, p.upsample)


def _resizing_check(net: str, ranks: tuple[int, ...], what: str) -> Callable[[Any, Shape, Shape], None]:
    """The `check` of a net with `stride`/`upsample`: the input's sizes after the first axis at
    1/1 (`_same_space`), else exactly those `_conv_resize` gives, on `[C, L]` or `[C, H, W]`."""

    def check(p: ConvParams | ResnetParams, in_shape: Shape, out_shape: Shape) -> None:
        if p.stride == 1 and p.upsample == 1:
            _same_space(net, in_shape, out_shape, ranks, what)
            return
        change = f"stride={p.stride}" if p.stride > 1 else f"upsample={p.upsample}"
        if len(in_shape) not in (2, 3) or len(out_shape) != len(in_shape):
            raise ShapeError(
                codes.E309,
                f"`{net}(..., {change})` works on `[C, L]` or `[C, H, W]` tensors, but here it would read "
                f"{show(in_shape)} and produce {show(out_shape)}",
                "use `mlp`, which flattens"
                if net == "conv"
                else f"use `mlp`, which flattens, or `{net}` without `{change}`",
                param="net",
            )
        _check_resized(net, change, in_shape, out_shape, _conv_resize(p, in_shape))

    return check


def _check_resized(net: str, change: str, in_shape: Shape, out_shape: Shape, made: Shape) -> None:
    """E309 unless the op's output has the spatial sizes `made` that the net gives."""
    if out_shape[1:] != made:
        raise ShapeError(
            codes.E309,
            f"`{net}(..., {change})` turns the spatial sizes {show(in_shape[1:])} into {show(made)}, "
            f"but here they must be {show(out_shape[1:])}, those of {show(out_shape)}",
            "a net's output shape is set by the op using it: change `stride`/`upsample` so the sizes agree, "
            "or leave them at 1 where the op needs the input's size (couplings do)",
            param="net",
        )


def _conv_parameters(k: CountKwargs, _nested: Nested) -> Count:
    hidden, spatial = k.get("hidden", 64), k.get("spatial_dims", 2)
    if isinstance(hidden, int):
        kernel = k.get("kernel", 3)
        layers = k.get("layers")
        layers = (2 if isinstance(kernel, int) else len(kernel)) if layers is None else layers
        widths: tuple[int, ...] = (hidden,) * (layers - 1)
    else:
        widths = tuple(hidden)
        layers = len(widths) + 1
    kernel = k.get("kernel", 3)
    kernels: tuple[int, ...] = (kernel,) * layers if isinstance(kernel, int) else tuple(kernel)
    total, width = _hidden_chain(
        k["in_channels"],
        widths,
        lambda index, a, b: conv(a, b, kernels[index], spatial),
        k.get("activation", "relu"),
        k.get("norm", "none"),
    )
    return total + conv(width, k["out_channels"], kernels[-1], spatial)


CONV = NetEntry(
    name="conv",
    params=ConvParams,
    runtime="ConvNet",
    summary=(
        "a convolutional net on `[C, L]` or `[C, H, W]`, same spatial size out unless strided or upsampling; "
        "last layer zero"
    ),
    emit=lambda p, i, o, c: (
        ("in_channels", _channels(i, c)),
        ("out_channels", o[0]),
        ("hidden", p.hidden),
        ("layers", _conv_layers(p)),
        ("kernel", p.kernel),
        ("spatial_dims", len(i) - 1),
        *_optional(p, {"activation": "relu", "dropout": 0.0, "norm": "none", "stride": 1, "upsample": 1}),
    ),
    check=_resizing_check("conv", (2, 3), "`[C, L]` or `[C, H, W]` tensors"),
    keeps_space=True,
    resize=_conv_resize,
    parameters=_conv_parameters,
    note=_batch_norm_note,
    details=(
        "Hidden layers: convolution → norm → activation → dropout; 'same' padding. Widths and kernel sizes "
        "per layer: `conv(hidden=[512, 512], kernel=[3, 1, 3])` is Glow's 3×3 → 1×1 → 3×3 net; the lists "
        "must agree in length (E205). `stride=s` makes the first convolution strided (padding ⌊k/2⌋), so "
        "each spatial size L becomes ⌈L/s⌉; `upsample=u` repeats each position u times along each spatial "
        "axis before it (L → L·u). The checker accepts an output whose spatial sizes differ from the "
        "input's only when they are exactly these (E309): for ops that read and produce tensors of "
        "different sizes (encoders, decoders, context nets); a coupling keeps the size. "
        + _options_text(wide=True, norm=True)
    ),
)


class ResnetParams(Params):
    hidden: Annotated[Width, Field(description="width of the residual blocks")] = 64
    blocks: Annotated[int, Field(ge=1, le=1000, description="residual blocks")] = 2
    activation: Activation = "relu"
    dropout: Dropout = 0.0
    norm: Norm = "none"
    stride: Annotated[
        Factor, Field(description="the input layer's stride on `[C, L]`/`[C, H, W]`: spatial sizes L → ⌈L/stride⌉")
    ] = 1
    upsample: Annotated[
        Factor, Field(description="nearest upsampling of the input on `[C, L]`/`[C, H, W]`: L → L·upsample")
    ] = 1

    @field_validator("upsample")
    @classmethod
    def _one_resize(cls, value: int, info: ValidationInfo) -> int:
        return _one_resize(value, info)


def _resnet_parameters(k: CountKwargs, _nested: Nested) -> Count:
    hidden: int = k.get("hidden", 64)
    blocks: int = k.get("blocks", 2)
    spatial: int = k.get("spatial_dims", 2)

    def layer(a: int, b: int) -> int:
        return dense(a, b) if spatial == 0 else conv(a, b, 3, spatial)

    block = 2 * layer(hidden, hidden) + 2 * norm_parameters(k.get("norm", "none"), hidden)
    return layer(k["in_channels"], hidden) + blocks * block + layer(hidden, k["out_channels"])


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
        *_optional(p, {"activation": "relu", "dropout": 0.0, "norm": "none", "stride": 1, "upsample": 1}),
    ),
    check=_resizing_check("resnet", (1, 2, 3), "vectors or images"),
    keeps_space=True,
    resize=_conv_resize,
    parameters=_resnet_parameters,
    note=_batch_norm_note,
    details=(
        "Pre-activation blocks h + W₂·dropout(act(norm(W₁·act(norm(h))))), W 3-wide 'same' convolutions "
        "(dense layers on vectors). On `[C, L]`/`[C, H, W]`, `stride=s` makes the input layer strided "
        "(L → ⌈L/s⌉) and `upsample=u` repeats each position u times before it (L → L·u), as `conv`'s do, "
        "and the checker accepts exactly these sizes (E309); the blocks then work at the new size. "
        + _options_text(wide=False, norm=True)
    ),
)


class DensenetParams(Params):
    hidden: Annotated[Width, Field(description="channels between the dense blocks")] = 64
    blocks: Annotated[int, Field(ge=1, le=1000, description="dense blocks")] = 1
    layers: Annotated[int, Field(ge=1, le=1000, description="dense layers per block")] = 4
    growth: Annotated[Width, Field(description="channels each dense layer adds")] = 32
    kernel: Annotated[Kernel, Field(description="an odd kernel size of the dense layers' second convolution")] = 3
    activation: Activation = "relu"
    dropout: Dropout = 0.0
    transition: Annotated[
        Literal["plain", "gated"],
        Field(description="each block's closing 1×1 convolution: `plain`, or `gated` (a + b ⊙ σ(c))"),
    ] = "plain"
    residual: Annotated[bool, Field(description="add each dense block's input to its output")] = False

    @field_validator("kernel")
    @classmethod
    def _odd(cls, value: int) -> int:
        _check_entries(value, 1, 99, odd=True)
        return value


def _densenet_parameters(k: CountKwargs, _nested: Nested) -> Count:
    hidden: int = k.get("hidden", 64)
    blocks: int = k.get("blocks", 1)
    layers: int = k.get("layers", 4)
    growth: int = k.get("growth", 32)
    kernel: int = k.get("kernel", 3)
    spatial: int = k.get("spatial_dims", 2)
    block = _dense_block_count(hidden, hidden, layers, growth, kernel, spatial, k.get("transition", "plain"))
    return conv(k["in_channels"], hidden, 1, spatial) + blocks * block + conv(hidden, k["out_channels"], 1, spatial)


def _dense_block_count(
    channels: int, out_channels: int, layers: int, growth: int, kernel: int, spatial: int, transition: str
) -> int:
    """One dense block's parameters (densenet's blocks, dense_block): `layers` dense layers from
    `channels`, each a 1×1 and a k-wide convolution adding `growth` channels, then the 1×1
    transition to `out_channels` (a gated one gives 3·out channels: a, b, c)."""
    gated = transition == "gated"
    count = conv(channels + layers * growth, (3 if gated else 1) * out_channels, 1, spatial)
    for index in range(layers):
        width = channels + index * growth
        count += conv(width, width, 1, spatial) + conv(width, growth, kernel, spatial)
    return count


def _dense_keywords(p: DensenetParams | DenseBlockParams, spatial_dims: int) -> Kwargs:
    """The keywords densenet and dense_block pass alike to their runtime class."""
    return (
        ("layers", p.layers),
        ("growth", p.growth),
        ("kernel", p.kernel),
        ("spatial_dims", spatial_dims),
        ("activation", p.activation),
        ("dropout", p.dropout),
        *_optional(p, {"transition": "plain", "residual": False}),
    )


DENSENET = NetEntry(
    name="densenet",
    params=DensenetParams,
    runtime="DenseNet",
    summary="a DenseNet on `[C, L]` or `[C, H, W]` (the SurVAE Flows image conditioners); last layer zero",
    emit=lambda p, i, o, c: (
        ("in_channels", _channels(i, c)),
        ("out_channels", o[0]),
        ("hidden", p.hidden),
        ("blocks", p.blocks),
        *_dense_keywords(p, len(i) - 1),
    ),
    check=lambda p, i, o: _same_space("densenet", i, o, (2, 3), "`[C, L]` or `[C, H, W]` tensors"),
    keeps_space=True,
    parameters=_densenet_parameters,
    details=(
        "A 1×1 convolution to `hidden` channels; `blocks` dense blocks, each of `layers` dense layers and a "
        "1×1 transition back to `hidden`; a 1×1 output convolution. A dense layer reads all the channels "
        "before it (C) and appends `growth` new ones: act(conv_k(dropout(act(conv_1×1(h))))), the 1×1 "
        "keeping C channels. `transition=gated` makes each block's transition a gated 1×1 convolution: "
        "W (C → 3·hidden) gives (a, b, c) and the block outputs a + b ⊙ σ(c) (3× the transition's "
        "parameters); `residual=true` adds each block's input back, h + block(h) (no parameters). Both "
        "together are the SurVAE Flows code's DenseNet with gated convolutions (its blocks are always "
        "residual): `densenet(hidden=64, blocks=1, layers=8, growth=16, transition=gated, residual=true)` "
        "is the CIFAR-10 augmented flow's net. " + _options_text(wide=False, norm=False)
    ),
)


class DenseBlockParams(Params):
    layers: Annotated[int, Field(ge=1, le=1000, description="dense layers")] = 4
    growth: Annotated[Width, Field(description="channels each dense layer adds")] = 32
    kernel: Annotated[Kernel, Field(description="an odd kernel size of the dense layers' second convolution")] = 3
    activation: Activation = "relu"
    dropout: Dropout = 0.0
    transition: Annotated[
        Literal["plain", "gated"],
        Field(description="the closing 1×1 convolution: `plain`, or `gated` (a + b ⊙ σ(c))"),
    ] = "plain"
    residual: Annotated[
        bool, Field(description="add the input to the output (the output then has the input's channels)")
    ] = False

    @field_validator("kernel")
    @classmethod
    def _odd(cls, value: int) -> int:
        _check_entries(value, 1, 99, odd=True)
        return value


def _dense_block_parameters(k: CountKwargs, _nested: Nested) -> Count:
    return _dense_block_count(
        k["in_channels"],
        k["out_channels"],
        k.get("layers", 4),
        k.get("growth", 32),
        k.get("kernel", 3),
        k.get("spatial_dims", 2),
        k.get("transition", "plain"),
    )


def _dense_block_check(p: DenseBlockParams, in_shape: Shape, out_shape: Shape) -> None:
    _same_space("dense_block", in_shape, out_shape, (2, 3), "`[C, L]` or `[C, H, W]` tensors")
    if p.residual and in_shape[0] != out_shape[0]:
        raise ShapeError(
            codes.E309,
            f"`dense_block(residual=true)` adds its input to its output, so it keeps the channels, "
            f"but here {in_shape[0]} channels go in and {out_shape[0]} must come out",
            "drop `residual=true`, or use `densenet`, whose 1×1 convolutions change the channels",
            param="net",
        )


DENSE_BLOCK = NetEntry(
    name="dense_block",
    params=DenseBlockParams,
    runtime="DenseBlock",
    summary="one dense block from the input channels straight to the output channels; last layer zero",
    emit=lambda p, i, o, c: (
        ("in_channels", _channels(i, c)),
        ("out_channels", o[0]),
        *_dense_keywords(p, len(i) - 1),
    ),
    check=_dense_block_check,
    keeps_space=True,
    parameters=_dense_block_parameters,
    details=(
        "`densenet` without its 1×1 convolutions in and out: `layers` dense layers, the first reading the "
        "input's channels C (context included), each appending `growth` channels "
        "act(conv_k(dropout(act(conv_1×1(h))))), then a 1×1 transition from C + layers·growth channels to "
        "the output's (gated with `transition=gated`: 3× the channels (a, b, c), giving a + b ⊙ σ(c)). "
        "`residual=true` adds the input to the output, which must then have the input's channels. "
        "It is the SurVAE Flows code's DenseBlock: `dense_block(layers=4, growth=16, transition=gated)` is "
        "a block of the context nets of its flow dequantizers. " + _options_text(wide=False, norm=False)
    ),
)


class GatedConvParams(Params):
    hidden: Annotated[Width, Field(description="channels of the residual blocks")] = 64
    blocks: Annotated[int, Field(ge=1, le=1000, description="gated residual blocks")] = 2
    kernel: Annotated[Kernel, Field(description="an odd kernel size")] = 3
    dropout: Dropout = 0.0

    @field_validator("kernel")
    @classmethod
    def _odd(cls, value: int) -> int:
        _check_entries(value, 1, 99, odd=True)
        return value


def _gated_conv_parameters(k: CountKwargs, _nested: Nested) -> Count:
    hidden: int = k.get("hidden", 64)
    blocks: int = k.get("blocks", 2)
    kernel: int = k.get("kernel", 3)
    spatial: int = k.get("spatial_dims", 2)
    block = conv(2 * hidden, hidden, kernel, spatial) + conv(2 * hidden, 2 * hidden, 1, spatial)
    return (
        conv(k["in_channels"], hidden, kernel, spatial)
        + blocks * block
        + conv(2 * hidden, k["out_channels"], kernel, spatial)
    )


GATED_CONV = NetEntry(
    name="gated_conv",
    params=GatedConvParams,
    runtime="GatedConvNet",
    summary="a residual net of gated convolutions (PixelCNN++, Flow++) on `[C, L]` or `[C, H, W]`; last layer zero",
    emit=lambda p, i, o, c: (
        ("in_channels", _channels(i, c)),
        ("out_channels", o[0]),
        ("hidden", p.hidden),
        ("blocks", p.blocks),
        ("kernel", p.kernel),
        ("spatial_dims", len(i) - 1),
        ("dropout", p.dropout),
    ),
    check=lambda p, i, o: _same_space("gated_conv", i, o, (2, 3), "`[C, L]` or `[C, H, W]` tensors"),
    keeps_space=True,
    parameters=_gated_conv_parameters,
    details=(
        "A k-wide convolution to `hidden` channels, `blocks` gated residual blocks h + a ⊙ σ(b) with "
        "(a, b) = split(G·dropout(concat_elu(W·concat_elu(h)))) (W k-wide, 2·hidden → hidden; G 1×1, "
        "2·hidden → 2·hidden; concat_elu(h) = elu([h, −h])), then concat_elu and a k-wide output convolution. "
        "`dropout=p` as for `conv`."
    ),
)


class TransformerParams(Params):
    dim: Annotated[int, Field(ge=1, le=1_000_000, description="the model width")] = 64
    heads: Annotated[int, Field(ge=1, le=1024, description="attention heads; they divide `dim`")] = 4
    layers: Annotated[int, Field(ge=1, le=1000, description="transformer layers")] = 2
    positional: Annotated[bool, Field(description="encode the elements' order (`true`) or not")] = False
    activation: Annotated[
        Literal["gelu", "gelu_sigmoid"],
        Field(description="the feed-forward layers' activation: `gelu` x·Φ(x), or `gelu_sigmoid` x·σ(1.702x)"),
    ] = "gelu"

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
        *_optional(p, {"activation": "gelu"}),
    ),
    check=lambda p, i, o: _same_space("transformer", i, o, (2,), "sets `[F, N]`"),
    keeps_space=True,
    parameters=_transformer_parameters,
)


class MadeParams(Params):
    hidden: Annotated[tuple[Width, ...], Field(min_length=1, description="hidden widths, e.g. `[64, 64]`")] = (64, 64)
    activation: Activation = "relu"


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

NETS: tuple[NetEntry, ...] = (MLP, CONV, RESNET, DENSENET, DENSE_BLOCK, GATED_CONV, TRANSFORMER, MADE)
