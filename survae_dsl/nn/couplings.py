"""Coupling layers: one part of the tensor conditions an invertible map of the other."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Kind, Transform, sum_except_batch
from .functional import SOFTPLUS_IDENTITY_OFFSET, log_softplus, softplus

__all__ = ["AdditiveCoupling", "AffineCoupling", "LogisticMixtureCoupling", "checkerboard"]

_LOG_2 = math.log(2.0)
# The floor the SurVAE reference code adds to its sigmoid scale, σ(s + 2) + 1e-3.
_REF_SIGMOID_FLOOR = 1e-3
_LOG_REF_SIGMOID_FLOOR = math.log(_REF_SIGMOID_FLOOR)


def _tanh_exp(raw: Tensor) -> tuple[Tensor, Tensor]:
    """exp(2·tanh(s/2)): bounded in [e⁻², e²]; returns (scale, log scale)."""
    log_scale = 2.0 * torch.tanh(0.5 * raw)
    return torch.exp(log_scale), log_scale


def _exp(raw: Tensor) -> tuple[Tensor, Tensor]:
    """exp(s); returns (scale, log scale)."""
    return torch.exp(raw), raw


def _softplus(raw: Tensor) -> tuple[Tensor, Tensor]:
    """softplus(s + log(e − 1)), so s = 0 gives 1; returns (scale, log scale)."""
    shifted = raw + SOFTPLUS_IDENTITY_OFFSET
    return softplus(shifted), log_softplus(shifted)


def _sigmoid(raw: Tensor) -> tuple[Tensor, Tensor]:
    """2·sigmoid(s), in (0, 2) with s = 0 giving 1; returns (scale, log scale)."""
    log_scale = _LOG_2 + F.logsigmoid(raw)
    return torch.exp(log_scale), log_scale


def _sigmoid_ref(raw: Tensor) -> tuple[Tensor, Tensor]:
    """σ(s + 2) + 1e-3, the SurVAE reference code's sigmoid scale: in (1e-3, 1 + 1e-3), and
    σ(2) + 1e-3 ≈ 0.882 at s = 0 (not the identity). Returns (scale, log scale); the log is a
    logaddexp, finite however negative s is."""
    log_scale = torch.logaddexp(F.logsigmoid(raw + 2.0), torch.full_like(raw, _LOG_REF_SIGMOID_FLOOR))
    return torch.exp(log_scale), log_scale


def _softplus_plain(raw: Tensor) -> tuple[Tensor, Tensor]:
    """softplus(s), the SurVAE reference code's softplus scale: log 2 ≈ 0.693 at s = 0 (not the
    identity). Returns (scale, log scale)."""
    return softplus(raw), log_softplus(raw)


_SCALES: dict[str, Callable[[Tensor], tuple[Tensor, Tensor]]] = {
    "tanh_exp": _tanh_exp,
    "exp": _exp,
    "softplus": _softplus,
    "sigmoid": _sigmoid,
    "sigmoid_ref": _sigmoid_ref,
    "softplus_plain": _softplus_plain,
}


def _default_split(size: int, split: int | None) -> int:
    """The conditioning part's size: ⌈n/2⌉ by default, and 1 ≤ split < n always."""
    if size < 2:
        raise ValueError(f"a coupling needs at least 2 entries along its axis, got {size}")
    split = (size + 1) // 2 if split is None else split
    if not 1 <= split < size:
        raise ValueError(f"a coupling split must be in [1, {size - 1}] for size {size}: {split}")
    return split


def checkerboard(shape: tuple[int, ...], parity: int) -> Tensor:
    """The RealNVP checkerboard mask ``shape`` (bool) of a ``[C, L]`` or ``[C, H, W]`` tensor:
    True (the entry conditions, b = 1) where the sum of the spatial indices plus ``parity`` is
    even; the same pattern in every channel."""
    if len(shape) not in (2, 3) or parity not in (0, 1):
        raise ValueError(
            f"a checkerboard mask needs a [C, L] or [C, H, W] shape and parity 0 or 1, got {shape}, {parity}"
        )
    total = torch.zeros(shape[1:], dtype=torch.long)
    for axis, size in enumerate(shape[1:]):
        view = [1] * (len(shape) - 1)
        view[axis] = size
        total = total + torch.arange(size).reshape(view)
    return ((total + parity) % 2 == 0).expand(shape).clone()


class _Coupling(Transform):
    """Shared structure: split along ``dim``, condition the second part on the first.

    With ``mask="checkerboard"`` the parts are not a split but a checkerboard mask b over the
    spatial axes (RealNVP): the net reads x ⊙ b (the whole shape, zeros where b = 0) and gives
    numbers for every entry; only the entries with b = 0 are transformed, and only they add to
    the log-determinant. ``dim`` and ``split`` are unused then.
    """

    kind: ClassVar[Kind] = "bijective"
    keep: Tensor | None

    def __init__(
        self,
        shape: tuple[int, ...],
        net: nn.Module,
        dim: int,
        split: int | None,
        mask: str = "split",
        parity: int = 0,
    ) -> None:
        super().__init__(shape)
        if mask not in ("split", "checkerboard"):
            raise ValueError(f"unknown coupling mask {mask!r}; expected split or checkerboard")
        self.net = net
        self.mask = mask
        self.parity = parity
        if mask == "checkerboard":
            self.dim, self.split = 0, 0
            self.sizes = (0, 0)
            self.rest_shape: tuple[int, ...] = self.shape
            # Not persistent: the mask follows from the constructor's arguments, and keeping it
            # out of state_dict leaves the parameter names those of a split coupling.
            self.register_buffer("keep", checkerboard(self.shape, parity), persistent=False)
            return
        if not 0 <= dim < len(self.shape):
            raise ValueError(f"dim must be in [0, {len(self.shape) - 1}] for shape {self.shape}")
        self.keep = None
        self.dim = dim
        self.split = _default_split(self.shape[dim], split)
        self.sizes = (self.split, self.shape[dim] - self.split)
        rest = list(self.shape)
        rest[dim] -= self.split
        # The shape of the transformed part x_b, which the net's output is reshaped to.
        self.rest_shape = tuple(rest)

    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Split ``(B, *shape)`` into ``(B, ..split..)`` and ``(B, ..rest..)`` along ``dim``;
        with a checkerboard, (x ⊙ b, x), both ``(B, *shape)``."""
        if self.keep is not None:
            return x * self.keep.to(x.dtype), x
        first, second = torch.split(x, list(self.sizes), dim=self.dim + 1)
        return first, second

    def _join(self, first: Tensor, second: Tensor) -> Tensor:
        """Inverse of :meth:`_parts`: with a checkerboard, ``first`` where b = 1 (it equals
        x there) and the transformed ``second`` elsewhere."""
        if self.keep is not None:
            return torch.where(self.keep, first, second)
        return torch.cat([first, second], dim=self.dim + 1)

    def _total(self, log_derivative: Tensor) -> Tensor:
        """The ldj ``(B,)`` from per-entry log-derivatives of the transformed part: with a
        checkerboard only the entries with b = 0 count."""
        if self.keep is not None:
            log_derivative = torch.where(self.keep, torch.zeros_like(log_derivative), log_derivative)
        return sum_except_batch(log_derivative)

    def _condition(self, first: Tensor, context: Tensor | None) -> Tensor:
        """Net output for the conditioning part ``(B, *x_a shape)`` (and any context).

        The net keeps its own layout (flat for ``MLP``, channels first for convolutional
        nets); callers reshape it to ``(B, P, *x_b shape)``, which both layouts allow.
        """
        out: Tensor = self.net(first, context)  # a module call is typed Any
        return out

    def extra_repr(self) -> str:
        if self.keep is not None:
            return f"shape={self.shape}, mask='checkerboard', parity={self.parity}"
        return f"shape={self.shape}, dim={self.dim}, split={self.split}"


class AffineCoupling(_Coupling):
    """z_b = x_b·scale(s) + t with (s, t) = net(x_a [, context]); z_a = x_a.

    ``x``: ``(B, *shape)``; the net maps ``numel(x_a)`` (+ context) features to
    ``2·numel(x_b)`` values, read as ``(B, 2, *x_b shape)`` = (raw scale, shift). With
    ``mask="checkerboard"`` x_a is x ⊙ b and x_b all of x (see :class:`_Coupling`).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        net: nn.Module,
        dim: int = 0,
        split: int | None = None,
        scale: str = "tanh_exp",
        mask: str = "split",
        parity: int = 0,
    ) -> None:
        super().__init__(shape, net, dim, split, mask, parity)
        if scale not in _SCALES:
            choices = ", ".join(_SCALES)
            raise ValueError(f"unknown coupling scale {scale!r}; expected one of {choices}")
        self.scale = scale
        self._scale_fn = _SCALES[scale]

    def _scale_shift(self, first: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """(scale, log scale, shift), each ``(B, *x_b shape)``."""
        params = self._condition(first, context).reshape(first.shape[0], 2, *self.rest_shape)
        scale, log_scale = self._scale_fn(params[:, 0])
        return scale, log_scale, params[:, 1]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        first, second = self._parts(x)
        scale, log_scale, shift = self._scale_shift(first, context)
        return self._join(first, second * scale + shift), self._total(log_scale)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``; x_a = z_a conditions the same net."""
        first, second = self._parts(z)
        _, log_scale, shift = self._scale_shift(first, context)
        return self._join(first, (second - shift) * torch.exp(-log_scale))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale!r}"


class AdditiveCoupling(_Coupling):
    """z_b = x_b + net(x_a [, context]); volume preserving (ldj = 0).

    ``x``: ``(B, *shape)``; the net gives ``numel(x_b)`` values, read as ``(B, *x_b shape)``.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        net: nn.Module,
        dim: int = 0,
        split: int | None = None,
        mask: str = "split",
        parity: int = 0,
    ) -> None:
        super().__init__(shape, net, dim, split, mask, parity)

    def _shift(self, first: Tensor, context: Tensor | None) -> Tensor:
        """The shift ``(B, *x_b shape)``."""
        return self._condition(first, context).reshape(first.shape[0], *self.rest_shape)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), zeros (B,))``."""
        first, second = self._parts(x)
        z = self._join(first, second + self._shift(first, context))
        return z, self._constant(x.shape[0], 0.0)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``."""
        first, second = self._parts(z)
        return self._join(first, second - self._shift(first, context))


# Flow++ clamps the components' log-scales from below (Ho et al. 2019, their code): a
# component narrower than e⁻⁷ makes the CDF a near-step that no float resolves.
MIN_LOG_SCALE = -7.0
# Bisection steps of the inverse: each halves the bracket, so the error is at most its width
# times 2⁻⁶⁴ (below float64 resolution for any width under ~10³ times the value).
BISECTION_STEPS = 64


def mixture_logit_cdf(x: Tensor, logits: Tensor, means: Tensor, log_scales: Tensor) -> tuple[Tensor, Tensor]:
    """y = logit F(x), F the CDF of a mixture of K logistics, and log dy/dx, entrywise.

    ``x`` ``(...)``; ``logits``, ``means``, ``log_scales`` ``(..., K)`` (unnormalised weights;
    log-scales already clamped). log F and log(1 − F) are log-sum-exps of log-sigmoids, so y
    stays finite and exact far in both tails, where F itself rounds to 0 or 1.
    dy/dx = f / (F (1 − F)) with f the mixture's density.
    """
    log_weights = torch.log_softmax(logits, dim=-1)
    u = (x.unsqueeze(-1) - means) * torch.exp(-log_scales)
    below, above = F.logsigmoid(u), F.logsigmoid(-u)
    log_cdf = torch.logsumexp(log_weights + below, dim=-1)
    log_survival = torch.logsumexp(log_weights + above, dim=-1)
    log_density = torch.logsumexp(log_weights + below + above - log_scales, dim=-1)
    return log_cdf - log_survival, log_density - log_cdf - log_survival


def mixture_logit_cdf_inverse(y: Tensor, logits: Tensor, means: Tensor, log_scales: Tensor) -> Tensor:
    """The x with logit F(x) = y, by :data:`BISECTION_STEPS` steps of bisection.

    The bracket holds the root: at the smallest component quantile q = min_k (μ_k + s_k·y)
    every component's CDF is at most σ(y), so F(q) ≤ σ(y), and likewise F ≥ σ(y) at the
    largest. A fixed number of steps keeps the loop free of data-dependent branches.
    """
    quantiles = means + torch.exp(log_scales) * y.unsqueeze(-1)
    low, high = quantiles.min(dim=-1).values, quantiles.max(dim=-1).values
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        below = mixture_logit_cdf(middle, logits, means, log_scales)[0] < y
        low, high = torch.where(below, middle, low), torch.where(below, high, middle)
    return 0.5 * (low + high)


class LogisticMixtureCoupling(_Coupling):
    """Flow++'s coupling (Ho et al. 2019): z_b = logit(F(x_b)) · scale(a) + t.

    F is the CDF of a mixture of ``components`` logistics with weights, means and log-scales
    from the net; scale(a) = exp(2·tanh(a/2)) (a bounded log-scale, like Flow++'s rescaled
    tanh). ``x``: ``(B, *shape)``; the net gives ``(3K + 2)·numel(x_b)`` values, read as
    ``(B, 3K + 2, *x_b shape)`` = (K logits, K means, K log-scales, raw scale, shift) per
    transformed entry. A zero net output is the identity (equal logistics at 0 with scale 1:
    F = σ). The inverse solves F(x) = σ(y) by bisection (:func:`mixture_logit_cdf_inverse`).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        net: nn.Module,
        components: int = 4,
        dim: int = 0,
        split: int | None = None,
        mask: str = "split",
        parity: int = 0,
    ) -> None:
        super().__init__(shape, net, dim, split, mask, parity)
        if components < 1:
            raise ValueError(f"a logistic mixture needs at least 1 component, got {components}")
        self.components = components

    def _mixture(self, first: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """(logits, means, log-scales ``(B, *x_b shape, K)``, raw scale, shift ``(B, *x_b shape)``)."""
        k = self.components
        params = self._condition(first, context).reshape(first.shape[0], 3 * k + 2, *self.rest_shape)
        params = torch.movedim(params, 1, -1)
        logits, means, log_scales, raw, shift = torch.split(params, [k, k, k, 1, 1], dim=-1)
        log_scales = torch.clamp(log_scales, min=MIN_LOG_SCALE)
        return logits, means, log_scales, raw.squeeze(-1), shift.squeeze(-1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        first, second = self._parts(x)
        logits, means, log_scales, raw, shift = self._mixture(first, context)
        y, log_derivative = mixture_logit_cdf(second, logits, means, log_scales)
        scale, log_scale = _tanh_exp(raw)
        return self._join(first, y * scale + shift), self._total(log_derivative + log_scale)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``; x_a = z_a conditions the same net, then bisection."""
        first, second = self._parts(z)
        logits, means, log_scales, raw, shift = self._mixture(first, context)
        _, log_scale = _tanh_exp(raw)
        y = (second - shift) * torch.exp(-log_scale)
        return self._join(first, mixture_logit_cdf_inverse(y, logits, means, log_scales))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, components={self.components}"
