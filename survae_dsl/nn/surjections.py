"""Surjective layers: ``abs`` (inference-surjective, exact) and ``dequantize`` (generative).

Their ``ldj`` is the layer's likelihood contribution: for ``abs``, log p(sign | |x|); for
``dequantize``, the one-sample variational term −log q(u | x) minus the volume change.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from .base import Kind, Transform, eps_for, event_numel

__all__ = ["Abs", "Dequantize"]


class Abs(Transform):
    """z = |x| with a uniform sign: contribution log p(sign | z) = −D·log 2.

    ``inverse`` draws each sign independently, ±1 with probability 1/2.
    """

    kind: ClassVar[Kind] = "inference_surjective"

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(shape)
        self._ldj = -event_numel(self.shape) * math.log(2.0)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(|x| (B, *shape), −D·log 2 (B,))``."""
        return torch.abs(x), self._constant(x.shape[0], self._ldj)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` (z ≥ 0) → z·s with random signs s, ``(B, *shape)``."""
        bits = torch.randint(0, 2, z.shape, generator=generator, device=z.device, dtype=z.dtype)
        return z * (2.0 * bits - 1.0)


class Dequantize(Transform):
    """Uniform dequantization: x ∈ {0, …, K−1} → z = (x + u)/K with u ~ U(0, 1).

    The contribution is −D·log K (the uniform q(u) has log-density 0). u lies in the open
    interval: it is kept at least a margin away from 0 and 1 so that ``inverse`` recovers
    x exactly (``floor(K·z)``) despite rounding.
    """

    kind: ClassVar[Kind] = "generative_surjective"

    def __init__(self, shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__(shape)
        if num_classes < 2:
            raise ValueError(f"dequantize needs num_classes ≥ 2, got {num_classes}")
        self.num_classes = int(num_classes)
        self._ldj = -event_numel(self.shape) * math.log(self.num_classes)

    def _margin(self, dtype: torch.dtype) -> float:
        """How far u stays from 0 and 1: ``eps_for(dtype)``, widened when rounding of
        (x + u)/K·K at K's magnitude could otherwise cross a cell edge (float32, large K)."""
        rounding = 4.0 * self.num_classes * torch.finfo(dtype).eps
        return max(eps_for(dtype), rounding)

    def embed(self, x: Tensor, u: Tensor) -> Tensor:
        """z = (x + u)/K for integer ``x`` and noise ``u`` in [0, 1], both ``(B, *shape)``;
        u is clamped inside the margin, so z lies strictly inside x's cell."""
        margin = self._margin(u.dtype)
        return (x.to(u.dtype) + torch.clamp(u, margin, 1.0 - margin)) / self.num_classes

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Integer ``(B, *shape)`` → ``(z (B, *shape) float, −D·log K (B,))``."""
        anchor = self._anchor
        u = torch.rand(x.shape, generator=generator, dtype=anchor.dtype, device=anchor.device)
        return self.embed(x, u), self._constant(x.shape[0], self._ldj)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` in [0, 1] → floor(K·z) clamped to {0, …, K−1}, dtype ``long``."""
        cells = torch.floor(z * self.num_classes)
        return torch.clamp(cells, 0, self.num_classes - 1).to(torch.long)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, num_classes={self.num_classes}"
