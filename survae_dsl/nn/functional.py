"""Numerically stable elementwise maps and their log-derivatives.

All functions act entrywise and keep the input's shape and dtype. They avoid ``log`` of a
computed ``exp`` (and the reverse) so that float64 results are accurate to rounding, and use
no data-dependent Python branches.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "SOFTPLUS_IDENTITY_OFFSET",
    "int_context",
    "log_sigmoid_derivative",
    "log_softplus",
    "move_one_inward",
    "move_zero_inward",
    "softplus",
    "softplus_inv",
    "softplus_inv_log_derivative",
]

# Below this, log(softplus(y)) = y - exp(y)/2 + O(exp(2y)) to float64 rounding; above it
# softplus(y) is far from underflow so its log is accurate.
_LOG_SOFTPLUS_SWITCH = -20.0


def move_zero_inward(x: Tensor) -> Tensor:
    """``x`` with its exact zeros (±0) replaced by the smallest positive normal number.

    This is the whole of the edge handling of ``log``, ``softplus_inv``, ``logit`` at 0 and
    ``sorted_to_real`` on ties: a single point carries no mass, so moving it keeps the
    density normalised, whereas a clamp at some epsilon would give a whole interval that
    value's density (docs/language.md, What the checker enforces, "clamps add no mass"). Every other input, subnormals
    included, is left as it is. The smallest *normal* number (``finfo.tiny``) rather than the
    next float after 0 (a subnormal): its reciprocal, which autograd forms for log x, is
    finite in every dtype (1/5e-324 overflows), and hardware that flushes subnormals to zero
    cannot turn it back into 0. ``torch.where`` on the exact point only: no data-dependent
    branch, and the gradient to ``x`` at a moved point is 0, never nan.
    """
    return torch.where(x == 0, torch.finfo(x.dtype).tiny, x)


def move_one_inward(x: Tensor) -> Tensor:
    """``x`` with its exact ones replaced by the largest float below 1, 1 − eps/2 (``logit``'s
    upper edge); see :func:`move_zero_inward`. No float lies between the two, so this is
    also the nearest interior value, and log(1 − x) = log(eps/2) stays finite."""
    return torch.where(x == 1, 1.0 - torch.finfo(x.dtype).eps / 2, x)


def softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)) without ``F.softplus``'s linear cut-off above 20 (which is inexact)."""
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))


def softplus_inv(y: Tensor) -> Tensor:
    """The inverse of :func:`softplus` for y > 0: y + log(1 − exp(−y)), via ``expm1``."""
    return y + torch.log(-torch.expm1(-y))


def softplus_inv_log_derivative(y: Tensor) -> Tensor:
    """log d/dy softplus_inv(y) = −log(1 − exp(−y)) for y > 0."""
    return -torch.log(-torch.expm1(-y))


def log_softplus(y: Tensor) -> Tensor:
    """log(softplus(y)), finite for every finite y (softplus itself underflows near −745).

    Both branches see clamped inputs so the unused one never produces inf or nan gradients.
    """
    low = torch.clamp(y, max=_LOG_SOFTPLUS_SWITCH)
    high = torch.clamp(y, min=_LOG_SOFTPLUS_SWITCH)
    asymptotic = low - 0.5 * torch.exp(low)
    return torch.where(y < _LOG_SOFTPLUS_SWITCH, asymptotic, torch.log(softplus(high)))


def int_context(x: Tensor, num_classes: int, dtype: torch.dtype | None = None) -> Tensor:
    """Integer data in {0, …, K−1} as a net input: (2x + 1)/K − 1, the cell centres in (−1, 1).

    Nets never see raw integers: this keeps their input centred and of order one whatever K
    is. ``dtype`` is the module's float dtype (callers pass their anchor's); by default it is
    ``x``'s own when floating, else torch's default. Same shape as ``x``.
    """
    if dtype is None:
        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    return (2.0 * x.to(dtype) + 1.0) / num_classes - 1.0


def log_sigmoid_derivative(x: Tensor) -> Tensor:
    """log σ'(x) = log σ(x) + log σ(−x)."""
    return F.logsigmoid(x) + F.logsigmoid(-x)


SOFTPLUS_IDENTITY_OFFSET = math.log(math.e - 1.0)
"""Offset c with softplus(c) = 1: shifting a raw scale by it makes a zero net the identity."""
