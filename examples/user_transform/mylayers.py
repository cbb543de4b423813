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


class TinyNet(nn.Module):
    """A user net (docs/language.md, User-defined nets): ``(B, *in_shape)`` [+ context] →
    ``(B, *out_shape)``, one hidden layer of ``width`` tanh units on the flattened input.

    Built with the compiler's net keywords ``in_shape``, ``out_shape`` and ``context_shape``
    (``None`` without a context) plus the declaration's own (``width``). Its last layer starts
    at zero, so a fresh coupling is the identity. Parameters: (I + C)·W + W + W·O + O with I,
    C, O the input, context and output entries per example — the formula its declaration
    states, which ``--check`` counts without importing this module.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        context_shape: tuple[int, ...] | None = None,
        width: int = 16,
    ) -> None:
        super().__init__()
        features = math.prod(in_shape) + (math.prod(context_shape) if context_shape is not None else 0)
        self.out_shape = tuple(out_shape)
        self.hidden = nn.Linear(features, width)
        self.last = nn.Linear(width, math.prod(out_shape))
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        features = torch.flatten(x, start_dim=1)
        if context is not None:
            features = torch.cat([features, torch.flatten(context, start_dim=1).to(features.dtype)], dim=1)
        out: Tensor = self.last(torch.tanh(self.hidden(features)))
        return out.reshape(x.shape[0], *self.out_shape)


class AdditiveHalves(nn.Module):
    """A user transform that takes a net: z = (x₁, x₂ + net(x₁)) on ``(B, D)`` with x₁ the
    first D/2 entries; volume preserving, so ldj = 0. The compiler builds ``net`` (a built-in
    or user net from D/2 to D/2 entries, as the declaration's `net [D / 2] -> [D / 2]` says)
    and passes it as the keyword ``net``.
    """

    def __init__(self, shape: tuple[int, ...], net: nn.Module) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.half = shape[0] // 2
        self.net = net

    def _shift(self, first: Tensor, context: Tensor | None) -> Tensor:
        out: Tensor = self.net(first, context)
        return out.reshape(first.shape[0], -1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        first, second = x[:, : self.half], x[:, self.half :]
        z = torch.cat([first, second + self._shift(first, context)], dim=1)
        return z, torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        first, second = z[:, : self.half], z[:, self.half :]
        return torch.cat([first, second - self._shift(first, context)], dim=1)
