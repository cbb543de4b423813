"""A small layer of the user's own, for examples/user_transform/soft_clip.survae.

It follows the runtime's transform protocol: built with the event ``shape`` and the
declaration's keywords, ``forward(x, context=None) -> (z, ldj)`` with ``ldj`` of shape
``(batch,)``, and ``inverse(z, context=None, generator=None) -> x``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SoftClip(nn.Module):
    """z = bound · tanh(x / bound): real → (−bound, bound), the identity near 0.

    log|dz/dx| = log(1 − tanh²(x / bound)) per entry, computed stably as
    2·(log 2 − u − softplus(−2u)) with u = |x| / bound.
    """

    def __init__(self, shape: tuple[int, ...], bound: float = 3.0) -> None:
        super().__init__()
        if bound <= 0:
            raise ValueError(f"bound must be positive, got {bound}")
        self.shape = tuple(shape)
        self.bound = float(bound)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        u = x.abs() / self.bound
        log_derivative = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
        return self.bound * torch.tanh(x / self.bound), log_derivative.reshape(x.shape[0], -1).sum(dim=1)

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        limit = 1.0 - torch.finfo(z.dtype).eps
        return self.bound * torch.atanh(torch.clamp(z / self.bound, -limit, limit))
