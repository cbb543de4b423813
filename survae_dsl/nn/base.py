"""The runtime's protocols: transforms, distributions, and the numeric helpers they share.

Every tensor has a leading batch axis; ``shape`` always means the event shape after it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from .noise import draw_normal

__all__ = [
    "Distribution",
    "Kind",
    "Transform",
    "eps_for",
    "event_numel",
    "sum_except_batch",
]

Kind = Literal["bijective", "inference_surjective", "generative_surjective", "stochastic"]


def eps_for(dtype: torch.dtype) -> float:
    """A small floor per dtype: ``dequantize``'s margin at boundaries between cells and the
    least standard deviation of ``actnorm``'s data-dependent initialisation.

    1e-12 in float64 and 1e-6 in float32. Half precisions get their machine epsilon, since
    1e-6 would round away next to 1. It is not an edge clamp: maps with a singular edge move
    only the exact edge points (``functional.move_zero_inward``, ``move_one_inward``), since a
    clamp at eps would give every input below it eps's density (docs/language.md, What the checker enforces).
    """
    if dtype == torch.float64:
        return 1e-12
    if dtype == torch.float32:
        return 1e-6
    return float(torch.finfo(dtype).eps)


def event_numel(shape: tuple[int, ...]) -> int:
    """Number of entries in one example of event shape ``shape``."""
    count = 1
    for size in shape:
        count *= size
    return count


def sum_except_batch(x: Tensor) -> Tensor:
    """Sum ``(B, ...)`` over every axis but the first: ``(B,)``."""
    return x.reshape(x.shape[0], -1).sum(dim=1)


def _check_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Validate an event shape (positive int sizes) and return it as a tuple."""
    shape = tuple(shape)
    if not all(isinstance(size, int) and size > 0 for size in shape):
        raise ValueError(f"an event shape must be a tuple of positive ints, got {shape!r}")
    return shape


class _Anchored(nn.Module):
    """A module that knows its floating dtype and device even without parameters.

    The non-persistent ``_anchor`` buffer follows ``.to(dtype/device)`` and stays out of the
    ``state_dict``, so parameter-free layers produce outputs in the model's dtype.
    """

    _anchor: Tensor

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape: tuple[int, ...] = _check_shape(shape)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def _constant(self, batch: int, value: float) -> Tensor:
        """A ``(batch,)`` tensor filled with ``value`` in the module's dtype and device."""
        return torch.full((batch,), value, dtype=self._anchor.dtype, device=self._anchor.device)


class Transform(_Anchored):
    """A layer with an inference direction (``forward``) and a generative one (``inverse``).

    ``kind`` says which: ``bijective`` (exact both ways), ``inference_surjective`` (exact,
    random inverse), ``generative_surjective`` (random forward, lower bound) or
    ``stochastic``.
    """

    kind: ClassVar[Kind]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Map ``x`` ``(B, *shape)`` to ``(z, ldj)``; ``ldj`` ``(B,)`` is the likelihood
        contribution of this layer for each example."""
        raise NotImplementedError

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Map ``z`` back to ``x`` (generative direction); random for surjections."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Distribution(_Anchored):
    """A density on event shape ``shape``; ``context`` is accepted for a uniform signature."""

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Log-density of ``x`` ``(B, *shape)``, summed over the event: ``(B,)``."""
        raise NotImplementedError

    def sample(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw ``(num_samples, *shape)`` in the module's dtype and device."""
        raise NotImplementedError

    def sample_with_log_prob(
        self,
        num_samples: int,
        context: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Draw ``x`` ``(num_samples, *shape)`` and its log-density ``(num_samples,)``.

        The density is the untempered one, evaluated at the (possibly tempered) draw.
        """
        x = self.sample(num_samples, context, temperature=temperature, generator=generator)
        return x, self.log_prob(x, context)

    def _standard_normal(self, num_samples: int, generator: torch.Generator | None) -> Tensor:
        """``(num_samples, *shape)`` draws from N(0, 1) in the module's dtype and device."""
        anchor = self._anchor
        size = (num_samples, *self.shape)
        return draw_normal(size, generator=generator, dtype=anchor.dtype, device=anchor.device)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
