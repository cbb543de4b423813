"""Batch normalisation as a bijection (Dinh et al. 2017, RealNVP §3.7), per channel.

Exact only in evaluation mode: there the statistics are fixed running averages and the layer
is an affine bijection of each example. In training mode ``forward`` normalises by the
batch's own mean and variance (and updates the running averages), so the map of one example
depends on the others in its batch and ``log_prob`` is not a per-example density
(docs/language.md; `survae-compile --check` says so in a note).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .base import Kind, Transform, event_numel

__all__ = ["BatchNorm"]


class BatchNorm(Transform):
    """z = (x − μ_c) / √(σ²_c + eps) · exp(log_scale_c) + shift_c per channel c (event axis 0;
    each feature of ``[D]``).

    Training mode: μ and σ² are the batch's mean and (population) variance over the batch and
    every non-channel axis, and the running averages move towards them by ``momentum``
    (running ← (1 − momentum)·running + momentum·batch). Evaluation mode and ``inverse``:
    μ and σ² are the running averages (starting at 0 and 1). ``affine`` adds the learned
    ``log_scale`` and ``shift`` (zero at start).

    ldj = positions · Σ_c (log_scale_c − ½ log(σ²_c + eps)), positions = entries per channel.
    """

    kind: ClassVar[Kind] = "bijective"
    # Buffers (saved in `state_dict`, moved by `.to()`), declared for the type checker.
    running_mean: Tensor
    running_var: Tensor

    def __init__(self, shape: tuple[int, ...], momentum: float = 0.1, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__(shape)
        if len(self.shape) == 0:
            raise ValueError("batchnorm needs at least one event axis (the channel axis)")
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"batchnorm(momentum=...) must be in (0, 1], got {momentum}")
        if not eps > 0.0:
            raise ValueError(f"batchnorm(eps=...) must be positive, got {eps}")
        channels = self.shape[0]
        self.momentum, self.eps, self.affine = float(momentum), float(eps), bool(affine)
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        if self.affine:
            self.log_scale = nn.Parameter(torch.zeros(channels))
            self.shift = nn.Parameter(torch.zeros(channels))
        self._positions = event_numel(self.shape) // channels

    def _broadcast(self, value: Tensor) -> Tensor:
        """``(C,)`` → ``(C, 1, ..., 1)`` so it broadcasts against ``(B, *shape)``."""
        return value.reshape(self.shape[0], *([1] * (len(self.shape) - 1)))

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, variance) per channel, ``(C,)`` each: the batch's in training mode (updating
        the running averages), the running averages otherwise."""
        if not self.training:
            return self.running_mean, self.running_var
        per_channel = torch.movedim(x, 1, 0).reshape(self.shape[0], -1)
        mean = per_channel.mean(dim=1)
        var = per_channel.var(dim=1, correction=0)
        with torch.no_grad():
            self.running_mean.mul_(1.0 - self.momentum).add_(self.momentum * mean.detach())
            self.running_var.mul_(1.0 - self.momentum).add_(self.momentum * var.detach())
        return mean, var

    def _log_scale(self, var: Tensor) -> Tensor:
        """log of the per-channel factor: log_scale − ½ log(σ² + eps), ``(C,)``."""
        log_scale = -0.5 * torch.log(var + self.eps)
        return log_scale + self.log_scale if self.affine else log_scale

    def _shift(self, like: Tensor) -> Tensor:
        return self.shift if self.affine else torch.zeros_like(like)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        mean, var = self._statistics(x)
        log_scale = self._log_scale(var)
        z = (x - self._broadcast(mean)) * torch.exp(self._broadcast(log_scale)) + self._broadcast(self._shift(mean))
        # repeat, not expand: callers may accumulate into the ldj in place.
        return z, (log_scale.sum() * self._positions).repeat(x.shape[0])

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``, with the running averages (in either mode: a
        sampled batch has no statistics of its own to invert)."""
        mean, var = self.running_mean, self.running_var
        log_scale = self._log_scale(var)
        shifted = z - self._broadcast(self._shift(mean))
        return shifted * torch.exp(-self._broadcast(log_scale)) + self._broadcast(mean)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, momentum={self.momentum}, eps={self.eps}, affine={self.affine}"
