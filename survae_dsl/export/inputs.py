"""Example values of declared tensor types: the batches a dry run, a trace and a check use."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..types import TensorType

__all__ = ["example_value"]


def example_value(declared: TensorType, batch: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    """``(batch, *shape)`` values inside ``declared``'s domain: uniform integers of ``int<K>``
    (``long``); for a continuous domain, floats of ``dtype`` spread over it (normal draws on
    the real line, exponential ones above a finite lower end, mirrored below a finite upper
    end, uniform inside a finite interval, never on an end)."""
    size = (batch, *declared.shape)
    domain = declared.domain
    if domain.is_discrete:
        return torch.randint(0, domain.classes, size, generator=generator)
    lo, hi = domain.lo, domain.hi
    if math.isfinite(lo) and math.isfinite(hi):
        u = torch.rand(size, generator=generator, dtype=torch.float64)
        return (lo + (hi - lo) * (0.02 + 0.96 * u)).to(dtype)
    if math.isfinite(lo):
        return (lo + 0.01 + torch.empty(size, dtype=torch.float64).exponential_(generator=generator)).to(dtype)
    if math.isfinite(hi):
        return (hi - 0.01 - torch.empty(size, dtype=torch.float64).exponential_(generator=generator)).to(dtype)
    return torch.randn(size, generator=generator, dtype=dtype)
