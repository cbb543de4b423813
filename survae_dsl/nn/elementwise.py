"""Elementwise bijections: fixed shift, scale, sigmoid, logit, exp, log, softplus(_inv); learned affine.

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
from torch import Tensor, nn

from .base import Kind, Transform, event_numel, sum_except_batch
from .functional import (
    log_sigmoid_derivative,
    move_one_inward,
    move_zero_inward,
    softplus,
    softplus_inv,
    softplus_inv_log_derivative,
)

__all__ = ["Affine", "Exp", "Log", "Logit", "Scale", "Shift", "Sigmoid", "Softplus", "SoftplusInv"]


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


Coefficient = float | tuple[float, ...]


def _coefficients(shape: tuple[int, ...], by: Coefficient, per: str, op: str) -> tuple[float, ...] | float:
    """``by`` as a float (one number for every entry) or a tuple with one number per entry
    (``per="element"``: ``numel(shape)`` numbers, row-major) or per entry of axis 0
    (``per="channel"``: ``shape[0]`` numbers, shared along the other axes)."""
    if isinstance(by, (int, float)):
        return float(by)
    values = tuple(float(v) for v in by)
    if per not in ("element", "channel"):
        raise ValueError(f"{op}(per=...) must be 'element' or 'channel', got {per!r}")
    want = event_numel(shape) if per == "element" else (shape[0] if shape else 1)
    if len(values) != want:
        raise ValueError(f"{op}(by=[...], per={per!r}) on shape {shape} needs {want} numbers, got {len(values)}")
    return values


def _per_shape(shape: tuple[int, ...], per: str) -> tuple[int, ...]:
    """The shape a per-element or per-channel coefficient is laid out in, broadcasting
    against ``(B, *shape)``: ``shape``, or ``(C, 1, ..., 1)``."""
    return shape if per == "element" else (shape[0], *([1] * (len(shape) - 1)))


class _ByMap(_Elementwise):
    """A fixed map with a number, or a vector of numbers (one per entry or channel)."""

    op: ClassVar[str] = ""

    def __init__(self, shape: tuple[int, ...], by: Coefficient, per: str = "element") -> None:
        super().__init__(shape)
        self.by = _coefficients(self.shape, by, per, self.op)
        self.per = per

    def _by(self, like: Tensor) -> Tensor | float:
        """``by`` as a float, or a tensor in ``like``'s dtype and device that broadcasts against
        ``(B, *shape)``; built from the Python numbers each call, so a float64 model uses them
        exactly (a stored float32 buffer would have rounded them)."""
        if isinstance(self.by, float):
            return self.by
        values = torch.tensor(self.by, dtype=like.dtype, device=like.device)
        return values.reshape(_per_shape(self.shape, self.per))

    def _positions(self) -> int:
        """How many entries share each number of a per-channel vector (1 per element)."""
        return 1 if self.per == "element" else event_numel(self.shape) // (self.shape[0] if self.shape else 1)

    def extra_repr(self) -> str:
        per = f", per={self.per!r}" if isinstance(self.by, tuple) else ""
        return f"shape={self.shape}, by={self.by}{per}"


class Shift(_ByMap):
    """z = x + by, ``by`` one number or one per entry (``per="element"``) or channel
    (``per="channel"``, axis 0); ldj = 0."""

    op = "shift"

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), zeros (B,))``."""
        return x + self._by(x), self._constant(x.shape[0], 0.0)

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``."""
        return z - self._by(z)


class Scale(_ByMap):
    """z = x·by (every number ≠ 0), ``by`` one number or one per entry or channel as for
    :class:`Shift`; ldj = Σ over entries of log|by| (D·log|by| for one number)."""

    op = "scale"

    def __init__(self, shape: tuple[int, ...], by: Coefficient, per: str = "element") -> None:
        super().__init__(shape, by, per)
        numbers = (self.by,) if isinstance(self.by, float) else self.by
        if any(v == 0 for v in numbers):
            raise ValueError("scale(by=0) is not invertible")
        if isinstance(self.by, float):
            self._ldj = event_numel(self.shape) * math.log(abs(self.by))
        else:
            self._ldj = self._positions() * math.fsum(math.log(abs(v)) for v in self.by)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        return x * self._by(x), self._constant(x.shape[0], self._ldj)

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``."""
        return z / self._by(z)


class Affine(Transform):
    """z = x·exp(log_scale) + shift with learned ``log_scale`` and ``shift``, one per entry
    (``per="element"``, shape ``shape``) or per channel (``per="channel"``, shape ``(C,)``
    along axis 0); both start at zero, so a fresh layer is the identity.
    ldj = Σ over entries of log_scale (per channel: positions · Σ_c log_scale_c)."""

    kind: ClassVar[Kind] = "bijective"

    def __init__(self, shape: tuple[int, ...], per: str = "element") -> None:
        super().__init__(shape)
        if per not in ("element", "channel"):
            raise ValueError(f"affine(per=...) must be 'element' or 'channel', got {per!r}")
        if per == "channel" and len(self.shape) == 0:
            raise ValueError("affine(per='channel') needs at least one event axis")
        self.per = per
        parameter_shape = self.shape if per == "element" else self.shape[:1]
        self.shift = nn.Parameter(torch.zeros(parameter_shape))
        self.log_scale = nn.Parameter(torch.zeros(parameter_shape))
        self._positions = 1 if per == "element" else event_numel(self.shape) // self.shape[0]

    def _broadcast(self, parameter: Tensor) -> Tensor:
        return parameter.reshape(_per_shape(self.shape, self.per))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), ldj (B,))``."""
        z = x * torch.exp(self._broadcast(self.log_scale)) + self._broadcast(self.shift)
        # repeat, not expand: callers may accumulate into the ldj in place.
        return z, (self.log_scale.sum() * self._positions).repeat(x.shape[0])

    def inverse(self, z: Tensor, context: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``."""
        return (z - self._broadcast(self.shift)) * torch.exp(-self._broadcast(self.log_scale))

    def extra_repr(self) -> str:
        return f"shape={self.shape}, per={self.per!r}"


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
