"""Invertible linear maps in LU form (Kingma & Dhariwal 2018): ``linear`` and ``conv1x1``.

W = P·L·(U + diag(sign·exp(log_s))) with P a fixed permutation, L unit lower triangular and
U strictly upper triangular. The determinant is read off the diagonal, so the forward pass
needs no slogdet and the inverse only two triangular solves.

The learned state is one ``(C, C)`` parameter ``lu``, exactly C² numbers: its strict lower
triangle is L's, its strict upper triangle is U's, and its diagonal is log_s. P (``perm``)
and the signs of U's diagonal (``sign``) are fixed buffers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .base import Kind, Transform, event_numel

__all__ = ["Conv1x1", "Linear"]


def random_rotation_lu(size: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """LU factors of a random orthogonal ``(size, size)`` matrix, drawn in float64 from ``seed``.

    Returns (permutation indices, unit lower L, upper U, diagonal of U): Q = P·L·U with
    ``(P·M)[i] = M[perm[i]]``. Fixing the signs of R's diagonal makes Q Haar-distributed.
    """
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(size, size, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    permutation, lower, upper = torch.linalg.lu(q)
    return permutation.argmax(dim=1), lower, upper, torch.diagonal(upper)


def unit_triangular_inverse(strict: Tensor) -> Tensor:
    """(I + N)⁻¹ for a strictly triangular ``(C, C)`` N, by ⌈log₂ C⌉ matrix products.

    N is nilpotent (N^C = 0), so with M = −N: (I − M)·(I + M)(I + M²)(I + M⁴)⋯(I + M^(2^(k−1)))
    = I − M^(2^k) = I once 2^k ≥ C. Exact algebra, and only products: what an ONNX graph can do.
    """
    eye = torch.eye(strict.shape[0], dtype=strict.dtype, device=strict.device)
    power = -strict
    inverse = eye + power
    for _ in range(max(0, math.ceil(math.log2(max(strict.shape[0], 1))) - 1)):
        power = power @ power
        inverse = inverse @ (eye + power)
    return inverse


class _LUMap(Transform):
    """The shared LU parameterisation; channels on event axis 0, any spatial axes after it."""

    kind: ClassVar[Kind] = "bijective"
    perm: Tensor
    inverse_perm: Tensor
    sign: Tensor

    def __init__(self, shape: tuple[int, ...], seed: int) -> None:
        super().__init__(shape)
        channels = self.shape[0]
        self.seed = seed
        perm, lower, upper, diagonal = random_rotation_lu(channels, seed)
        dtype = torch.get_default_dtype()
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))
        self.register_buffer("sign", torch.sign(diagonal).to(dtype))
        # Strict lower triangle: L's; strict upper triangle: U's; diagonal: log_s. C² numbers,
        # every one of them used (rounded to the default dtype after the float64 factorisation,
        # as the separate factors were before).
        packed = torch.tril(lower, -1) + torch.triu(upper, 1) + torch.diag(torch.log(torch.abs(diagonal)))
        self.lu = nn.Parameter(packed.to(dtype))
        # Every spatial position applies the same W: its log-determinant counts once per position.
        self._positions = event_numel(self.shape) // channels

    def log_s(self) -> Tensor:
        """log|diagonal of U| ``(C,)``: the diagonal of ``lu``."""
        return torch.diagonal(self.lu)

    def _factors(self) -> tuple[Tensor, Tensor]:
        """(L unit lower, U + diag(sign·exp(log_s))), each ``(C, C)``."""
        eye = torch.eye(self.shape[0], dtype=self.lu.dtype, device=self.lu.device)
        lower = torch.tril(self.lu, -1) + eye
        upper = torch.triu(self.lu, 1) + torch.diag(self.sign * torch.exp(self.log_s()))
        return lower, upper

    def _lu_inverse(self) -> Tensor:
        """(L·U)⁻¹ ``(C, C)`` by matrix products only (no solve): U = (I + N·D⁻¹)·D with N its
        strict upper triangle and D its diagonal, so (LU)⁻¹ = D⁻¹·(I + N·D⁻¹)⁻¹·L⁻¹, and both
        inverses are of unit triangular matrices (:func:`unit_triangular_inverse`)."""
        diagonal = self.sign * torch.exp(self.log_s())
        lower_inverse = unit_triangular_inverse(torch.tril(self.lu, -1))
        upper_inverse = unit_triangular_inverse(torch.triu(self.lu, 1) / diagonal)
        return (upper_inverse / diagonal.unsqueeze(1)) @ lower_inverse

    def weight(self) -> Tensor:
        """W = P·L·U ``(C, C)``."""
        lower, upper = self._factors()
        return (lower @ upper)[self.perm]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(B, C, ...)`` → ``(z (B, C, ...), ldj (B,))``: z = W·x at every position."""
        channels_last = torch.movedim(x, 1, -1)
        z = torch.movedim(channels_last @ self.weight().T, -1, 1)
        ldj = self.log_s().sum() * self._positions
        # repeat, not expand: callers may accumulate into the ldj in place.
        return z, ldj.repeat(x.shape[0])

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, C, ...)`` → ``(B, C, ...)``: x = U⁻¹·L⁻¹·Pᵀ·z by two triangular solves."""
        # Rows are the vectors: x = W⁻¹z becomes xᵀ = zᵀ·W⁻ᵀ, solved from the right.
        rows = torch.movedim(z, 1, -1).reshape(-1, self.shape[0])[:, self.inverse_perm]
        if torch.compiler.is_exporting():
            # ONNX has no triangular solve: an exported program multiplies by (LU)⁻¹ instead.
            rows = rows @ self._lu_inverse().T
        else:
            lower, upper = self._factors()
            rows = torch.linalg.solve_triangular(lower.T, rows, upper=True, left=False, unitriangular=True)
            rows = torch.linalg.solve_triangular(upper.T, rows, upper=False, left=False)
        channels_last = rows.reshape(*z.shape[:1], *z.shape[2:], self.shape[0])
        return torch.movedim(channels_last, -1, 1)

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Refuse, with a message that says why, a checkpoint in the old three-parameter layout."""
        old = [prefix + name for name in _OLD_PARAMETERS if prefix + name in state_dict]
        if old:
            raise RuntimeError(_old_layout_message(prefix, self.shape[0], old))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return f"shape={self.shape}, seed={self.seed}"


# The parameters of the layout before issue 17: full (C, C) ``lower`` and ``upper`` (only
# their strict triangles used) and ``log_s`` (C,), 2·C² + C numbers.
_OLD_PARAMETERS = ("lower", "upper", "log_s")


def _old_layout_message(prefix: str, channels: int, keys: list[str]) -> str:
    """Why a state dict with the old ``lower``/``upper``/``log_s`` keys cannot be loaded."""
    where = f"`{prefix.rstrip('.')}`" if prefix else "this layer"
    return (
        f"cannot load the state dict into {where} (found {', '.join(keys)}): the checkpoint was written by an "
        f"older survae-dsl whose `linear`/`conv1x1` stored 2·D²+D numbers (full `lower` and `upper` matrices "
        f"and `log_s`; {2 * channels * channels + channels} here), while this version stores the D² numbers "
        f"the LU parameterisation uses ({channels * channels} here) in one `lu` matrix, so it cannot be loaded. "
        "Retrain the model, or convert the checkpoint: "
        "lu = tril(lower, -1) + triu(upper, 1) + diag(log_s), with the old keys removed"
    )


class Linear(_LUMap):
    """z = W·x on vectors ``(D,)``; ldj = Σ log_s; D² parameters. Starts as a random rotation from ``seed``."""

    def __init__(self, shape: tuple[int, ...], seed: int = 0) -> None:
        if len(tuple(shape)) != 1:
            raise ValueError(f"linear needs a vector shape (D,), got {tuple(shape)}")
        super().__init__(shape, seed)


class Conv1x1(_LUMap):
    """Invertible 1×1 convolution on ``(C, ...)``: z = W·x at each position.

    ldj = (positions)·Σ log_s; C² parameters. Starts as a random rotation from ``seed``.
    """

    def __init__(self, shape: tuple[int, ...], seed: int = 0) -> None:
        if len(tuple(shape)) < 1:
            raise ValueError("conv1x1 needs a channel axis, got shape ()")
        super().__init__(shape, seed)
