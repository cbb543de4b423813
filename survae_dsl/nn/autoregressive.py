"""Affine autoregressive flow (Kingma et al. 2016; Papamakarios et al. 2017).

The inference direction is one pass of an autoregressive net (``MADE``); the generative
direction recovers the features one at a time, D passes in all.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .base import Kind, Transform, sum_except_batch
from .couplings import _SCALES

__all__ = ["AffineAutoregressive"]


class AffineAutoregressive(Transform):
    """z_d = x_d·scale(s_d) + t_d with (s_d, t_d) computed from x_{<d} (and the context).

    ``x``: ``(B, D)``; the net (a ``MADE`` with ``params_per_feature=2``) maps ``x`` to
    ``(B, 2·D)``, read as ``(B, 2, D)`` = (raw scale, shift). Scale choices are the
    couplings' (``tanh_exp``, ``exp``, ``softplus``, ``sigmoid``), all with scale(0) = 1, so
    a zero net output is the identity.
    """

    kind: ClassVar[Kind] = "bijective"

    def __init__(self, shape: tuple[int, ...], net: nn.Module, scale: str = "tanh_exp") -> None:
        super().__init__(shape)
        if len(self.shape) != 1:
            raise ValueError(f"affine_autoregressive needs a vector shape (D,), got {self.shape}")
        if scale not in _SCALES:
            choices = ", ".join(_SCALES)
            raise ValueError(f"unknown autoregressive scale {scale!r}; expected one of {choices}")
        self.net = net
        self.scale = scale
        self._scale_fn = _SCALES[scale]

    def _scale_shift(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """(scale, log scale, shift), each ``(B, D)``, for the entries of ``x`` ``(B, D)``."""
        params = self.net(x, context).reshape(x.shape[0], 2, self.shape[0])
        scale, log_scale = self._scale_fn(params[:, 0])
        return scale, log_scale, params[:, 1]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, D)`` → ``(z (B, D), ldj (B,))``; the Jacobian is triangular."""
        scale, log_scale, shift = self._scale_shift(x, context)
        return x * scale + shift, sum_except_batch(log_scale)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, D)`` → ``(B, D)`` in D passes.

        After pass d, entries 0..d are exact: their parameters read only entries before them,
        which an earlier pass already fixed. Recomputing every entry keeps each pass free of
        in-place writes.
        """
        x = torch.zeros_like(z)
        for _ in range(self.shape[0]):
            _, log_scale, shift = self._scale_shift(x, context)
            x = (z - shift) * torch.exp(-log_scale)
        return x

    def extra_repr(self) -> str:
        return f"shape={self.shape}, scale={self.scale!r}"
