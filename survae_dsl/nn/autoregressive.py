"""Autoregressive flows (Kingma et al. 2016; Papamakarios et al. 2017; Durkan et al. 2019).

Each feature d goes through a monotone map whose parameters an autoregressive net (``MADE``)
computes from the features before d. With ``direction="forward"`` (MAF) the net reads x:
inference is one pass and sampling takes D passes. With ``direction="inverse"`` (IAF) the
net reads z: sampling is one pass and inference (log_prob) takes D passes.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .base import Kind, Transform, sum_except_batch
from .couplings import _SCALES
from .splines import rational_quadratic_spline

__all__ = ["AffineAutoregressive", "SplineAutoregressive"]

DIRECTIONS = ("forward", "inverse")


class _Autoregressive(Transform):
    """Shared structure: ``(B, D)`` features, a net giving ``P`` numbers per feature, and an
    elementwise map f(v; θ) with its log-derivative (:meth:`_map`).

    forward (MAF): z = f(x; θ(x)), ldj = Σ log f'. inverse (IAF): x = f(z; θ(z)), so
    z = f⁻¹(x; θ(z)) and ldj = −Σ log f' at z.
    """

    kind: ClassVar[Kind] = "bijective"

    def __init__(self, shape: tuple[int, ...], net: nn.Module, per_feature: int, direction: str) -> None:
        super().__init__(shape)
        if len(self.shape) != 1:
            raise ValueError(f"an autoregressive layer needs a vector shape (D,), got {self.shape}")
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown autoregressive direction {direction!r}; expected forward or inverse")
        self.net = net
        self.per_feature = per_feature
        self.direction = direction

    def _params(self, v: Tensor, context: Tensor | None) -> Tensor:
        """The net's numbers for ``v`` ``(B, D)``: ``(B, P, D)``, parameter-major as MADE gives them."""
        out: Tensor = self.net(v, context)  # a module call is typed Any
        return out.reshape(v.shape[0], self.per_feature, self.shape[0])

    def _map(self, v: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        """f(v; θ) (or f⁻¹), and log f' ``(B, D)`` (at the input of f in both cases)."""
        raise NotImplementedError

    def _sequential(self, target: Tensor, context: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
        """Solve v = map(target; θ(v)) in D passes; returns (v, log f' of the last pass).

        After pass d, entries 0..d are exact: their parameters read only entries before them,
        which an earlier pass already fixed. Recomputing every entry keeps each pass free of
        in-place writes.
        """
        v = torch.zeros_like(target)
        log_derivative = torch.zeros_like(target)
        for _ in range(self.shape[0]):
            v, log_derivative = self._map(target, self._params(v, context), inverse)
        return v, log_derivative

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, D)`` → ``(z (B, D), ldj (B,))``; the Jacobian is triangular. One pass for
        MAF, D passes for IAF."""
        if self.direction == "forward":
            z, log_derivative = self._map(x, self._params(x, context), inverse=False)
            return z, sum_except_batch(log_derivative)
        z, log_derivative = self._sequential(x, context, inverse=True)
        return z, -sum_except_batch(log_derivative)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, D)`` → ``(B, D)``: D passes for MAF, one for IAF."""
        if self.direction == "forward":
            return self._sequential(z, context, inverse=True)[0]
        return self._map(z, self._params(z, context), inverse=False)[0]


class AffineAutoregressive(_Autoregressive):
    """f(v) = v·scale(s_d) + t_d with (s_d, t_d) from the features before d (and the context).

    ``x``: ``(B, D)``; the net (a ``MADE`` with ``params_per_feature=2``) gives ``(B, 2·D)``,
    read as ``(B, 2, D)`` = (raw scale, shift). Scale choices are the couplings'; with the
    default ones scale(0) = 1, so a zero net output is the identity. ``direction`` as in
    :class:`_Autoregressive`.
    """

    def __init__(
        self, shape: tuple[int, ...], net: nn.Module, scale: str = "tanh_exp", direction: str = "forward"
    ) -> None:
        super().__init__(shape, net, 2, direction)
        if scale not in _SCALES:
            choices = ", ".join(_SCALES)
            raise ValueError(f"unknown autoregressive scale {scale!r}; expected one of {choices}")
        self.scale = scale
        self._scale_fn = _SCALES[scale]

    def _map(self, v: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        scale, log_scale = self._scale_fn(params[:, 0])
        if inverse:
            return (v - params[:, 1]) * torch.exp(-log_scale), log_scale
        return v * scale + params[:, 1], log_scale

    def extra_repr(self) -> str:
        return f"shape={self.shape}, scale={self.scale!r}, direction={self.direction!r}"


class SplineAutoregressive(_Autoregressive):
    """NSF-AR: f = a rational-quadratic spline on [−bound, bound] (identity tails) per feature.

    ``x``: ``(B, D)``; the net (a ``MADE`` with ``params_per_feature=3·bins − 1``) gives
    ``(B, (3·bins − 1)·D)``, read as ``(B, 3·bins − 1, D)`` = (bins unnormalised widths, bins
    unnormalised heights, bins − 1 raw interior derivatives), as in ``SplineCoupling``. A zero
    net output is the identity.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        net: nn.Module,
        bins: int = 8,
        bound: float = 3.0,
        direction: str = "forward",
    ) -> None:
        if bins < 2:
            raise ValueError(f"a spline needs at least 2 bins, got {bins}")
        if not bound > 0:
            raise ValueError(f"a spline bound must be positive, got {bound}")
        super().__init__(shape, net, 3 * bins - 1, direction)
        self.bins = bins
        self.bound = float(bound)

    def _map(self, v: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        # Parameters last, so each feature's spline is a row for gather.
        widths, heights, derivatives = torch.split(
            torch.movedim(params, 1, -1), [self.bins, self.bins, self.bins - 1], dim=-1
        )
        return rational_quadratic_spline(v, widths, heights, derivatives, self.bound, inverse=inverse)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, bins={self.bins}, bound={self.bound}, direction={self.direction!r}"
