"""Ordered data: the layout shared by ``sort`` and ``sorted_to_real``, and ``sorted_to_real``.

A rank-1 tensor ``(N,)`` is ordered by its values (``dim=0``); a rank-2 tensor ``(F, N)`` is a
set of N elements of F features, ordered along ``dim=1`` by the feature row ``key``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import Kind, Transform, sum_except_batch
from .functional import move_zero_inward
from .noise import draw_uniform

__all__ = ["SortedToReal", "gather_along", "random_order", "sort_layout"]


def sort_layout(shape: tuple[int, ...], dim: int, key: int) -> tuple[int, int]:
    """Validate an ordering layout and return ``(dim, key)``.

    Only the two layouts the language has: ``(N,)`` along 0 by its values (key 0), ``(F, N)``
    along 1 by feature row ``key``.
    """
    if len(shape) == 1:
        if dim != 0:
            raise ValueError(f"a vector of shape {shape} is ordered along dim 0, got dim={dim}")
        if key != 0:
            raise ValueError(f"a vector of shape {shape} is ordered by its values: key must be 0, got {key}")
        return 0, 0
    if len(shape) == 2:
        if dim != 1:
            raise ValueError(f"a set of shape {shape} ([F, N]) is ordered along dim 1, got dim={dim}")
        if not 0 <= key < shape[0]:
            raise ValueError(f"key must be in [0, {shape[0] - 1}] for shape {shape}, got {key}")
        return dim, key
    raise ValueError(f"ordering needs a shape (N,) or (F, N), got {shape}")


def gather_along(x: Tensor, order: Tensor, axis: int) -> Tensor:
    """Reorder ``x`` along tensor ``axis`` (batch included) by per-example ``order`` ``(B, n)``.

    The same permutation applies at every index of the other axes: ``out[b, ..., i, ...] =
    x[b, ..., order[b, i], ...]``.
    """
    view = [order.shape[0]] + [1] * (x.dim() - 1)
    view[axis] = order.shape[1]
    return torch.gather(x, axis, order.reshape(view).expand(x.shape))


def random_order(batch: int, size: int, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """``(batch, size)`` uniformly random permutations of ``range(size)``, one per row, on
    ``like``'s device.

    The argsort of i.i.d. uniforms is uniform over permutations as long as ties do not occur;
    the noise is float64 whatever the model's dtype, since float32's 2^24 values would tie
    (and bias the order) with a few percent probability in sets of a thousand.
    """
    keys = draw_uniform((batch, size), generator=generator, dtype=torch.float64, device=like.device)
    return torch.argsort(keys, dim=1)


class _Ordered(Transform):
    """Shared layout: the key entries ``(B, N)`` of ``(B, *shape)`` and how to put them back."""

    def __init__(self, shape: tuple[int, ...], dim: int, key: int) -> None:
        super().__init__(shape)
        self.dim, self.key = sort_layout(self.shape, dim, key)
        self.size = self.shape[-1]

    def _keys(self, x: Tensor) -> Tensor:
        """The entries that define the order, ``(B, N)``."""
        return x if len(self.shape) == 1 else x[:, self.key]

    def _with_keys(self, x: Tensor, keys: Tensor) -> Tensor:
        """``x`` with its key entries replaced by ``keys`` ``(B, N)``; other rows unchanged."""
        if len(self.shape) == 1:
            return keys
        return torch.cat([x[:, : self.key], keys.unsqueeze(1), x[:, self.key + 1 :]], dim=1)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dim={self.dim}, key={self.key}"


class SortedToReal(_Ordered):
    """Ordered keys x_0 ≤ … ≤ x_{N−1} → y_0 = x_0, y_i = log(x_i − x_{i−1}) (reals).

    Other feature rows pass unchanged. The Jacobian is triangular with diagonal
    1, 1/gap_1, …, so ldj = −Σ log gap_i. A tie (a gap of exactly 0, the edge of the ordered
    domain) is computed as a gap of the smallest normal number, so ties keep ``log_prob``
    finite; every other gap, however small, is exact (two distinct floats never differ by 0).
    """

    kind: ClassVar[Kind] = "bijective"

    def __init__(self, shape: tuple[int, ...], dim: int = 1, key: int = 0) -> None:
        super().__init__(shape, dim, key)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Ordered ``(B, *shape)`` → ``(y (B, *shape) real, −Σ log gaps (B,))``."""
        keys = self._keys(x)
        gaps = move_zero_inward(keys[:, 1:] - keys[:, :-1])
        log_gaps = torch.log(gaps)
        y = self._with_keys(x, torch.cat([keys[:, :1], log_gaps], dim=1))
        return y, -sum_except_batch(log_gaps)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Real ``(B, *shape)`` → ordered ``(B, *shape)``: x_i = y_0 + Σ_{j ≤ i} exp(y_j)."""
        keys = self._keys(z)
        first = keys[:, :1]
        rest = first + torch.cumsum(torch.exp(keys[:, 1:]), dim=1)
        return self._with_keys(z, torch.cat([first, rest], dim=1))
