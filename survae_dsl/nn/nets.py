"""Conditioner networks (``net=`` in the language) for couplings and conditional distributions.

Every net is called as ``net(x, context=None)``; a context is concatenated to its input (flat
for dense nets, on channels or features for convolutional nets and transformers, broadcast
over the spatial or element axes when it is flat). Every net's last layer starts at zero, so
its output is exactly 0 at construction: a fresh coupling is the identity and a fresh
conditional distribution the standard one.

Options shared by several nets (the DSL keywords of the same names):

- ``activation``: an elementwise nonlinearity (``ELEMENTWISE``), or, for ``MLP`` and
  ``ConvNet``, ``concat_elu`` (PixelCNN++, Flow++): ``elu([h, −h])`` on the feature/channel
  axis, which doubles the width the next layer reads.
- ``dropout``: ``nn.Dropout(p)`` after each hidden activation (none at ``p = 0``). A net is a
  conditioner, so for each drawn mask the flow is still exact; in eval mode there is no mask.
- ``norm``: ``batch`` (``BatchNorm``), ``layer`` (``LayerNorm`` on vectors, ``GroupNorm(1, C)``
  on spatial data: each example normalised over its channels and positions) or ``none``,
  after each hidden layer, before its activation. Batch norm in training mode makes each
  example's output depend on the rest of the batch; in eval mode it is a fixed per-example map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MLP", "ConvNet", "DenseNet", "GatedConvNet", "ResNet", "Transformer", "ConcatELU", "conv_out_size"]


class ConcatELU(nn.Module):
    """``elu(cat([h, −h], dim=1))``: ``(B, C, ...)`` → ``(B, 2C, ...)`` (PixelCNN++, Flow++)."""

    def forward(self, h: Tensor) -> Tensor:
        """Doubles axis 1."""
        return F.elu(torch.cat([h, -h], dim=1))


def _leaky_relu() -> nn.Module:
    return nn.LeakyReLU(0.01)


class SigmoidGELU(nn.Module):
    """GELU's sigmoid approximation ``x·σ(1.702·x)`` (Hendrycks & Gimpel 2016): the activation
    of the SurVAE Flows code's transformers, where ``gelu`` is the exact ``x·Φ(x)``."""

    def forward(self, h: Tensor) -> Tensor:
        """Same shape in and out."""
        return h * torch.sigmoid(1.702 * h)


# Elementwise activations by DSL name: each keeps the width. `swish` is `silu`'s other name.
_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "gelu_sigmoid": SigmoidGELU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": _leaky_relu,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}
ELEMENTWISE: tuple[str, ...] = tuple(_ACTIVATIONS)
NORMS: tuple[str, ...] = ("none", "batch", "layer")


def _activation(name: str) -> nn.Module:
    """A fresh elementwise activation module by its DSL name."""
    if name not in _ACTIVATIONS:
        choices = ", ".join(sorted(_ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; expected one of {choices}")
    return _ACTIVATIONS[name]()


def _activation_or_concat(name: str) -> tuple[nn.Module, int]:
    """An activation module and the factor it multiplies the width by (2 for concat_elu)."""
    if name == "concat_elu":
        return ConcatELU(), 2
    return _activation(name), 1


def _norm(kind: str, width: int, spatial_dims: int) -> nn.Module | None:
    """The normalisation layer ``kind`` for ``width`` features or channels (None: ``none``)."""
    if kind == "none":
        return None
    if kind == "batch":
        return nn.BatchNorm1d(width) if spatial_dims <= 1 else nn.BatchNorm2d(width)
    if kind == "layer":
        return nn.LayerNorm(width) if spatial_dims == 0 else nn.GroupNorm(1, width)
    raise ValueError(f"unknown norm {kind!r}; expected one of {', '.join(NORMS)}")


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")


def _hidden_unit(
    layer: nn.Module, width: int, spatial_dims: int, activation: str, dropout: float, norm: str
) -> tuple[list[nn.Module], int]:
    """``layer`` → norm → activation → dropout (the parts in use), and the width it gives."""
    modules = [layer]
    normalisation = _norm(norm, width, spatial_dims)
    if normalisation is not None:
        modules.append(normalisation)
    act, factor = _activation_or_concat(activation)
    modules.append(act)
    if dropout > 0:
        modules.append(nn.Dropout(dropout))
    return modules, width * factor


class MLP(nn.Module):
    """A fully connected net: ``(B, ...)`` (flattened to ``(B, in_features)``) → ``(B, out)``.

    Hidden layers are Linear → norm → activation → dropout (those in use). The last layer
    starts at zero (weights and bias), so a fresh coupling is the identity and a fresh
    conditional distribution is the standard one.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: tuple[int, ...] = (64,),
        activation: str = "relu",
        dropout: float = 0.0,
        norm: str = "none",
    ) -> None:
        super().__init__()
        _check_dropout(dropout)
        self.in_features = in_features
        self.out_features = out_features
        _activation_or_concat(activation)  # validate the name even when no hidden layer needs one
        _norm(norm, 1, 0)
        layers: list[nn.Module] = []
        width = in_features
        for size in tuple(hidden):
            unit, width = _hidden_unit(nn.Linear(width, size), size, 0, activation, dropout, norm)
            layers += unit
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)
        _zero_last(self.layers[-1])

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, ...)`` (and a context ``(B, ...)``, appended flat) with ``in_features``
        entries per example in all → ``(B, out_features)``."""
        features = torch.flatten(x, start_dim=1)
        if context is not None:
            features = torch.cat([features, torch.flatten(context, start_dim=1).to(features.dtype)], dim=1)
        out: Tensor = self.layers(features)  # a module call is typed Any
        return out


def _zero_last(layer: nn.Module) -> None:
    """Zero a net's last layer (weights and bias), so its output starts at exactly 0."""
    assert isinstance(layer, nn.Linear | nn.Conv1d | nn.Conv2d)
    nn.init.zeros_(layer.weight)
    assert layer.bias is not None
    nn.init.zeros_(layer.bias)


def _check_spatial_dims(spatial_dims: int, allowed: tuple[int, ...]) -> None:
    """Reject a ``spatial_dims`` the net has no layers for."""
    if spatial_dims not in allowed:
        raise ValueError(f"spatial_dims must be one of {allowed}, got {spatial_dims!r}")


def _conv(spatial_dims: int, channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> nn.Module:
    """A convolution over 1 or 2 spatial axes: 'same' padding at stride 1; at stride s,
    padding ⌊kernel/2⌋, so an odd kernel maps size L to ⌈L/s⌉ (``conv_out_size``)."""
    conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
    if stride == 1:
        return conv(channels_in, channels_out, kernel, padding="same")
    return conv(channels_in, channels_out, kernel, stride=stride, padding=kernel // 2)


def conv_out_size(size: int, stride: int = 1, upsample: int = 1) -> int:
    """The spatial size a ``ConvNet`` with odd kernels gives for an input axis of ``size``:
    ⌈size/stride⌉·upsample (the compiler's shape rule is the same formula)."""
    return -(-size // stride) * upsample


def _append_context(x: Tensor, context: Tensor | None) -> Tensor:
    """``x`` ``(B, C, *spatial)`` with the context appended on the channel axis.

    A context ``(B, Cc, *spatial)`` with the same trailing axes is concatenated as it is; any
    other context is flattened to ``(B, F)`` and broadcast over the trailing axes. Both tests
    read only static ranks and sizes, so tracing sees no data-dependent branch.
    """
    if context is None:
        return x
    context = context.to(x.dtype)
    if context.dim() != x.dim() or context.shape[2:] != x.shape[2:]:
        flat = torch.flatten(context, start_dim=1)
        trailing = x.shape[2:]
        context = flat.reshape(*flat.shape, *([1] * len(trailing))).expand(-1, -1, *trailing)
    return torch.cat([x, context], dim=1)


def _per_layer(value: int | Sequence[int], layers: int, what: str) -> tuple[int, ...]:
    """A per-layer tuple from a scalar (the same for each of ``layers``) or a sequence of
    exactly ``layers`` values."""
    if isinstance(value, int):
        return (value,) * layers
    values = tuple(value)
    if len(values) != layers:
        raise ValueError(f"{what} has {len(values)} entries for {layers} layers")
    return values


class ConvNet(nn.Module):
    """A stack of convolutions: ``(B, C, *spatial)`` → ``(B, out_channels, *spatial')`` over
    1 or 2 spatial axes.

    ``hidden`` is one width for the ``layers − 1`` hidden layers or a width per hidden layer
    (then ``layers`` is ``len(hidden) + 1``); ``kernel`` one size for every convolution or
    one per convolution (``layers`` left out: the length of a list given, else 2). Glow's
    net is ``hidden=(512, 512), kernel=(3, 1, 3)``. Hidden layers are conv → norm →
    activation → dropout. ``upsample`` > 1 repeats each position (nearest) before the first
    convolution; ``stride`` > 1 makes the first convolution strided: spatial' =
    ⌈spatial/stride⌉·upsample (``conv_out_size``), else the size is kept.

    ``in_channels`` counts the input's channels plus the context's (a ``(B, Cc, *spatial)``
    context is concatenated on channels, a flat ``(B, F)`` one broadcast over space). The
    last convolution starts at zero.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int | Sequence[int] = 64,
        layers: int | None = None,
        kernel: int | Sequence[int] = 3,
        spatial_dims: int = 2,
        activation: str = "relu",
        dropout: float = 0.0,
        norm: str = "none",
        stride: int = 1,
        upsample: int = 1,
    ) -> None:
        super().__init__()
        _check_spatial_dims(spatial_dims, (1, 2))
        _check_dropout(dropout)
        if not isinstance(hidden, int):
            count = len(tuple(hidden)) + 1
            if layers is not None and layers != count:
                raise ValueError(f"conv got layers={layers} but {count - 1} hidden widths")
            layers = count
        if layers is None:
            layers = 2 if isinstance(kernel, int) else len(tuple(kernel))
        widths_hidden = _per_layer(hidden, layers - 1, "hidden")
        kernels = _per_layer(kernel, layers, "kernel")
        if layers < 1 or min(kernels) < 1 or stride < 1 or upsample < 1:
            raise ValueError(
                f"conv needs layers, kernels, stride and upsample >= 1, got layers={layers}, kernel={kernel}, "
                f"stride={stride}, upsample={upsample}"
            )
        _activation_or_concat(activation)
        _norm(norm, 1, spatial_dims)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.spatial_dims = spatial_dims
        self.stride = stride
        self.upsample = upsample
        modules: list[nn.Module] = []
        if upsample > 1:
            modules.append(nn.Upsample(scale_factor=upsample, mode="nearest"))
        width = in_channels
        for index, size in enumerate(widths_hidden):
            layer = _conv(spatial_dims, width, size, kernels[index], stride if index == 0 else 1)
            unit, width = _hidden_unit(layer, size, spatial_dims, activation, dropout, norm)
            modules += unit
        modules.append(_conv(spatial_dims, width, out_channels, kernels[-1], stride if layers == 1 else 1))
        self.layers = nn.Sequential(*modules)
        _zero_last(self.layers[-1])

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, C, *spatial)`` (and an optional context) → ``(B, out_channels, *spatial')``."""
        out: Tensor = self.layers(_append_context(x, context))  # a module call is typed Any
        return out

    def extra_repr(self) -> str:
        return f"spatial_dims={self.spatial_dims}, stride={self.stride}, upsample={self.upsample}"


class _ResidualBlock(nn.Module):
    """h + W₂·drop(act(norm₂(W₁·act(norm₁(h))))) (pre-activation), W dense or 'same' convolutions."""

    def __init__(
        self,
        first: nn.Module,
        second: nn.Module,
        activation: str,
        dropout: float,
        norms: tuple[nn.Module | None, nn.Module | None],
    ) -> None:
        super().__init__()
        self.first = first
        self.second = second
        self.activation = _activation(activation)
        self.norm1 = norms[0] if norms[0] is not None else nn.Identity()
        self.norm2 = norms[1] if norms[1] is not None else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, h: Tensor) -> Tensor:
        """Same shape in and out: ``(B, hidden, *spatial)``."""
        inner = self.first(self.activation(self.norm1(h)))
        residual: Tensor = self.second(self.dropout(self.activation(self.norm2(inner))))  # module calls are Any
        return h + residual


class ResNet(nn.Module):
    """An input layer, ``blocks`` residual blocks of width ``hidden``, and an output layer.

    ``spatial_dims`` 1 or 2: 3-wide 'same' convolutions on ``(B, C, *spatial)`` →
    ``(B, out_channels, *spatial)``, with the context appended as in ``ConvNet``.
    ``spatial_dims`` 0: dense layers on vectors (channels are features): ``(B, ...)``
    flattened to ``(B, in_channels)`` with any context appended flat, as in ``MLP``, →
    ``(B, out_channels)``. ``in_channels`` counts the context. ``activation`` (elementwise),
    ``dropout`` and ``norm`` act inside the blocks (two norms each); the output layer
    starts at zero. Spatial data only: ``upsample`` > 1 repeats each position (nearest)
    before the input layer, ``stride`` > 1 makes the input layer strided, as in ``ConvNet``:
    spatial' = ⌈spatial/stride⌉·upsample (``conv_out_size``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 64,
        blocks: int = 2,
        spatial_dims: int = 2,
        activation: str = "relu",
        dropout: float = 0.0,
        norm: str = "none",
        stride: int = 1,
        upsample: int = 1,
    ) -> None:
        super().__init__()
        _check_spatial_dims(spatial_dims, (0, 1, 2))
        _check_dropout(dropout)
        if blocks < 0:
            raise ValueError(f"resnet needs blocks >= 0, got {blocks}")
        if stride < 1 or upsample < 1 or (spatial_dims == 0 and (stride, upsample) != (1, 1)):
            raise ValueError(
                f"resnet needs stride and upsample >= 1, and both 1 on vectors, got stride={stride}, "
                f"upsample={upsample}, spatial_dims={spatial_dims}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.spatial_dims = spatial_dims
        self.stride = stride
        self.upsample = upsample
        # Parameter-free, so the state dict is the same as without resizing.
        self.resize = nn.Upsample(scale_factor=upsample, mode="nearest") if upsample > 1 else nn.Identity()
        self.input = (
            _conv(spatial_dims, in_channels, hidden, 3, stride) if stride > 1 else self._layer(in_channels, hidden)
        )
        self.blocks = nn.Sequential(
            *(
                _ResidualBlock(
                    self._layer(hidden, hidden),
                    self._layer(hidden, hidden),
                    activation,
                    dropout,
                    (_norm(norm, hidden, spatial_dims), _norm(norm, hidden, spatial_dims)),
                )
                for _ in range(blocks)
            )
        )
        self.activation = _activation(activation)
        self.output = self._layer(hidden, out_channels)
        _zero_last(self.output)

    def _layer(self, width_in: int, width_out: int) -> nn.Module:
        """A dense layer (vectors) or a 3-wide 'same' convolution (spatial data)."""
        if self.spatial_dims == 0:
            return nn.Linear(width_in, width_out)
        return _conv(self.spatial_dims, width_in, width_out, 3)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, C, *spatial)`` → ``(B, out_channels, *spatial')`` (spatial' as resized), or, dense,
        ``(B, ...)`` → ``(B, out_channels)``."""
        if self.spatial_dims == 0:
            h = torch.flatten(x, start_dim=1)
            if context is not None:
                h = torch.cat([h, torch.flatten(context, start_dim=1).to(h.dtype)], dim=1)
        else:
            h = self.resize(_append_context(x, context))
        out: Tensor = self.output(self.activation(self.blocks(self.input(h))))  # a module call is typed Any
        return out

    def extra_repr(self) -> str:
        resized = f", stride={self.stride}, upsample={self.upsample}" if (self.stride, self.upsample) != (1, 1) else ""
        return f"spatial_dims={self.spatial_dims}{resized}"


class _DenseLayer(nn.Module):
    """``h`` ``(B, C, *s)`` → ``cat([h, act(W₃·drop(act(W₁·h)))])`` ``(B, C + growth, *s)``:
    a 1×1 convolution keeping C channels, then a k-wide one giving ``growth`` new channels."""

    def __init__(
        self, channels: int, growth: int, kernel: int, spatial_dims: int, activation: str, dropout: float
    ) -> None:
        super().__init__()
        modules = [_conv(spatial_dims, channels, channels, 1), _activation(activation)]
        if dropout > 0:
            modules.append(nn.Dropout(dropout))
        modules += [_conv(spatial_dims, channels, growth, kernel), _activation(activation)]
        self.layers = nn.Sequential(*modules)

    def forward(self, h: Tensor) -> Tensor:
        """Appends ``growth`` channels."""
        return torch.cat([h, self.layers(h)], dim=1)


class _GatedTransition(nn.Module):
    """A gated 1×1 convolution ``(B, C, *s)`` → ``(B, out, *s)``: ``a + b ⊙ σ(c)`` with
    ``(a, b, c) = split(W·h)``, W 1×1 (C → 3·out) with a bias."""

    def __init__(self, channels: int, out_channels: int, spatial_dims: int) -> None:
        super().__init__()
        self.conv = _conv(spatial_dims, channels, 3 * out_channels, 1)

    def forward(self, h: Tensor) -> Tensor:
        """``(B, C, *s)`` → ``(B, out, *s)``."""
        gate: Tensor = self.conv(h)  # a module call is typed Any
        a, b, c = gate.chunk(3, dim=1)
        return a + b * torch.sigmoid(c)


class _Residual(nn.Module):
    """``h + inner(h)``: same shape in and out, ``(B, C, *s)``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, h: Tensor) -> Tensor:
        """``(B, C, *s)`` → ``(B, C, *s)``."""
        out: Tensor = h + self.inner(h)  # a module call is typed Any
        return out


def dense_block_parts(
    net: str,
    channels: int,
    out_channels: int,
    layers: int,
    growth: int,
    kernel: int,
    spatial_dims: int,
    activation: str,
    dropout: float,
    transition: str,
) -> tuple[list[nn.Module], nn.Module]:
    """One dense block's parts, shared by ``DenseNet`` and ``DenseBlock``: ``layers`` dense layers
    (``(B, channels, *s)`` → ``(B, channels + layers·growth, *s)``) and the 1×1 transition from
    there to ``out_channels`` (gated with ``transition="gated"``). Bad options raise ValueError
    naming ``net``."""
    _check_spatial_dims(spatial_dims, (1, 2))
    _check_dropout(dropout)
    if transition not in ("plain", "gated"):
        raise ValueError(f"{net}'s transition is 'plain' or 'gated', got {transition!r}")
    if layers < 1 or growth < 1 or kernel < 1:
        raise ValueError(f"{net} needs layers, growth and kernel >= 1, got {layers}, {growth}, {kernel}")
    dense: list[nn.Module] = [
        _DenseLayer(channels + index * growth, growth, kernel, spatial_dims, activation, dropout)
        for index in range(layers)
    ]
    width = channels + layers * growth
    end: nn.Module = (
        _GatedTransition(width, out_channels, spatial_dims)
        if transition == "gated"
        else _conv(spatial_dims, width, out_channels, 1)
    )
    return dense, end


class DenseNet(nn.Module):
    """A DenseNet conditioner as in the SurVAE Flows image models: ``(B, C, *spatial)`` →
    ``(B, out_channels, *spatial)``.

    A 1×1 convolution to ``hidden`` channels; ``blocks`` dense blocks, each ``layers`` dense
    layers (every one appends ``growth`` channels computed from all the channels before it)
    and a 1×1 transition back to ``hidden``; a 1×1 output convolution, starting at zero. The
    context is appended as in ``ConvNet``; ``in_channels`` counts it.

    ``transition="gated"`` makes each block's transition a gated 1×1 convolution (to
    3·hidden channels ``(a, b, c)``, giving ``a + b ⊙ σ(c)``) and ``residual=True`` adds each
    block's input to its output, ``h + block(h)``: together they are the SurVAE Flows code's
    ``DenseNet(gated_conv=True)``, whose blocks are always residual.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 64,
        blocks: int = 1,
        layers: int = 4,
        growth: int = 32,
        kernel: int = 3,
        spatial_dims: int = 2,
        activation: str = "relu",
        dropout: float = 0.0,
        transition: str = "plain",
        residual: bool = False,
    ) -> None:
        super().__init__()
        if blocks < 1:
            raise ValueError(f"densenet needs blocks >= 1, got {blocks}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.spatial_dims = spatial_dims
        modules: list[nn.Module] = [_conv(spatial_dims, in_channels, hidden, 1)]
        for _ in range(blocks):
            dense, end = dense_block_parts(
                "densenet", hidden, hidden, layers, growth, kernel, spatial_dims, activation, dropout, transition
            )
            block = nn.Sequential(*dense, end)
            modules.append(_Residual(block) if residual else block)
        self.blocks = nn.Sequential(*modules)
        self.output = _conv(spatial_dims, hidden, out_channels, 1)
        _zero_last(self.output)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, C, *spatial)`` (and an optional context) → ``(B, out_channels, *spatial)``."""
        out: Tensor = self.output(self.blocks(_append_context(x, context)))  # a module call is typed Any
        return out

    def extra_repr(self) -> str:
        return f"spatial_dims={self.spatial_dims}"


class _GatedBlock(nn.Module):
    """Flow++'s gated residual block: ``h + a ⊙ σ(b)`` with
    ``(a, b) = split(G·drop(concat_elu(W·concat_elu(h))))``, W k-wide (2C → C), G 1×1 (2C → 2C)."""

    def __init__(self, channels: int, kernel: int, spatial_dims: int, dropout: float) -> None:
        super().__init__()
        self.conv = _conv(spatial_dims, 2 * channels, channels, kernel)
        self.gate = _conv(spatial_dims, 2 * channels, 2 * channels, 1)
        self.concat_elu = ConcatELU()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, h: Tensor) -> Tensor:
        """Same shape in and out: ``(B, C, *spatial)``."""
        inner = self.dropout(self.concat_elu(self.conv(self.concat_elu(h))))
        gate: Tensor = self.gate(inner)  # a module call is typed Any
        a, b = gate.chunk(2, dim=1)
        return h + a * torch.sigmoid(b)


class GatedConvNet(nn.Module):
    """A residual net of gated convolutions (PixelCNN++/Flow++): ``(B, C, *spatial)`` →
    ``(B, out_channels, *spatial)``.

    A k-wide convolution to ``hidden`` channels, ``blocks`` gated residual blocks, then
    concat_elu and a k-wide output convolution (2·hidden → out) starting at zero. The context
    is appended as in ``ConvNet``; ``in_channels`` counts it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 64,
        blocks: int = 2,
        kernel: int = 3,
        spatial_dims: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_spatial_dims(spatial_dims, (1, 2))
        _check_dropout(dropout)
        if blocks < 0 or kernel < 1:
            raise ValueError(f"gated_conv needs blocks >= 0 and kernel >= 1, got {blocks}, {kernel}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.spatial_dims = spatial_dims
        self.input = _conv(spatial_dims, in_channels, hidden, kernel)
        self.blocks = nn.Sequential(*(_GatedBlock(hidden, kernel, spatial_dims, dropout) for _ in range(blocks)))
        self.concat_elu = ConcatELU()
        self.output = _conv(spatial_dims, 2 * hidden, out_channels, kernel)
        _zero_last(self.output)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, C, *spatial)`` (and an optional context) → ``(B, out_channels, *spatial)``."""
        h = self.blocks(self.input(_append_context(x, context)))
        out: Tensor = self.output(self.concat_elu(h))  # a module call is typed Any
        return out

    def extra_repr(self) -> str:
        return f"spatial_dims={self.spatial_dims}"


class _TransformerBlock(nn.Module):
    """Pre-norm self-attention over the elements and a feed-forward (GELU by default), both residual."""

    def __init__(self, dim: int, heads: int, activation: str = "gelu") -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.projection = nn.Linear(dim, dim)
        self.feedforward_norm = nn.LayerNorm(dim)
        self.feedforward = nn.Sequential(nn.Linear(dim, 4 * dim), _activation(activation), nn.Linear(4 * dim, dim))

    def _attend(self, h: Tensor) -> Tensor:
        """Multi-head self-attention: ``(B, N, dim)`` → ``(B, N, dim)``."""
        batch, length, dim = h.shape
        qkv = self.qkv(h).reshape(batch, length, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, dim/heads)
        attended = F.scaled_dot_product_attention(q, k, v)
        out: Tensor = self.projection(attended.transpose(1, 2).reshape(batch, length, dim))  # module calls are Any
        return out

    def forward(self, h: Tensor) -> Tensor:
        """``(B, N, dim)`` → ``(B, N, dim)``."""
        h = h + self._attend(self.attention_norm(h))
        fed: Tensor = self.feedforward(self.feedforward_norm(h))  # a module call is typed Any
        return h + fed


class Transformer(nn.Module):
    """A transformer encoder over sets and sequences: ``(B, F, N)`` → ``(B, out_features, N)``.

    N elements of F features each. Without ``positional`` nothing depends on the elements'
    order, so permuting the N axis of the input (and of a per-element context) permutes the
    output the same way; with it, a learned embedding per position (``length`` = N positions)
    encodes the order. A ``(B, Fc, N)`` context is concatenated on features, any other
    context flattened to ``(B, F)`` and broadcast over N; ``in_features`` counts both. The
    feed-forward layers use ``activation`` (``gelu``, or ``gelu_sigmoid`` as the SurVAE Flows
    code). The output layer starts at zero.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        dim: int = 64,
        heads: int = 4,
        layers: int = 2,
        positional: bool = False,
        length: int | None = None,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"transformer dim ({dim}) must be divisible by heads ({heads})")
        if positional and length is None:
            raise ValueError("transformer(positional=true) needs the sequence length")
        self.in_features = in_features
        self.out_features = out_features
        self.positional = positional
        self.length = length
        self.embedding = nn.Linear(in_features, dim)
        if positional:
            assert length is not None
            # Random, not zero: a zero embedding would leave the net order-blind at the start.
            self.position = nn.Parameter(torch.randn(length, dim) * 0.02)
        self.blocks = nn.Sequential(*(_TransformerBlock(dim, heads, activation) for _ in range(layers)))
        self.norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, out_features)
        _zero_last(self.output)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, F, N)`` (and an optional context) → ``(B, out_features, N)``."""
        h = self.embedding(_append_context(x, context).transpose(1, 2))  # (B, N, dim)
        if self.positional:
            h = h + self.position
        out: Tensor = self.output(self.norm(self.blocks(h)))  # a module call is typed Any
        return out.transpose(1, 2)

    def extra_repr(self) -> str:
        return f"positional={self.positional}, length={self.length}"
