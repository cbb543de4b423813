"""Rational-quadratic spline coupling (Durkan et al. 2019, "Neural Spline Flows").

Inside ``[−bound, bound]`` each transformed entry goes through a monotone rational-quadratic
spline with ``bins`` bins whose knots and interior derivatives come from the net; outside it
the map is the identity. The boundary derivatives are fixed at 1, so the map and its first
derivative are continuous at ``±bound``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .couplings import _Coupling
from .functional import SOFTPLUS_IDENTITY_OFFSET, softplus

__all__ = ["SplineCoupling", "rational_quadratic_spline"]

# Floors on the bins' relative sizes and on the knot derivatives: they keep the slopes h/w
# and the derivatives away from 0 and ∞, so the map and its inverse stay well conditioned
# whatever the net outputs. With many bins the size floor shrinks to half an equal share.
MIN_BIN_SIZE = 1e-3
MIN_DERIVATIVE = 1e-3


def _min_bin_size(bins: int) -> float:
    """The floor on each bin's fraction of ``[−bound, bound]``: below 1/bins, so it fits."""
    return min(MIN_BIN_SIZE, 0.5 / bins)


def _knots(raw: Tensor, bound: float, minimum: float) -> tuple[Tensor, Tensor]:
    """Knot positions ``(..., K + 1)`` on ``[−bound, bound]`` and bin sizes ``(..., K)``.

    ``raw`` ``(..., K)`` are unnormalised sizes: a softmax with a floor of ``minimum`` per
    bin, so zeros give K equal bins. The end knots are set to ``±bound`` exactly, so the
    spline meets the identity tails without a rounding gap.
    """
    bins = raw.shape[-1]
    fractions = minimum + (1.0 - minimum * bins) * torch.softmax(raw, dim=-1)
    inner = torch.cumsum(fractions[..., :-1], dim=-1) * (2.0 * bound) - bound
    edge = torch.full_like(inner[..., :1], bound)
    knots = torch.cat([-edge, inner, edge], dim=-1)
    return knots, knots[..., 1:] - knots[..., :-1]


def _derivatives(raw: Tensor) -> Tensor:
    """Knot derivatives ``(..., K + 1)`` from the ``K − 1`` raw interior ones; the ends are 1.

    softplus is shifted so that a raw 0 gives 1 (to rounding): with equal bins that makes a
    zero net output the identity map.
    """
    interior = MIN_DERIVATIVE + (1.0 - MIN_DERIVATIVE) * softplus(raw + SOFTPLUS_IDENTITY_OFFSET)
    return F.pad(interior, (1, 1), value=1.0)


def _bin_index(value: Tensor, knots: Tensor) -> Tensor:
    """Index ``(...)`` of the bin holding ``value`` ``(...)`` (clamped into the knots' range).

    Counting the interior knots at or below the value: branch-free, so it compiles, and
    a value at or past an end knot lands in the end bin.
    """
    return torch.sum(value.unsqueeze(-1) >= knots[..., 1:-1], dim=-1)


def _take(table: Tensor, index: Tensor) -> Tensor:
    """``table[..., index]`` entrywise: ``(..., n)`` and ``(...)`` → ``(...)``."""
    return torch.gather(table, -1, index.unsqueeze(-1)).squeeze(-1)


def rational_quadratic_spline(
    x: Tensor,
    widths: Tensor,
    heights: Tensor,
    derivatives: Tensor,
    bound: float,
    inverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """Apply the spline (or its inverse) entrywise, with identity tails outside ``±bound``.

    ``x`` ``(...)``; ``widths`` and ``heights`` ``(..., K)`` unnormalised; ``derivatives``
    ``(..., K − 1)`` raw interior derivatives. Returns the image and log|dy/dx| ``(...)`` of
    the forward map (at the input for ``inverse=False``, at the output otherwise).
    """
    inside = (x >= -bound) & (x <= bound)
    # Clamping keeps the unused branch finite outside, so no nan reaches the gradients.
    value = torch.clamp(x, -bound, bound)
    minimum = _min_bin_size(widths.shape[-1])
    x_knots, bin_widths = _knots(widths, bound, minimum)
    y_knots, bin_heights = _knots(heights, bound, minimum)
    slopes = _derivatives(derivatives)
    index = _bin_index(value, y_knots if inverse else x_knots)
    x0, width = _take(x_knots, index), _take(bin_widths, index)
    y0, height = _take(y_knots, index), _take(bin_heights, index)
    d0, d1 = _take(slopes, index), _take(slopes, index + 1)
    slope = height / width
    if inverse:
        xi = _solve_xi(value - y0, height, slope, d0, d1)
        out = x0 + xi * width
    else:
        xi = (value - x0) / width
        out = y0 + height * (slope * xi**2 + d0 * xi * (1.0 - xi)) / _denominator(xi, slope, d0, d1)
    log_derivative = _log_derivative(xi, slope, d0, d1)
    return torch.where(inside, out, x), torch.where(inside, log_derivative, torch.zeros_like(x))


def _denominator(xi: Tensor, slope: Tensor, d0: Tensor, d1: Tensor) -> Tensor:
    """s + (d₀ + d₁ − 2s)·ξ(1 − ξ): positive for ξ in [0, 1]."""
    return slope + (d0 + d1 - 2.0 * slope) * xi * (1.0 - xi)


def _log_derivative(xi: Tensor, slope: Tensor, d0: Tensor, d1: Tensor) -> Tensor:
    """log dy/dx = log s² (d₁ξ² + 2sξ(1 − ξ) + d₀(1 − ξ)²) − 2 log(denominator)."""
    numerator = d1 * xi**2 + 2.0 * slope * xi * (1.0 - xi) + d0 * (1.0 - xi) ** 2
    return 2.0 * torch.log(slope) + torch.log(numerator) - 2.0 * torch.log(_denominator(xi, slope, d0, d1))


def _solve_xi(rise: Tensor, height: Tensor, slope: Tensor, d0: Tensor, d1: Tensor) -> Tensor:
    """The root ξ in [0, 1] of the bin's quadratic a ξ² + b ξ + c = 0 for a rise y − y₀.

    Written as 2c / (−b − √(b² − 4ac)): the textbook (−b + √…)/2a cancels catastrophically
    as the rise goes to 0 and divides by a ≈ 0 when the bin is nearly linear.
    """
    curvature = d0 + d1 - 2.0 * slope
    a = height * (slope - d0) + rise * curvature
    b = height * d0 - rise * curvature
    c = -slope * rise
    discriminant = torch.clamp(b**2 - 4.0 * a * c, min=0.0)
    return 2.0 * c / (-b - torch.sqrt(discriminant))


class SplineCoupling(_Coupling):
    """z_b = spline(x_b; θ) with θ = net(x_a [, context]); z_a = x_a.

    ``x``: ``(B, *shape)``; the net gives ``(3·bins − 1)·numel(x_b)`` values, read as
    ``(B, 3·bins − 1, *x_b shape)`` = (bins unnormalised widths, bins unnormalised heights,
    bins − 1 raw interior derivatives) per transformed entry. A zero net output gives equal
    bins and unit derivatives: the identity.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        net: nn.Module,
        bins: int = 8,
        bound: float = 3.0,
        dim: int = 0,
        split: int | None = None,
        mask: str = "split",
        parity: int = 0,
    ) -> None:
        super().__init__(shape, net, dim, split, mask, parity)
        if bins < 2:
            # One bin with unit end derivatives is always the identity: surely a mistake.
            raise ValueError(f"a spline needs at least 2 bins, got {bins}")
        if not bound > 0:
            raise ValueError(f"a spline bound must be positive, got {bound}")
        self.bins = bins
        self.bound = float(bound)

    def _spline(self, first: Tensor, second: Tensor, context: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
        """Transform ``second`` ``(B, *x_b shape)`` given ``first``; returns (image, log|dy/dx|)."""
        params = self._condition(first, context).reshape(first.shape[0], 3 * self.bins - 1, *self.rest_shape)
        # Parameters last, so each entry's spline is a row for gather.
        params = torch.movedim(params, 1, -1)
        widths, heights, derivatives = torch.split(params, [self.bins, self.bins, self.bins - 1], dim=-1)
        return rational_quadratic_spline(second, widths, heights, derivatives, self.bound, inverse=inverse)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        first, second = self._parts(x)
        out, log_derivative = self._spline(first, second, context, inverse=False)
        return self._join(first, out), self._total(log_derivative)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``; x_a = z_a conditions the same net."""
        first, second = self._parts(z)
        out, _ = self._spline(first, second, context, inverse=True)
        return self._join(first, out)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, bins={self.bins}, bound={self.bound}"
