"""Unconditional base distributions over an event shape.

Learned parameters start at the standard point (N(0, 1), half-normal scale 1). ``context``
is accepted everywhere for a uniform signature and is unused by these families.
Temperature multiplies the standard deviation when sampling (uniform ignores it).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import Distribution, sum_except_batch

__all__ = ["HalfNormal", "Normal", "StandardNormal", "StandardUniform"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


def _normal_log_density(x: Tensor, loc: Tensor | float, log_scale: Tensor) -> Tensor:
    """Entrywise log N(x; loc, exp(log_scale)²), broadcasting the parameters."""
    standardized = (x - loc) * torch.exp(-log_scale)
    return -0.5 * standardized.square() - log_scale - _HALF_LOG_2PI


class StandardNormal(Distribution):
    """N(0, I) on ``shape``."""

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        return sum_except_batch(-0.5 * x.square() - _HALF_LOG_2PI)

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)`` from N(0, temperature²·I)."""
        return self._standard_normal(num_samples, generator) * temperature


class Normal(Distribution):
    """N(loc, diag(exp(log_scale))²) with learned ``loc`` and ``log_scale``, zero at start.

    ``per="element"``: parameters of shape ``shape``; ``per="channel"``: shape ``(C,)`` for
    channel axis 0, shared over the other axes.
    """

    def __init__(self, shape: tuple[int, ...], per: str = "element") -> None:
        super().__init__(shape)
        if per not in ("element", "channel"):
            raise ValueError(f"normal(per=...) must be 'element' or 'channel', got {per!r}")
        if per == "channel" and len(self.shape) == 0:
            raise ValueError("normal(per='channel') needs at least one event axis")
        self.per = per
        parameter_shape = self.shape if per == "element" else self.shape[:1]
        self.loc = nn.Parameter(torch.zeros(parameter_shape))
        self.log_scale = nn.Parameter(torch.zeros(parameter_shape))

    def _broadcast(self, parameter: Tensor) -> Tensor:
        """The parameter reshaped to broadcast against ``(B, *shape)``."""
        if self.per == "element":
            return parameter
        return parameter.reshape(self.shape[0], *([1] * (len(self.shape) - 1)))

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        loc, log_scale = self._broadcast(self.loc), self._broadcast(self.log_scale)
        return sum_except_batch(_normal_log_density(x, loc, log_scale))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)``: loc + temperature·scale·ε."""
        noise = self._standard_normal(num_samples, generator)
        scale = torch.exp(self._broadcast(self.log_scale))
        return self._broadcast(self.loc) + temperature * scale * noise

    def extra_repr(self) -> str:
        return f"shape={self.shape}, per={self.per!r}"


class HalfNormal(Distribution):
    """|N(0, σ²)| per entry on x ≥ 0, learned ``log_scale`` (zero: σ = 1).

    log p(x) = log 2 + log N(x; 0, σ) for x ≥ 0 and −inf for x < 0.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(shape)
        self.log_scale = nn.Parameter(torch.zeros(self.shape))

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        density = _LOG_2 + _normal_log_density(x, 0.0, self.log_scale)
        return sum_except_batch(torch.where(x >= 0, density, -math.inf))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)``: temperature·σ·|ε|."""
        noise = self._standard_normal(num_samples, generator).abs()
        return temperature * torch.exp(self.log_scale) * noise


class StandardUniform(Distribution):
    """U[0, 1] per entry: log p = 0 inside the closed unit cube, −inf outside."""

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B,)``."""
        inside = (x >= 0) & (x <= 1)
        zeros = torch.zeros_like(x, dtype=self._anchor.dtype)
        return sum_except_batch(torch.where(inside, zeros, -math.inf))

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(num_samples, *shape)`` from U[0, 1); ``temperature`` has no effect."""
        anchor = self._anchor
        size = (num_samples, *self.shape)
        return torch.rand(size, generator=generator, dtype=anchor.dtype, device=anchor.device)
