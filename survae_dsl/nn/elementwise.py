"""Fixed elementwise bijections: shift, scale, sigmoid, logit, exp, log, softplus and its inverse.

Each ``forward`` returns the exact ldj = Σ log|f'(x)| in a stable form; each ``inverse`` is
the exact inverse. In ``forward`` (part of ``log_prob``) maps with a singular edge (``logit``
at 0 and 1, ``log`` and ``softplus_inv`` at 0) move only the exact edge points to the nearest
interior value, so the log-density stays finite on the closed domain without giving any other
input a density it does not have (docs/language.md, What the checker enforces, "clamps add no mass"): everything else,
however close to the edge, is computed as it is. Inputs outside the closed domain are not
data of the map and give nan. Inverses clamp only what keeps their result finite.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from .base import Kind, Transform, event_numel, sum_except_batch
from .functional import (
    log_sigmoid_derivative,
    move_one_inward,
    move_zero_inward,
    softplus,
    softplus_inv,
    softplus_inv_log_derivative,
)

__all__ = ["Exp", "Log", "Logit", "Scale", "Shift", "Sigmoid", "Softplus", "SoftplusInv"]


def _finite_unit(z: Tensor) -> Tensor:
    """Clamp into [tiny, 1 − ulp]: only what keeps an inverse finite.

    Inverses are not part of ``log_prob`` (no density is evaluated at what they return), so
    the subnormals below ``tiny`` may move with 0; at 1 only the point 1 itself moves, the
    next float down being 1 − ulp.
    """
    finfo = torch.finfo(z.dtype)
    return torch.clamp(z, finfo.tiny, 1.0 - finfo.eps / 2)


def _finite_positive(z: Tensor) -> Tensor:
    """Clamp to ≥ the smallest normal number; see :func:`_finite_unit`."""
    return torch.clamp(z, min=torch.finfo(z.dtype).tiny)


def _logit(x: Tensor) -> Tensor:
    """log x − log(1 − x), accurate near both ends (``log1p``)."""
    return torch.log(x) - torch.log1p(-x)


class _Elementwise(Transform):
    """Base of the fixed elementwise maps: bijective, no parameters."""

    kind: ClassVar[Kind] = "bijective"


class Shift(_Elementwise):
    """z = x + by; ldj = 0."""

    def __init__(self, shape: tuple[int, ...], by: float) -> None:
        super().__init__(shape)
        self.by = float(by)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), zeros (B,))``."""
        return x + self.by, self._constant(x.shape[0], 0.0)

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``."""
        return z - self.by

    def extra_repr(self) -> str:
        return f"shape={self.shape}, by={self.by}"


class Scale(_Elementwise):
    """z = x·by (by ≠ 0); ldj = D·log|by| with D entries per example."""

    def __init__(self, shape: tuple[int, ...], by: float) -> None:
        super().__init__(shape)
        if by == 0:
            raise ValueError("scale(by=0) is not invertible")
        self.by = float(by)
        self._ldj = event_numel(self.shape) * math.log(abs(self.by))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        return x * self.by, self._constant(x.shape[0], self._ldj)

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``."""
        return z / self.by

    def extra_repr(self) -> str:
        return f"shape={self.shape}, by={self.by}"


class Sigmoid(_Elementwise):
    """z = σ(x), real → unit; ldj = Σ log σ(x) + log σ(−x)."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        return torch.sigmoid(x), sum_except_batch(log_sigmoid_derivative(x))

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` in [0, 1] → logit, with the ends clamped to stay finite."""
        return _logit(_finite_unit(z))


class Logit(_Elementwise):
    """z = log x − log(1 − x), unit → real; ldj = −Σ log x + log(1 − x).

    An exact 0 is computed as the smallest normal number and an exact 1 as 1 − eps/2 (the
    float just below 1), so the closed interval has finite values; every other x, e.g. 1e-300
    or 1 − 2⁻⁵³, is exact. log(1 − x) is ``log1p(−x)``, exact since 1 − x is for x ≥ 1/2.
    """

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` in [0, 1] → ``(z (B, *shape), ldj (B,))``."""
        x = move_one_inward(move_zero_inward(x))
        log_x, log_one_minus_x = torch.log(x), torch.log1p(-x)
        return log_x - log_one_minus_x, -sum_except_batch(log_x + log_one_minus_x)

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)`` in (0, 1)."""
        return torch.sigmoid(z)


class Softplus(_Elementwise):
    """z = log(1 + eˣ), real → positive; ldj = Σ log σ(x)."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        return softplus(x), sum_except_batch(torch.nn.functional.logsigmoid(x))

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` positive → ``(B, *shape)``; 0 is clamped to stay finite."""
        return softplus_inv(_finite_positive(z))


class SoftplusInv(_Elementwise):
    """z = x + log(1 − e⁻ˣ), positive → real; ldj = −Σ log(1 − e⁻ˣ).

    An exact 0 is computed as the smallest normal number, so 0 gives finite values; every
    other x is exact (``expm1``: for tiny x, z ≈ log x and ldj ≈ −log x, subnormals included).
    """

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` ≥ 0 → ``(z (B, *shape), ldj (B,))``."""
        x = move_zero_inward(x)
        return softplus_inv(x), sum_except_batch(softplus_inv_log_derivative(x))

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)`` positive."""
        return softplus(z)


class Exp(_Elementwise):
    """z = eˣ, real → positive; ldj = Σ x."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        return torch.exp(x), sum_except_batch(x)

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` positive → ``(B, *shape)``; 0 is clamped to stay finite."""
        return torch.log(_finite_positive(z))


class Log(_Elementwise):
    """z = log x, positive → real; ldj = −Σ log x.

    An exact 0 is computed as the smallest normal number (log = −708 in float64, −87 in
    float32), so 0 gives finite values; every other x is exact (log 1e-300 = −690.8).
    """

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` ≥ 0 → ``(z (B, *shape), ldj (B,))``."""
        z = torch.log(move_zero_inward(x))
        return z, -sum_except_batch(z)

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)`` positive."""
        return torch.exp(z)
