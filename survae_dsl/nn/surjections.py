"""Surjective layers. Inference-surjective (exact): ``abs``, ``max_pool``, ``sort``, ``slice``;
generative-surjective (lower bound): ``dequantize``, ``augment``.

Their ``ldj`` is the layer's likelihood contribution (SurVAE Flows, Nielsen et al. 2020). For
an inference surjection z = f(x) it is log p(x | z), the density of what ``forward`` forgets
given what it keeps (a sign, the position of a maximum and the gaps below it, an ordering, a
dropped part). For a generative surjection x = f(z) it is the one-sample variational term
−log q(z | x) for the noise ``forward`` draws, plus the volume change of the map.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Distribution, Kind, Transform, eps_for, event_numel, sum_except_batch
from .distributions import HalfNormal, StandardNormal
from .functional import int_context, move_one_inward, move_zero_inward
from .noise import draw_integers, draw_uniform
from .ordered import _Ordered, gather_along, random_order

__all__ = ["Abs", "Augment", "Dequantize", "MaxPool", "Slice", "Sort"]

_SIGNS = ("uniform", "learned")


def _check_axis(shape: tuple[int, ...], dim: int) -> None:
    """``dim`` must index an event axis of ``shape``."""
    if not 0 <= dim < len(shape):
        raise ValueError(f"dim must be in [0, {len(shape) - 1}] for shape {shape}, got {dim}")


def _check_event_shape(role: str, module: nn.Module, expected: tuple[int, ...]) -> None:
    """An encoder or decoder must model exactly the tensor it is given.

    Modules without a ``shape`` (a compiled model used as a distribution) are not checked.
    """
    shape = getattr(module, "shape", None)
    if shape is not None and tuple(shape) != expected:
        raise ValueError(f"the {role} must have event shape {expected}, got {tuple(shape)}")


def _resized(shape: tuple[int, ...], dim: int, size: int) -> tuple[int, ...]:
    """``shape`` with axis ``dim`` set to ``size``."""
    return shape[:dim] + (size,) + shape[dim + 1 :]


class Abs(Transform):
    """z = |x|; the contribution is log p(sign | z).

    ``sign="uniform"``: each sign is ±1 with probability 1/2, contribution −D·log 2.
    ``sign="learned"``: ``net(|x|)`` gives ``(B, D)`` logits ℓ (read as ``(B, *shape)``) and
    p(s = +1 | z) = σ(ℓ), so the contribution is Σ log σ(s·ℓ) with s = +1 where x ≥ 0; a zero
    net is the uniform case. ``inverse`` draws the signs from the same model.
    """

    kind: ClassVar[Kind] = "inference_surjective"

    def __init__(self, shape: tuple[int, ...], sign: str = "uniform", net: nn.Module | None = None) -> None:
        super().__init__(shape)
        if sign not in _SIGNS:
            raise ValueError(f"abs(sign=...) must be one of {', '.join(_SIGNS)}, got {sign!r}")
        if (net is None) != (sign == "uniform"):
            raise ValueError("abs needs a net exactly when sign='learned'")
        self.sign = sign
        self.net = net
        self._ldj = -event_numel(self.shape) * math.log(2.0)

    def _logits(self, z: Tensor, context: Tensor | None) -> Tensor:
        """ℓ ``(B, *shape)``: the log-odds of a positive sign given |x| = z."""
        assert self.net is not None
        logits: Tensor = self.net(z, context)  # a module call is typed Any
        return logits.reshape(z.shape)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(|x| (B, *shape), log p(sign | |x|) (B,))``."""
        z = torch.abs(x)
        if self.net is None:
            return z, self._constant(x.shape[0], self._ldj)
        logits = self._logits(z, context)
        return z, sum_except_batch(F.logsigmoid(torch.where(x >= 0, logits, -logits)))

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` (z ≥ 0) → z·s with random signs s, ``(B, *shape)``."""
        if self.net is None:
            bits = draw_integers(2, z.shape, generator=generator, dtype=z.dtype, device=z.device)
            return z * (2.0 * bits - 1.0)
        positive = torch.sigmoid(self._logits(z, context))
        draws = draw_uniform(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        return torch.where(draws < positive, z, -z)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, sign={self.sign!r}"


class Dequantize(Transform):
    """Dequantization: x ∈ {0, …, K−1} → z = (x + u)/K with u ∈ (0, 1).

    ``encoder=None``: u ~ U(0, 1), contribution −D·log K. Otherwise u, log q(u | x) come from
    ``encoder`` (a distribution on ``shape`` with support (0, 1)) conditioned on
    ``int_context(x, K)``: variational dequantization, contribution −D·log K − log q(u | x).
    At a boundary between two cells u is kept a margin away from it, so that ``inverse``
    recovers x exactly (``floor(K·z)``) despite rounding. At the ends of the unit interval
    (below cell 0, above cell K − 1) the inverse's clamp to {0, …, K − 1} already recovers x,
    so nothing is clamped there but the exact points z = 0 and 1, moved to the nearest
    interior floats: a margin there would give a whole interval next to the edge of z's
    domain one density (clamps add no mass, docs/language.md, What the checker enforces).
    """

    kind: ClassVar[Kind] = "generative_surjective"

    def __init__(
        self,
        shape: tuple[int, ...],
        num_classes: int,
        encoder: Distribution | None = None,
    ) -> None:
        super().__init__(shape)
        if num_classes < 2:
            raise ValueError(f"dequantize needs num_classes ≥ 2, got {num_classes}")
        if encoder is not None:
            _check_event_shape("dequantize encoder", encoder, self.shape)
        self.num_classes = int(num_classes)
        self.encoder = encoder
        self._ldj = -event_numel(self.shape) * math.log(self.num_classes)

    def _margin(self, dtype: torch.dtype) -> float:
        """How far u stays from a boundary between cells: ``eps_for(dtype)``, widened when
        rounding of (x + u)/K·K at K's magnitude could otherwise cross it (float32, large K)."""
        rounding = 4.0 * self.num_classes * torch.finfo(dtype).eps
        return max(eps_for(dtype), rounding)

    def embed(self, x: Tensor, u: Tensor) -> Tensor:
        """z = (x + u)/K for integer ``x`` and noise ``u`` in [0, 1], both ``(B, *shape)``;
        u is clamped inside the margin at boundaries between cells only, and z is in (0, 1),
        so ``floor(K·z)`` clamped to {0, …, K − 1} is x."""
        margin = self._margin(u.dtype)
        x = x.to(u.dtype)
        low = (x > 0).to(u.dtype) * margin
        high = 1.0 - (x < self.num_classes - 1).to(u.dtype) * margin
        z = (x + torch.clamp(u, low, high)) / self.num_classes
        return move_one_inward(move_zero_inward(z))

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Integer ``(B, *shape)`` → ``(z (B, *shape) float, −D·log K − log q(u | x) (B,))``."""
        anchor = self._anchor
        if self.encoder is None:
            u = draw_uniform(x.shape, generator=generator, dtype=anchor.dtype, device=anchor.device)
            return self.embed(x, u), self._constant(x.shape[0], self._ldj)
        condition = int_context(x, self.num_classes, dtype=anchor.dtype)
        u, log_q = self.encoder.sample_with_log_prob(x.shape[0], context=condition, generator=generator)
        return self.embed(x, u), self._ldj - log_q

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` in [0, 1] → floor(K·z) clamped to {0, …, K−1}, dtype ``long``."""
        cells = torch.floor(z * self.num_classes)
        return torch.clamp(cells, 0, self.num_classes - 1).to(torch.long)

    def extra_repr(self) -> str:
        variational = "" if self.encoder is None else ", variational"
        return f"shape={self.shape}, num_classes={self.num_classes}{variational}"


class MaxPool(Transform):
    """Max pooling over non-overlapping windows of k (``[C, L]``) or k×k (``[C, H, W]``).

    Each window of n = k^d entries keeps its maximum. What is forgotten is the position of the
    maximum, uniform (−log n per window), and the n − 1 gaps between the maximum and the other
    entries, in row-major window order skipping the maximum, modelled by ``decoder`` on shape
    ``[C·(n − 1), *pooled]`` (channel c·(n − 1) + j) with the pooled tensor as context. So
    ldj = −numel(pooled)·log n + log p(gaps | pooled). The default decoder is a half-normal.
    """

    kind: ClassVar[Kind] = "inference_surjective"

    def __init__(self, shape: tuple[int, ...], kernel: int = 2, decoder: Distribution | None = None) -> None:
        super().__init__(shape)
        if len(self.shape) not in (2, 3):
            raise ValueError(f"max_pool needs a shape [C, L] or [C, H, W], got {self.shape}")
        if kernel < 2:
            raise ValueError(f"max_pool needs kernel ≥ 2, got {kernel}")
        if any(size % kernel for size in self.shape[1:]):
            raise ValueError(f"max_pool kernel {kernel} must divide the spatial sizes of {self.shape}")
        self.kernel = kernel
        self.spatial_dims = len(self.shape) - 1
        self.window = kernel**self.spatial_dims
        self.pooled_shape: tuple[int, ...] = (self.shape[0],) + tuple(s // kernel for s in self.shape[1:])
        self.gap_shape: tuple[int, ...] = (self.shape[0] * (self.window - 1), *self.pooled_shape[1:])
        if decoder is None:
            decoder = HalfNormal(self.gap_shape)
        _check_event_shape("max_pool decoder", decoder, self.gap_shape)
        self.decoder = decoder
        self._ldj = -event_numel(self.pooled_shape) * math.log(self.window)

    def _windows(self, x: Tensor) -> Tensor:
        """``(B, *shape)`` → ``(B, C, n, *pooled spatial)``, window entries in row-major order."""
        k, batch, (channels, *pooled) = self.kernel, x.shape[0], self.pooled_shape
        if self.spatial_dims == 1:
            return x.reshape(batch, channels, pooled[0], k).permute(0, 1, 3, 2)
        blocks = x.reshape(batch, channels, pooled[0], k, pooled[1], k).permute(0, 1, 3, 5, 2, 4)
        return blocks.reshape(batch, channels, k * k, pooled[0], pooled[1])

    def _unwindow(self, windows: Tensor) -> Tensor:
        """Inverse of :meth:`_windows`: ``(B, C, n, *pooled spatial)`` → ``(B, *shape)``."""
        k, batch, (channels, *pooled) = self.kernel, windows.shape[0], self.pooled_shape
        if self.spatial_dims == 1:
            return windows.permute(0, 1, 3, 2).reshape(batch, *self.shape)
        blocks = windows.reshape(batch, channels, k, k, pooled[0], pooled[1]).permute(0, 1, 4, 2, 5, 3)
        return blocks.reshape(batch, *self.shape)

    def _positions(self, count: int, device: torch.device) -> Tensor:
        """``0, …, count − 1`` shaped to index the window axis of ``(B, C, n, *pooled)``."""
        return torch.arange(count, device=device).reshape(1, 1, count, *([1] * self.spatial_dims))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(pooled (B, C, *pooled spatial), ldj (B,))``."""
        windows = self._windows(x)
        top, argmax = windows.max(dim=2, keepdim=True)
        # The j-th other entry sits at window position j, or j + 1 once past the maximum.
        offsets = self._positions(self.window - 1, x.device)
        others = torch.gather(windows, 2, offsets + (offsets >= argmax).long())
        gaps = (top - others).reshape(x.shape[0], *self.gap_shape)
        pooled = top.squeeze(2)
        ldj = self._ldj + self.decoder.log_prob(gaps, context=pooled)
        return pooled, ldj

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, C, *pooled spatial)`` → ``(B, *shape)``: each window gets z at a uniform position
        and z − gap elsewhere, the gaps drawn from the decoder."""
        batch = z.shape[0]
        gaps = self.decoder.sample(batch, context=z, generator=generator)
        top = z.unsqueeze(2)
        others = top - gaps.reshape(batch, self.pooled_shape[0], self.window - 1, *self.pooled_shape[1:])
        size = top.shape
        argmax = draw_integers(self.window, size, generator=generator, dtype=torch.long, device=z.device)
        positions = self._positions(self.window, z.device)
        # Position p takes the (p − [p > argmax])-th other entry; the clamp only tidies p = argmax.
        source = torch.clamp(positions - (positions > argmax).long(), 0, self.window - 2)
        windows = torch.where(positions == argmax, top, torch.gather(others, 2, source))
        return self._unwindow(windows)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, kernel={self.kernel}"


class Sort(_Ordered):
    """Sorts ascending: a vector ``(N,)`` by its values, a set ``(F, N)`` by feature row ``key``
    (whole columns move together).

    Each of the N! orderings of distinct keys lands on the same sorted tensor, and ``inverse``
    picks one uniformly, so the contribution is −log N!.
    """

    kind: ClassVar[Kind] = "inference_surjective"

    def __init__(self, shape: tuple[int, ...], dim: int = 1, key: int = 0) -> None:
        super().__init__(shape, dim, key)
        self._ldj = -math.lgamma(self.size + 1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(sorted (B, *shape), −log N! (B,))``."""
        order = torch.argsort(self._keys(x), dim=1, stable=True)
        return gather_along(x, order, len(self.shape)), self._constant(x.shape[0], self._ldj)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → the same elements in a uniformly random order."""
        order = random_order(z.shape[0], self.size, self._anchor, generator)
        return gather_along(z, order, len(self.shape))


class Slice(Transform):
    """Keeps the first ``keep`` entries along ``dim``; the dropped rest gets
    log p(dropped | kept) from ``decoder`` (default: a standard normal, which ignores the
    context). ``inverse`` appends a draw from the decoder given the kept part.
    """

    kind: ClassVar[Kind] = "inference_surjective"

    def __init__(
        self,
        shape: tuple[int, ...],
        keep: int,
        dim: int = 0,
        decoder: Distribution | None = None,
    ) -> None:
        super().__init__(shape)
        _check_axis(self.shape, dim)
        if not 1 <= keep < self.shape[dim]:
            raise ValueError(f"slice keep must be in [1, {self.shape[dim] - 1}] for shape {self.shape}, got {keep}")
        self.keep = keep
        self.dim = dim
        self.sizes: tuple[int, int] = (keep, self.shape[dim] - keep)
        dropped_shape = _resized(self.shape, dim, self.sizes[1])
        if decoder is None:
            decoder = StandardNormal(dropped_shape)
        _check_event_shape("slice decoder", decoder, dropped_shape)
        self.decoder = decoder

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(kept (B, …keep…), log p(dropped | kept) (B,))``."""
        kept, dropped = torch.split(x, list(self.sizes), dim=self.dim + 1)
        return kept, self.decoder.log_prob(dropped, context=kept)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, …keep…)`` → ``(B, *shape)``: z followed by a decoder draw."""
        dropped = self.decoder.sample(z.shape[0], context=z, generator=generator)
        return torch.cat([z, dropped], dim=self.dim + 1)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, keep={self.keep}, dim={self.dim}"


class Augment(Transform):
    """Appends ``size`` entries a ~ q(a | h) at the end of ``dim``: z = cat(h, a).

    The contribution is −log q(a | h) (one sample of the bound); ``encoder`` (default: a
    standard normal) has the shape of ``a`` and takes h as its context. ``inverse`` drops a.
    """

    kind: ClassVar[Kind] = "generative_surjective"

    def __init__(
        self,
        shape: tuple[int, ...],
        size: int,
        dim: int = 0,
        encoder: Distribution | None = None,
    ) -> None:
        super().__init__(shape)
        _check_axis(self.shape, dim)
        if size < 1:
            raise ValueError(f"augment size must be ≥ 1, got {size}")
        self.size = size
        self.dim = dim
        self.sizes: tuple[int, int] = (self.shape[dim], size)
        noise_shape = _resized(self.shape, dim, size)
        if encoder is None:
            encoder = StandardNormal(noise_shape)
        _check_event_shape("augment encoder", encoder, noise_shape)
        self.encoder = encoder

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(cat(x, a) (B, …n + size…), −log q(a | x) (B,))``."""
        noise, log_q = self.encoder.sample_with_log_prob(x.shape[0], context=x, generator=generator)
        return torch.cat([x, noise], dim=self.dim + 1), -log_q

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, …n + size…)`` → the first n entries along ``dim``, ``(B, *shape)``."""
        return torch.split(z, list(self.sizes), dim=self.dim + 1)[0]

    def extra_repr(self) -> str:
        return f"shape={self.shape}, size={self.size}, dim={self.dim}"
