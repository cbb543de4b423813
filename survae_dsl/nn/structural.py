"""Volume-preserving rearrangements of a tensor's entries."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import Kind, Transform

__all__ = ["Reverse"]


class Reverse(Transform):
    """Reverses the order of entries along event axis ``dim``; ldj = 0."""

    kind: ClassVar[Kind] = "bijective"

    def __init__(self, shape: tuple[int, ...], dim: int = 0) -> None:
        super().__init__(shape)
        if not 0 <= dim < len(self.shape):
            raise ValueError(f"dim must be in [0, {len(self.shape) - 1}] for shape {self.shape}")
        self.dim = dim

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), zeros (B,))``."""
        return torch.flip(x, dims=(self.dim + 1,)), self._constant(x.shape[0], 0.0)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``: a flip is its own inverse."""
        return torch.flip(z, dims=(self.dim + 1,))

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dim={self.dim}"
