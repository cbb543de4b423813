"""Stochastic layers (lower bound): ``vae`` and ``stochastic_permutation``.

Both directions are random. The ``ldj`` is the one-sample ELBO term
log p(x | z) − log q(z | x) of the layer (SurVAE Flows, Nielsen et al. 2020).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import Distribution, Kind, Transform, _check_shape
from .functional import int_context
from .ordered import gather_along, random_order
from .surjections import _check_axis, _check_event_shape

__all__ = ["VAE", "StochasticPermutation"]


class VAE(Transform):
    """A variational autoencoder layer: h → z ~ q(z | h), with h ~ p(h | z) generatively.

    ``encoder`` is a distribution on ``latent`` taking h as context (``int_context(h, K)``
    when ``num_classes`` K is set, so a net never sees raw integers); ``decoder`` is a
    distribution on ``shape`` taking z as context. The contribution is
    log p(h | z) − log q(z | h) for the z drawn.
    """

    kind: ClassVar[Kind] = "stochastic"

    def __init__(
        self,
        shape: tuple[int, ...],
        latent: tuple[int, ...],
        encoder: Distribution,
        decoder: Distribution,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(shape)
        self.latent: tuple[int, ...] = _check_shape(latent)
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"vae num_classes must be ≥ 2, got {num_classes}")
        _check_event_shape("vae encoder", encoder, self.latent)
        _check_event_shape("vae decoder", decoder, self.shape)
        self.num_classes = num_classes
        self.encoder = encoder
        self.decoder = decoder

    def _condition(self, x: Tensor) -> Tensor:
        """The encoder's context: ``x`` itself, or its cell centres for integer data."""
        if self.num_classes is None:
            return x
        return int_context(x, self.num_classes, dtype=self._anchor.dtype)

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(z (B, *latent), log p(x | z) − log q(z | x) (B,))``."""
        condition = self._condition(x)
        z, log_q = self.encoder.sample_with_log_prob(x.shape[0], context=condition, generator=generator)
        return z, self.decoder.log_prob(x, context=z) - log_q

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *latent)`` → a decoder draw ``(B, *shape)`` (``long`` for a discrete decoder)."""
        return self.decoder.sample(z.shape[0], context=z, generator=generator)

    def extra_repr(self) -> str:
        classes = "" if self.num_classes is None else f", num_classes={self.num_classes}"
        return f"shape={self.shape}, latent={self.latent}{classes}"


class StochasticPermutation(Transform):
    """A uniformly random permutation along ``dim`` in both directions, one per example.

    q(π | x) and p(π) are both uniform, so the contribution is 0; the bound is tight only for
    a density that is itself symmetric under the permutations.
    """

    kind: ClassVar[Kind] = "stochastic"

    def __init__(self, shape: tuple[int, ...], dim: int = 1) -> None:
        super().__init__(shape)
        _check_axis(self.shape, dim)
        self.dim = dim

    def _permute(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """``(B, *shape)`` with its entries along ``dim`` in a random order per example."""
        order = random_order(x.shape[0], self.shape[self.dim], self._anchor, generator)
        return gather_along(x, order, self.dim + 1)

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(B, *shape)`` → ``(permuted (B, *shape), zeros (B,))``."""
        return self._permute(x, generator), self._constant(x.shape[0], 0.0)

    def inverse(
        self,
        z: Tensor,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(B, *shape)`` → ``(B, *shape)`` in a fresh random order."""
        return self._permute(z, generator)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dim={self.dim}"
