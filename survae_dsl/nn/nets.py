"""Conditioner networks (``net=`` in the language) for couplings and conditional distributions.

Every net is called as ``net(x, context=None)``; a context is concatenated to its input (flat
for dense nets, on channels or features for convolutional nets and transformers, broadcast
over the spatial or element axes when it is flat). Every net's last layer starts at zero, so
its output is exactly 0 at construction: a fresh coupling is the identity and a fresh
conditional distribution the standard one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MLP", "ConvNet", "ResNet", "Transformer"]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


def _activation(name: str) -> nn.Module:
    """A fresh activation module by its DSL name."""
    if name not in _ACTIVATIONS:
        choices = ", ".join(sorted(_ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; expected one of {choices}")
    return _ACTIVATIONS[name]()


class MLP(nn.Module):
    """A fully connected net: ``(B, ...)`` (flattened to ``(B, in_features)``) → ``(B, out)``.

    The last layer starts at zero (weights and bias), so a fresh coupling is the identity and
    a fresh conditional distribution is the standard one.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: tuple[int, ...] = (64,),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        layers = _mlp_layers(in_features, out_features, tuple(hidden), activation)
        self.layers = nn.Sequential(*layers)
        last = self.layers[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, ...)`` (and a context ``(B, ...)``, appended flat) with ``in_features``
        entries per example in all → ``(B, out_features)``."""
        features = torch.flatten(x, start_dim=1)
        if context is not None:
            features = torch.cat([features, torch.flatten(context, start_dim=1).to(features.dtype)], dim=1)
        out: Tensor = self.layers(features)  # a module call is typed Any
        return out


def _mlp_layers(in_features: int, out_features: int, hidden: tuple[int, ...], activation: str) -> list[nn.Module]:
    """Linear layers of widths ``in → *hidden → out`` with ``activation`` between them."""
    _activation(activation)  # validate the name even when no hidden layer needs one
    widths = (in_features, *hidden, out_features)
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        if index > 0:
            layers.append(_activation(activation))
        layers.append(nn.Linear(width_in, width_out))
    return layers


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


def _conv(spatial_dims: int, channels_in: int, channels_out: int, kernel: int) -> nn.Module:
    """A stride-1 convolution with 'same' padding over 1 or 2 spatial axes."""
    conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
    return conv(channels_in, channels_out, kernel, padding="same")


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


class ConvNet(nn.Module):
    """A stack of ``layers`` 'same'-padded convolutions with ReLU between them:
    ``(B, C, *spatial)`` → ``(B, out_channels, *spatial)`` over 1 or 2 spatial axes.

    ``in_channels`` counts the input's channels plus the context's (a ``(B, Cc, *spatial)``
    context is concatenated on channels, a flat ``(B, F)`` one broadcast over space). The
    last convolution starts at zero.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 64,
        layers: int = 2,
        kernel: int = 3,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        _check_spatial_dims(spatial_dims, (1, 2))
        if layers < 1 or kernel < 1:
            raise ValueError(f"conv needs layers >= 1 and kernel >= 1, got layers={layers}, kernel={kernel}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.spatial_dims = spatial_dims
        widths = (in_channels, *([hidden] * (layers - 1)), out_channels)
        modules: list[nn.Module] = []
        for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            if index > 0:
                modules.append(nn.ReLU())
            modules.append(_conv(spatial_dims, width_in, width_out, kernel))
        self.layers = nn.Sequential(*modules)
        _zero_last(self.layers[-1])

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, C, *spatial)`` (and an optional context) → ``(B, out_channels, *spatial)``."""
        out: Tensor = self.layers(_append_context(x, context))  # a module call is typed Any
        return out

    def extra_repr(self) -> str:
        return f"spatial_dims={self.spatial_dims}"


class _ResidualBlock(nn.Module):
    """h + W₂·relu(W₁·relu(h)) (pre-activation), with W dense or 'same' convolutions."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first = first
        self.second = second

    def forward(self, h: Tensor) -> Tensor:
        """Same shape in and out: ``(B, hidden, *spatial)``."""
        residual: Tensor = self.second(torch.relu(self.first(torch.relu(h))))  # a module call is typed Any
        return h + residual


class ResNet(nn.Module):
    """An input layer, ``blocks`` residual blocks of width ``hidden``, and an output layer.

    ``spatial_dims`` 1 or 2: 3-wide 'same' convolutions on ``(B, C, *spatial)`` →
    ``(B, out_channels, *spatial)``, with the context appended as in ``ConvNet``.
    ``spatial_dims`` 0: dense layers on vectors (channels are features): ``(B, ...)``
    flattened to ``(B, in_channels)`` with any context appended flat, as in ``MLP``, →
    ``(B, out_channels)``. ``in_channels`` counts the context. The output layer starts at zero.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 64,
        blocks: int = 2,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        _check_spatial_dims(spatial_dims, (0, 1, 2))
        if blocks < 0:
            raise ValueError(f"resnet needs blocks >= 0, got {blocks}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.spatial_dims = spatial_dims
        self.input = self._layer(in_channels, hidden)
        self.blocks = nn.Sequential(
            *(_ResidualBlock(self._layer(hidden, hidden), self._layer(hidden, hidden)) for _ in range(blocks))
        )
        self.output = self._layer(hidden, out_channels)
        _zero_last(self.output)

    def _layer(self, width_in: int, width_out: int) -> nn.Module:
        """A dense layer (vectors) or a 3-wide 'same' convolution (spatial data)."""
        if self.spatial_dims == 0:
            return nn.Linear(width_in, width_out)
        return _conv(self.spatial_dims, width_in, width_out, 3)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, C, *spatial)`` → ``(B, out_channels, *spatial)``, or, dense,
        ``(B, ...)`` → ``(B, out_channels)``."""
        if self.spatial_dims == 0:
            h = torch.flatten(x, start_dim=1)
            if context is not None:
                h = torch.cat([h, torch.flatten(context, start_dim=1).to(h.dtype)], dim=1)
        else:
            h = _append_context(x, context)
        out: Tensor = self.output(torch.relu(self.blocks(self.input(h))))  # a module call is typed Any
        return out

    def extra_repr(self) -> str:
        return f"spatial_dims={self.spatial_dims}"


class _TransformerBlock(nn.Module):
    """Pre-norm self-attention over the elements and a GELU feed-forward, both residual."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.projection = nn.Linear(dim, dim)
        self.feedforward_norm = nn.LayerNorm(dim)
        self.feedforward = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

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
    output layer starts at zero.
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
        self.blocks = nn.Sequential(*(_TransformerBlock(dim, heads) for _ in range(layers)))
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
