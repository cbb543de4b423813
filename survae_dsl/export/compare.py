"""How far an exported program's outputs are from eager ones, and whether that is close enough."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Difference", "difference", "tolerance_for"]


@dataclass(frozen=True)
class Difference:
    """The largest differences over every output entry: ``absolute`` |a − e|, and ``scaled``
    |a − e| / max(1, |e|) (relative for large values, absolute near zero). Equal infinities
    (a −inf log-density on both sides) differ by 0; an infinity or nan on one side only, or
    any differing integer, makes both infinite. ``integers_differing`` counts differing
    entries of integer outputs (a draw of an ``int<K>`` input)."""

    absolute: float
    scaled: float
    integers_differing: int

    def within(self, tolerance: float) -> bool:
        return self.scaled <= tolerance and self.integers_differing == 0


def tolerance_for(dtype: torch.dtype) -> float:
    """The ``scaled`` difference accepted between an exported program and eager: different
    kernels round differently (fused or reordered sums), about 1e-5 relative in float32 over a
    deep flow; a hundred times the float's epsilon per output in float64."""
    return 1e-4 if dtype != torch.float64 else 1e-10


def _pair(exported: Tensor, eager: Tensor) -> tuple[float, float, int]:
    exported = exported.detach().cpu()
    eager = eager.detach().cpu()
    if exported.shape != eager.shape:
        return float("inf"), float("inf"), max(exported.numel(), eager.numel())
    if not eager.is_floating_point():
        differing = int((exported.to(eager.dtype) != eager).sum())
        return (float("inf"), float("inf"), differing) if differing else (0.0, 0.0, 0)
    a, e = exported.to(torch.float64), eager.to(torch.float64)
    same = (a == e) | (torch.isnan(a) & torch.isnan(e))
    gap = torch.where(same, torch.zeros_like(a), (a - e).abs())
    gap = torch.where(torch.isnan(gap), torch.full_like(gap, float("inf")), gap)
    scaled = gap / e.abs().clamp_min(1.0).nan_to_num(posinf=1.0)
    top = float(gap.max()) if gap.numel() else 0.0
    top_scaled = float(scaled.max()) if scaled.numel() else 0.0
    return top, top_scaled, 0


def difference(exported: Sequence[Tensor], eager: Sequence[Tensor]) -> Difference:
    """The differences of outputs given in the same order."""
    if len(exported) != len(eager):
        return Difference(float("inf"), float("inf"), 0)
    absolute, scaled, integers = 0.0, 0.0, 0
    for a, e in zip(exported, eager, strict=True):
        gap, gap_scaled, differing = _pair(a, e)
        absolute, scaled, integers = max(absolute, gap), max(scaled, gap_scaled), integers + differing
    return Difference(absolute, scaled, integers)
