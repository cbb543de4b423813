"""Every random draw of the runtime goes through one of three functions here.

Layers never call ``torch.rand``, ``torch.randn`` or ``torch.randint`` themselves; they call
:func:`draw_uniform`, :func:`draw_normal` or :func:`draw_integers`. With no noise source set
(the normal case) these call torch with the same arguments the layers used to pass, so a
seeded stream gives the same draws as before.

A **noise source** set with :func:`set_noise_source` takes every draw instead. Exporting uses
it (``survae_dsl.export``): a dry run records each draw's shape and the layer that asked for
it, and the traced run returns, in order, tensors that are inputs of the exported program.
That is what keeps an exported program's batch size symbolic (``torch.rand(x.shape)`` would
bake the traced batch into the graph) and makes the program a function of its inputs alone.

The source is a module global rather than a context variable: ``torch.compile`` guards on a
global and traces through it, so the eager path stays compilable. Every draw is ``(B, ...)``,
batch first. Standard library and torch only (``--standalone`` copies this module).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import torch
from torch import Tensor

__all__ = [
    "DrawKind",
    "NoiseSource",
    "draw_integers",
    "draw_normal",
    "draw_uniform",
    "noise_source",
    "set_noise_source",
    "torch_draw",
]

DrawKind = Literal["uniform", "normal", "integers"]


class NoiseSource(Protocol):
    """Takes the runtime's draws while set (see the module docstring)."""

    def draw(
        self,
        kind: DrawKind,
        size: tuple[int, ...],
        dtype: torch.dtype,
        high: int | None,
        generator: torch.Generator | None,
        device: torch.device,
    ) -> Tensor:
        """A ``size`` tensor of ``dtype``: U[0, 1) entries (``uniform``), N(0, 1) entries
        (``normal``) or integers in {0, …, high − 1} (``integers``)."""
        ...


_source: NoiseSource | None = None


def set_noise_source(source: NoiseSource | None) -> NoiseSource | None:
    """Route every draw to ``source`` (None: draw from torch again); returns the previous one."""
    global _source
    previous = _source
    _source = source
    return previous


def noise_source() -> NoiseSource | None:
    """The noise source now set, or None."""
    return _source


def torch_draw(
    kind: DrawKind,
    size: tuple[int, ...],
    dtype: torch.dtype,
    high: int | None,
    generator: torch.Generator | None,
    device: torch.device,
) -> Tensor:
    """The draw itself, from torch: what every draw is when no source is set (and what a source
    that only watches the draws calls)."""
    if kind == "uniform":
        return torch.rand(size, generator=generator, dtype=dtype, device=device)
    if kind == "normal":
        return torch.randn(size, generator=generator, dtype=dtype, device=device)
    assert high is not None  # integer draws always carry their bound
    return torch.randint(0, high, size, generator=generator, dtype=dtype, device=device)


def _draw(
    kind: DrawKind,
    size: tuple[int, ...],
    dtype: torch.dtype,
    high: int | None,
    generator: torch.Generator | None,
    device: torch.device,
) -> Tensor:
    """A draw from the source set, else from torch."""
    if _source is not None:
        return _source.draw(kind, size, dtype, high, generator, device)
    return torch_draw(kind, size, dtype, high, generator, device)


def draw_uniform(
    size: Sequence[int], *, generator: torch.Generator | None, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """``size`` entries from U[0, 1), as ``torch.rand``."""
    return _draw("uniform", tuple(size), dtype, None, generator, device)


def draw_normal(
    size: Sequence[int], *, generator: torch.Generator | None, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """``size`` entries from N(0, 1), as ``torch.randn``."""
    return _draw("normal", tuple(size), dtype, None, generator, device)


def draw_integers(
    high: int,
    size: Sequence[int],
    *,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device,
) -> Tensor:
    """``size`` uniform integers in {0, …, high − 1} stored as ``dtype``, as ``torch.randint``."""
    return _draw("integers", tuple(size), dtype, high, generator, device)
