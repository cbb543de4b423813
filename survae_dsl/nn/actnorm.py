"""Activation normalisation (Kingma & Dhariwal 2018): a per-channel affine map."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .base import Kind, Transform, eps_for, event_numel

__all__ = ["ActNorm"]


class ActNorm(Transform):
    """z = x·exp(log_scale) + shift per channel (event axis 0; each feature of ``[D]``).

    Both parameters start at zero, so a fresh layer is the identity. :meth:`initialize` sets
    them from a batch so each channel of the output has zero mean and unit variance. The
    forward pass never branches on whether that happened (``torch.compile`` friendly).
    """

    kind: ClassVar[Kind] = "bijective"

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(shape)
        if len(self.shape) == 0:
            raise ValueError("actnorm needs at least one event axis (the channel axis)")
        channels = self.shape[0]
        self.shift = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        # How many entries share each channel's scale: the ldj weight of its log-scale.
        self._per_channel = event_numel(self.shape) // channels

    def _broadcast(self, parameter: Tensor) -> Tensor:
        """``(C,)`` → ``(C, 1, ..., 1)`` so it broadcasts against ``(B, *shape)``."""
        return parameter.reshape(self.shape[0], *([1] * (len(self.shape) - 1)))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        z = x * torch.exp(self._broadcast(self.log_scale)) + self._broadcast(self.shift)
        ldj = self.log_scale.sum() * self._per_channel
        # repeat, not expand: callers may accumulate into the ldj in place.
        return z, ldj.repeat(x.shape[0])

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``."""
        return (z - self._broadcast(self.shift)) * torch.exp(-self._broadcast(self.log_scale))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Set the parameters from ``x`` ``(B, *shape)``: zero mean, unit variance per channel.

        Statistics are over the batch and every non-channel axis (population variance); the
        standard deviation is floored at ``eps_for(dtype)`` so a constant channel stays finite.
        """
        per_channel = torch.movedim(x.detach(), 1, 0).reshape(self.shape[0], -1)
        per_channel = per_channel.to(self.log_scale.dtype)
        mean = per_channel.mean(dim=1)
        std = per_channel.std(dim=1, correction=0).clamp(min=eps_for(per_channel.dtype))
        self.log_scale.copy_(-torch.log(std))
        self.shift.copy_(-mean / std)
