"""Shared helpers of the cross-check: randomising weights, explicit parameter transfer, reports."""

from __future__ import annotations

import os

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = os.path.join(HERE, "..", "..", "examples", "zoo")
# A checkout of didriknielsen/survae_flows (its root: the `survae` package and `experiments/`).
REFERENCE = os.environ.get("SURVAE_REFERENCE", "")


@dataclass(frozen=True)
class Pair:
    """One transferred parameter: reference name → our name, and how the tensor is mapped."""

    ref: str
    ours: str
    note: str = "copy"


def count(module: nn.Module) -> int:
    """Number of learnable scalars."""
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def randomise(module: nn.Module, seed: int, gain: float = 1.0, bias_std: float = 0.3) -> None:
    """Redraw every parameter so that no zero-initialised layer is trivially equal.

    Matrices/kernels get N(0, (gain/sqrt(fan_in))^2) (keeps deep nets' activations O(1)),
    vectors N(0, bias_std^2)."""
    gen = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        if p.dim() >= 2:
            fan_in = p[0].numel()
            std = gain / math.sqrt(fan_in)
        else:
            std = bias_std
        p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) * std)


@torch.no_grad()
def transfer(
    ref: nn.Module,
    ours: nn.Module,
    pairs: Sequence[Pair],
    maps: dict[str, Callable[[dict[str, Tensor]], Tensor]] | None = None,
) -> None:
    """Copy reference parameters into ours by the explicit ``pairs``.

    ``note == "copy"``: same shape, copied as is. Otherwise ``maps[ours]`` computes our tensor
    from the whole reference parameter dict (reparametrisations). Every parameter of ours must be
    written exactly once and every reference parameter read at least once."""
    rp = dict(ref.named_parameters())
    op = dict(ours.named_parameters())
    written: set[str] = set()
    read: set[str] = set()
    for pair in pairs:
        target = op[pair.ours]
        if pair.note == "copy":
            source = rp[pair.ref]
            if tuple(source.shape) != tuple(target.shape):
                raise ValueError(
                    f"shape mismatch {pair.ref} {tuple(source.shape)} -> {pair.ours} {tuple(target.shape)}"
                )
            target.copy_(source)
        else:
            assert maps is not None
            value = maps[pair.ours](rp)
            target.copy_(value.reshape(target.shape))
        if pair.ours in written:
            raise ValueError(f"{pair.ours} written twice")
        written.add(pair.ours)
        read.add(pair.ref)
    missing = set(op) - written
    unread = set(rp) - read
    if missing or unread:
        raise ValueError(f"unmapped: ours {sorted(missing)}, reference {sorted(unread)}")


def report(
    name: str, ours: nn.Module, ref: nn.Module, x: Tensor, lp_ours: Tensor, lp_ref: Tensor, extra: str = ""
) -> float:
    """Print counts, the batch, both log-probs and max |Δ|; returns max |Δ|."""
    diff = (lp_ours.double() - lp_ref.double()).abs()
    delta = diff.max().item()
    rel = (diff / lp_ref.double().abs().clamp(min=1.0)).max().item()
    print(f"== {name}")
    print(f"   parameters: ours {count(ours):,}  reference {count(ref):,}")
    print(f"   batch: shape {tuple(x.shape)} dtype {x.dtype}")
    if x.numel() <= 40:
        print(f"   x = {x.tolist()}")
    print(f"   log_prob ours {lp_ours.tolist()}")
    print(f"   log_prob ref  {lp_ref.tolist()}")
    print(f"   max |Δ log_prob| = {delta:.3e}  (max relative {rel:.3e})  {extra}")
    return delta
