"""Volume-preserving rearrangements of a tensor's entries: every ldj is 0.

Each op moves entries around without changing a value, so its Jacobian is a permutation
matrix (or a block of one, for ``split`` and ``concat``).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from .base import Kind, Transform, _check_shape, event_numel

__all__ = [
    "Concat",
    "Flatten",
    "Reshape",
    "Reverse",
    "Shuffle",
    "Split",
    "Squeeze2d",
    "Transpose",
    "Unsqueeze2d",
]


def _check_dim(shape: tuple[int, ...], dim: int) -> int:
    """``dim`` if it names an event axis of ``shape``, else a ValueError."""
    if not 0 <= dim < len(shape):
        raise ValueError(f"dim must be in [0, {len(shape) - 1}] for shape {shape}")
    return dim


class _Structural(Transform):
    """Base of the rearrangements: bijective, no parameters, ldj 0."""

    kind: ClassVar[Kind] = "bijective"


class Reverse(_Structural):
    """Reverses the order of entries along event axis ``dim``; ldj = 0."""

    def __init__(self, shape: tuple[int, ...], dim: int = 0) -> None:
        super().__init__(shape)
        self.dim = _check_dim(self.shape, dim)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), zeros (B,))``."""
        return torch.flip(x, dims=(self.dim + 1,)), self._constant(x.shape[0], 0.0)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``: a flip is its own inverse."""
        return torch.flip(z, dims=(self.dim + 1,))

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dim={self.dim}"


class Shuffle(_Structural):
    """A fixed random permutation along event axis ``dim``, drawn from ``seed``; ldj = 0.

    The permutation and its inverse are buffers, so a saved model keeps its own permutation
    whatever generator a later torch version has.
    """

    perm: Tensor
    inverse_perm: Tensor

    def __init__(self, shape: tuple[int, ...], dim: int = 0, seed: int = 0) -> None:
        super().__init__(shape)
        self.dim = _check_dim(self.shape, dim)
        self.seed = seed
        perm = torch.randperm(self.shape[dim], generator=torch.Generator().manual_seed(seed))
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *shape), zeros (B,))``: z_i = x_perm[i] along ``dim``."""
        return torch.index_select(x, self.dim + 1, self.perm), self._constant(x.shape[0], 0.0)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)``."""
        return torch.index_select(z, self.dim + 1, self.inverse_perm)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dim={self.dim}, seed={self.seed}"


class Transpose(_Structural):
    """Permutes the event axes: axis k of z is axis ``dims[k]`` of x; ldj = 0.

    ``x``: ``(B, *shape)`` → ``(B, *out_shape)`` with ``out_shape[k] = shape[dims[k]]``.
    """

    def __init__(self, shape: tuple[int, ...], dims: tuple[int, ...]) -> None:
        super().__init__(shape)
        dims = tuple(dims)
        if sorted(dims) != list(range(len(self.shape))):
            raise ValueError(f"transpose dims must be a permutation of 0..{len(self.shape) - 1}, got {dims}")
        self.dims = dims
        self.out_shape: tuple[int, ...] = tuple(self.shape[d] for d in dims)
        inverse = [0] * len(dims)
        for position, axis in enumerate(dims):
            inverse[axis] = position
        # Axis indices with the batch axis 0 prepended, for ``permute``.
        self._forward_axes = (0, *(d + 1 for d in dims))
        self._inverse_axes = (0, *(d + 1 for d in inverse))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *out_shape), zeros (B,))``."""
        return torch.permute(x, self._forward_axes), self._constant(x.shape[0], 0.0)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *out_shape)`` → ``(B, *shape)``."""
        return torch.permute(z, self._inverse_axes)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dims={self.dims}"


def _squeeze(x: Tensor, factor: int) -> Tensor:
    """``(B, C, H, W)`` → ``(B, C·f², H/f, W/f)``; channel c·f² + i·f + j holds offset (i, j)."""
    b, c, h, w = x.shape
    patches = x.reshape(b, c, h // factor, factor, w // factor, factor)
    return patches.permute(0, 1, 3, 5, 2, 4).reshape(b, c * factor * factor, h // factor, w // factor)


def _unsqueeze(z: Tensor, factor: int) -> Tensor:
    """The inverse of :func:`_squeeze`: ``(B, C·f², H, W)`` → ``(B, C, H·f, W·f)``."""
    b, c, h, w = z.shape
    patches = z.reshape(b, c // (factor * factor), factor, factor, h, w)
    return patches.permute(0, 1, 4, 2, 5, 3).reshape(b, c // (factor * factor), h * factor, w * factor)


def _check_factor(factor: int) -> int:
    """``factor`` if it is a positive int, else a ValueError."""
    if not (isinstance(factor, int) and factor >= 1):
        raise ValueError(f"a squeeze factor must be a positive int, got {factor!r}")
    return factor


class Squeeze2d(_Structural):
    """``[C, H, W]`` → ``[C·f², H/f, W/f]``: each f×f patch becomes f² channels; ldj = 0.

    z[c·f² + i·f + j, y, x] = x[c, y·f + i, x·f + j], the ordering of ``F.pixel_unshuffle``.
    """

    def __init__(self, shape: tuple[int, ...], factor: int = 2) -> None:
        super().__init__(shape)
        self.factor = _check_factor(factor)
        if len(self.shape) != 3 or self.shape[1] % factor or self.shape[2] % factor:
            raise ValueError(f"squeeze2d needs [C, H, W] with H and W divisible by {factor}, got {self.shape}")
        c, h, w = self.shape
        self.out_shape: tuple[int, ...] = (c * factor * factor, h // factor, w // factor)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, C, H, W)`` → ``(z (B, C·f², H/f, W/f), zeros (B,))``."""
        return _squeeze(x, self.factor), self._constant(x.shape[0], 0.0)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, C·f², H/f, W/f)`` → ``(B, C, H, W)``."""
        return _unsqueeze(z, self.factor)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, factor={self.factor}"


class Unsqueeze2d(_Structural):
    """``[C·f², H, W]`` → ``[C, H·f, W·f]``, the inverse of :class:`Squeeze2d`; ldj = 0.

    ``shape`` is this op's input ``[C·f², H, W]``.
    """

    def __init__(self, shape: tuple[int, ...], factor: int = 2) -> None:
        super().__init__(shape)
        self.factor = _check_factor(factor)
        if len(self.shape) != 3 or self.shape[0] % (factor * factor):
            raise ValueError(f"unsqueeze2d needs [C, H, W] with C divisible by {factor * factor}, got {self.shape}")
        c, h, w = self.shape
        self.out_shape: tuple[int, ...] = (c // (factor * factor), h * factor, w * factor)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, C·f², H, W)`` → ``(z (B, C, H·f, W·f), zeros (B,))``."""
        return _unsqueeze(x, self.factor), self._constant(x.shape[0], 0.0)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, C, H·f, W·f)`` → ``(B, C·f², H, W)``."""
        return _squeeze(z, self.factor)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, factor={self.factor}"


class Reshape(_Structural):
    """The same entries, read in row-major order into ``target``; ldj = 0.

    ``x``: ``(B, *shape)`` → ``(B, *target)``, with numel(target) = numel(shape).
    """

    def __init__(self, shape: tuple[int, ...], target: tuple[int, ...]) -> None:
        super().__init__(shape)
        self.target: tuple[int, ...] = _check_shape(target)
        if event_numel(self.target) != event_numel(self.shape):
            raise ValueError(f"cannot reshape {self.shape} ({event_numel(self.shape)} entries) to {self.target}")

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *target), zeros (B,))``."""
        return x.reshape(x.shape[0], *self.target), self._constant(x.shape[0], 0.0)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *target)`` → ``(B, *shape)``."""
        return z.reshape(z.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, target={self.target}"


class Flatten(Reshape):
    """All entries as one vector, row-major: ``(B, *shape)`` → ``(B, numel)``; ldj = 0."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(shape, (event_numel(_check_shape(shape)),))

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def _split_sizes(size: int, sizes: tuple[int, ...] | None) -> tuple[int, ...]:
    """The parts' sizes along the axis: ⌈n/2⌉ and ⌊n/2⌋ by default; positive, summing to n."""
    if sizes is None:
        if size < 2:
            raise ValueError(f"split needs at least 2 entries along its axis, got {size}")
        return (math.ceil(size / 2), size // 2)
    sizes = tuple(sizes)
    if not sizes or any(part < 1 for part in sizes) or sum(sizes) != size:
        raise ValueError(f"split sizes must be positive and add up to {size}, got {sizes}")
    return sizes


class Split(_Structural):
    """Cuts ``x`` along ``dim`` into consecutive parts; ldj = 0.

    ``forward(x (B, *shape))`` returns ``((part_1, ..., part_m), zeros (B,))``, part k of shape
    ``out_shapes[k]``; ``inverse(part_1, ..., part_m)`` joins them back.
    """

    def __init__(self, shape: tuple[int, ...], dim: int = 0, sizes: tuple[int, ...] | None = None) -> None:
        super().__init__(shape)
        self.dim = _check_dim(self.shape, dim)
        self.sizes = _split_sizes(self.shape[dim], sizes)
        self.out_shapes: tuple[tuple[int, ...], ...] = tuple(
            self.shape[:dim] + (part,) + self.shape[dim + 1 :] for part in self.sizes
        )

    def forward(  # type: ignore[override]  # n-ary (split/concat): the generated code passes the parts one by one
        self, x: Tensor, context: Tensor | None = None
    ) -> tuple[tuple[Tensor, ...], Tensor]:
        """``(B, *shape)`` → ``((B, *out_shapes[k]) for each part, zeros (B,))``."""
        return tuple(torch.split(x, list(self.sizes), dim=self.dim + 1)), self._constant(x.shape[0], 0.0)

    def inverse(  # type: ignore[override]  # n-ary (split/concat): the generated code passes the parts one by one
        self,
        *parts: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The parts ``(B, *out_shapes[k])`` → ``(B, *shape)``."""
        if len(parts) != len(self.sizes):
            raise ValueError(f"split.inverse takes {len(self.sizes)} parts, got {len(parts)}")
        return torch.cat(parts, dim=self.dim + 1)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dim={self.dim}, sizes={self.sizes}"


def _concat_shape(shapes: tuple[tuple[int, ...], ...], dim: int) -> tuple[int, ...]:
    """The joined shape of ``shapes`` along ``dim``; the other axes must agree."""
    if not shapes:
        raise ValueError("concat needs at least one input shape")
    first = shapes[0]
    _check_dim(first, dim)
    for other in shapes[1:]:
        same_rank = len(other) == len(first)
        if not same_rank or any(a != b for d, (a, b) in enumerate(zip(first, other, strict=True)) if d != dim):
            raise ValueError(f"concat along dim={dim} needs the other axes to agree, got {first} and {other}")
    return first[:dim] + (sum(shape[dim] for shape in shapes),) + first[dim + 1 :]


class Concat(_Structural):
    """Joins tensors along ``dim``; ldj = 0. ``shape`` is the joined (output) shape.

    ``forward(x_1, ..., x_m)`` with ``x_k`` ``(B, *shapes[k])`` returns ``(z, zeros (B,))``;
    ``inverse(z)`` returns the tuple of parts.
    """

    def __init__(self, shapes: tuple[tuple[int, ...], ...], dim: int = 0) -> None:
        shapes = tuple(_check_shape(shape) for shape in shapes)
        super().__init__(_concat_shape(shapes, dim))
        self.shapes = shapes
        self.dim = dim
        self.sizes: tuple[int, ...] = tuple(shape[dim] for shape in shapes)

    def forward(  # type: ignore[override]  # n-ary (split/concat): the generated code passes the parts one by one
        self, *parts: Tensor, context: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The parts ``(B, *shapes[k])`` → ``(z (B, *shape), zeros (B,))``."""
        if len(parts) != len(self.shapes):
            raise ValueError(f"concat takes {len(self.shapes)} inputs, got {len(parts)}")
        return torch.cat(parts, dim=self.dim + 1), self._constant(parts[0].shape[0], 0.0)

    def inverse(  # type: ignore[override]  # n-ary (split/concat): the generated code passes the parts one by one
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, ...]:
        """``(B, *shape)`` → the parts ``(B, *shapes[k])``."""
        return tuple(torch.split(z, list(self.sizes), dim=self.dim + 1))

    def extra_repr(self) -> str:
        return f"shapes={self.shapes}, dim={self.dim}"
