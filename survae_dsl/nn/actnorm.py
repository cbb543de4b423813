"""Activation normalisation (Kingma & Dhariwal 2018): a per-channel affine map."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ClassVar

import torch
from torch import Tensor, nn

from .base import Kind, Transform, eps_for, event_numel

__all__ = ["ActNorm", "statistics_summed_by"]

# While set (`statistics_summed_by`): sums a tensor over every process of a data-parallel run, so
# that `ActNorm.initialize` takes its statistics over the global batch, not one process's share.
_SUM_OVER_PROCESSES: ContextVar[Callable[[Tensor], Tensor] | None] = ContextVar("_SUM_OVER_PROCESSES", default=None)


@contextmanager
def statistics_summed_by(total: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Within the block, `ActNorm.initialize` sums its statistics with ``total`` (a tensor →
    the same tensor summed over the processes, e.g. an ``all_reduce``): each process passes its
    share of the batch, and every process gets the parameters of the whole batch. Every process
    must then initialise the same layers in the same order (they run the same model)."""
    token = _SUM_OVER_PROCESSES.set(total)
    try:
        yield
    finally:
        _SUM_OVER_PROCESSES.reset(token)


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
        Inside `statistics_summed_by` the batch is that of every process together.
        """
        per_channel = torch.movedim(x.detach(), 1, 0).reshape(self.shape[0], -1)
        per_channel = per_channel.to(self.log_scale.dtype)
        total = _SUM_OVER_PROCESSES.get()
        if total is None:
            mean = per_channel.mean(dim=1)
            std = per_channel.std(dim=1, correction=0).clamp(min=eps_for(per_channel.dtype))
        else:  # two passes over the global batch: the count and sums, then the squared deviations
            count = total(torch.tensor(float(per_channel.shape[1]), dtype=per_channel.dtype, device=x.device))
            mean = total(per_channel.sum(dim=1)) / count
            variance = total((per_channel - mean[:, None]).square().sum(dim=1)) / count
            std = variance.sqrt().clamp(min=eps_for(per_channel.dtype))
        self.log_scale.copy_(-torch.log(std))
        self.shift.copy_(-mean / std)
