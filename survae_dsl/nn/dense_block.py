"""`DenseBlock`: one dense block straight from the input channels to the output channels, the
SurVAE Flows code's ``DenseBlock`` (the context nets of its flow dequantizers)."""

from __future__ import annotations

from torch import Tensor, nn

from .nets import _append_context, _GatedTransition, _zero_last, dense_block_parts


class DenseBlock(nn.Module):
    """``(B, C, *spatial)`` → ``(B, out_channels, *spatial)`` with no 1×1 convolutions around
    the block (unlike ``DenseNet``, which maps to ``hidden`` channels first and back at the end).

    ``layers`` dense layers, the first reading the ``in_channels`` (context included, appended
    as in ``ConvNet``) and each appending ``growth`` channels, then a 1×1 transition to
    ``out_channels`` (gated with ``transition="gated"``: W to 3·out channels ``(a, b, c)``,
    giving ``a + b ⊙ σ(c)``), starting at zero. ``residual=True`` adds the input ``x`` (without
    its context) to the output, which then has ``x``'s channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
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
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.spatial_dims = spatial_dims
        self.residual = residual
        dense, transition_layer = dense_block_parts(
            "dense_block",
            in_channels,
            out_channels,
            layers,
            growth,
            kernel,
            spatial_dims,
            activation,
            dropout,
            transition,
        )
        self.dense = nn.Sequential(*dense)  # registered first: the state dict lists the layers in order
        self.transition = transition_layer
        # The last layer starts at zero, as every conditioner's: the gated convolution, or the plain one.
        _zero_last(self.transition.conv if isinstance(self.transition, _GatedTransition) else self.transition)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, C, *spatial)`` (and an optional context) → ``(B, out_channels, *spatial)``."""
        out: Tensor = self.transition(self.dense(_append_context(x, context)))  # a module call is typed Any
        return x + out if self.residual else out

    def extra_repr(self) -> str:
        return f"spatial_dims={self.spatial_dims}, residual={self.residual}"


__all__ = ["DenseBlock"]
