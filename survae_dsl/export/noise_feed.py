"""Noise sources for exporting (``survae_dsl.nn.noise``): one that records the draws of a dry
run, and one that feeds given tensors in their place."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from ..nn.noise import DrawKind, NoiseSource, set_noise_source, torch_draw
from .errors import ExportError
from .locate import Site, calling_site

__all__ = ["Draw", "Feed", "Recorder", "noise_from"]


@dataclass(frozen=True)
class Draw:
    """One random draw of a dry run: ``shape`` is the whole shape, batch first; ``high`` the
    exclusive bound of an ``integers`` draw; ``site`` the layer that drew it."""

    kind: DrawKind
    shape: tuple[int, ...]
    dtype: torch.dtype
    high: int | None
    site: Site


class Recorder:
    """Draws from torch as the runtime would, and logs each draw with the layer that made it."""

    def __init__(self) -> None:
        self.draws: list[Draw] = []

    def draw(
        self,
        kind: DrawKind,
        size: tuple[int, ...],
        dtype: torch.dtype,
        high: int | None,
        generator: torch.Generator | None,
        device: torch.device,
    ) -> Tensor:
        """A real draw (``torch.rand``/``randn``/``randint`` of ``size``), logged."""
        value = torch_draw(kind, size, dtype, high, generator, device)
        self.draws.append(Draw(kind, tuple(value.shape), dtype, high, calling_site()))
        return value


class Feed:
    """Returns ``tensors`` in order, one per draw; each must have the draw's dtype and, past
    the batch axis (symbolic under export), its shape."""

    def __init__(self, tensors: Sequence[Tensor]) -> None:
        self.tensors = list(tensors)
        self.used = 0

    def draw(
        self,
        kind: DrawKind,
        size: tuple[int, ...],
        dtype: torch.dtype,
        high: int | None,
        generator: torch.Generator | None,
        device: torch.device,
    ) -> Tensor:
        """The next tensor of the feed, checked against the draw asked for."""
        if self.used >= len(self.tensors):
            raise ExportError(f"the model drew more than the {len(self.tensors)} noise inputs{_at(calling_site())}")
        value = self.tensors[self.used]
        self.used += 1
        if value.dtype != dtype or value.dim() != len(size) or tuple(value.shape[1:]) != size[1:]:
            raise ExportError(
                f"noise input {self.used - 1} is {value.dtype} {tuple(value.shape)} but the model drew "
                f"{kind} {dtype} (B, {', '.join(map(str, size[1:]))}){_at(calling_site())}"
            )
        return value

    def check_used_up(self) -> None:
        """Every tensor given was drawn (else the model draws fewer than it was exported with)."""
        if self.used != len(self.tensors):
            raise ExportError(f"{len(self.tensors)} noise inputs were given but the model drew {self.used}")


def _at(site: Site) -> str:
    return f" (at {site.describe()})" if site.layer is not None else ""


@contextmanager
def noise_from(source: NoiseSource) -> Iterator[None]:
    """Route the runtime's draws to ``source`` inside the block."""
    previous = set_noise_source(source)
    try:
        yield
    finally:
        set_noise_source(previous)
