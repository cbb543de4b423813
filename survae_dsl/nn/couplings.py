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

__all__ = ["AdditiveCoupling", "AffineCoupling"]

_LOG_2 = math.log(2.0)


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


_SCALES: dict[str, Callable[[Tensor], tuple[Tensor, Tensor]]] = {
    "tanh_exp": _tanh_exp,
    "exp": _exp,
    "softplus": _softplus,
    "sigmoid": _sigmoid,
}


def _default_split(size: int, split: int | None) -> int:
    """The conditioning part's size: ⌈n/2⌉ by default, and 1 ≤ split < n always."""
    if size < 2:
        raise ValueError(f"a coupling needs at least 2 entries along its axis, got {size}")
    split = (size + 1) // 2 if split is None else split
    if not 1 <= split < size:
        raise ValueError(f"a coupling split must be in [1, {size - 1}] for size {size}: {split}")
    return split


class _Coupling(Transform):
    """Shared structure: split along ``dim``, condition the second part on the first."""

    kind: ClassVar[Kind] = "bijective"

    def __init__(self, shape: tuple[int, ...], net: nn.Module, dim: int, split: int | None) -> None:
        super().__init__(shape)
        if not 0 <= dim < len(self.shape):
            raise ValueError(f"dim must be in [0, {len(self.shape) - 1}] for shape {self.shape}")
        self.net = net
        self.dim = dim
        self.split = _default_split(self.shape[dim], split)
        self.sizes: tuple[int, int] = (self.split, self.shape[dim] - self.split)
        rest = list(self.shape)
        rest[dim] -= self.split
        # The shape of the transformed part x_b, which the net's output is reshaped to.
        self.rest_shape: tuple[int, ...] = tuple(rest)

    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Split ``(B, *shape)`` into ``(B, ..split..)`` and ``(B, ..rest..)`` along ``dim``."""
        first, second = torch.split(x, list(self.sizes), dim=self.dim + 1)
        return first, second

    def _join(self, first: Tensor, second: Tensor) -> Tensor:
        """Inverse of :meth:`_parts`."""
        return torch.cat([first, second], dim=self.dim + 1)

    def _condition(self, first: Tensor, context: Tensor | None) -> Tensor:
        """Net output for the conditioning part ``(B, *x_a shape)`` (and any context).

        The net keeps its own layout (flat for ``MLP``, channels first for convolutional
        nets); callers reshape it to ``(B, P, *x_b shape)``, which both layouts allow.
        """
        out: Tensor = self.net(first, context)  # a module call is typed Any
        return out

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dim={self.dim}, split={self.split}"


class AffineCoupling(_Coupling):
    """z_b = x_b·scale(s) + t with (s, t) = net(x_a [, context]); z_a = x_a.

    ``x``: ``(B, *shape)``; the net maps ``numel(x_a)`` (+ context) features to
    ``2·numel(x_b)`` values, read as ``(B, 2, *x_b shape)`` = (raw scale, shift).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        net: nn.Module,
        dim: int = 0,
        split: int | None = None,
        scale: str = "tanh_exp",
    ) -> None:
        super().__init__(shape, net, dim, split)
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
        return self._join(first, second * scale + shift), sum_except_batch(log_scale)

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
    ) -> None:
        super().__init__(shape, net, dim, split)

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
