"""MADE (Germain et al. 2015): a masked MLP whose outputs for feature d see only x_{<d}."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .nets import _activation

__all__ = ["MADE"]


class _MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 mask ``(out, in)``."""

    mask: Tensor

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in)`` → ``(B, out)``."""
        return F.linear(x, self.weight * self.mask, self.bias)


def _hidden_degrees(width: int, features: int, lowest: int) -> Tensor:
    """Degrees ``lowest, …, features − 1`` repeated over ``width`` units, so each is used."""
    span = features - lowest
    return lowest + torch.arange(width) % span


def _mask(out_degrees: Tensor, in_degrees: Tensor, strict: bool) -> Tensor:
    """0/1 ``(out, in)``: a unit sees inputs of lower degree (or equal, for hidden units)."""
    if strict:
        return (out_degrees.unsqueeze(1) > in_degrees.unsqueeze(0)).float()
    return (out_degrees.unsqueeze(1) >= in_degrees.unsqueeze(0)).float()


class MADE(nn.Module):
    """A masked MLP: ``(x (B, D), context (B, F) or None)`` → ``(B, P·D)``, parameter-major.

    Output ``p·D + d`` depends only on ``x[:, :d]`` (and the context): inputs have degrees
    1..D, hidden units cycle through 1..D − 1, an output for feature d has degree d and sees
    hidden units of lower degree. The context enters the first layer with degree 0, and with
    a context the hidden degrees start at 0 too, so even feature 0's parameters can depend on
    it. The last layer starts at zero (weights and bias).
    """

    def __init__(
        self,
        features: int,
        hidden: tuple[int, ...] = (64,),
        params_per_feature: int = 2,
        context_features: int = 0,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if features < 1 or params_per_feature < 1 or context_features < 0:
            raise ValueError(
                "made needs features ≥ 1, params_per_feature ≥ 1 and context_features ≥ 0, got "
                f"{features}, {params_per_feature}, {context_features}"
            )
        if not all(isinstance(width, int) and width > 0 for width in hidden):
            raise ValueError(f"made's hidden widths must be positive ints, got {tuple(hidden)}")
        self.features = features
        self.params_per_feature = params_per_feature
        self.context_features = context_features
        self.hidden = tuple(hidden)
        self.layers = nn.Sequential(*self._build(activation))
        last = self.layers[-1]
        assert isinstance(last, _MaskedLinear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def _build(self, activation: str) -> list[nn.Module]:
        """Masked linear layers ``D + F → *hidden → P·D`` with ``activation`` between them."""
        _activation(activation)  # validate the name even when no hidden layer needs one
        # Without a context a degree-0 unit would be a constant; with one it carries the context.
        lowest = 0 if self.context_features > 0 or self.features == 1 else 1
        degrees = torch.cat([torch.arange(1, self.features + 1), torch.zeros(self.context_features, dtype=torch.long)])
        layers: list[nn.Module] = []
        for width in self.hidden:
            next_degrees = _hidden_degrees(width, self.features, lowest)
            if layers:
                layers.append(_activation(activation))
            layers.append(_MaskedLinear(_mask(next_degrees, degrees, strict=False)))
            degrees = next_degrees
        if layers:
            layers.append(_activation(activation))
        out_degrees = torch.arange(1, self.features + 1).repeat(self.params_per_feature)
        layers.append(_MaskedLinear(_mask(out_degrees, degrees, strict=True)))
        return layers

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``(B, D)`` (and a context ``(B, ...)`` with F entries, flattened) → ``(B, P·D)``."""
        features = torch.flatten(x, start_dim=1)
        if self.context_features > 0:
            if context is None:
                raise ValueError(f"this made was built with context_features={self.context_features}: pass a context")
            features = torch.cat([features, torch.flatten(context, start_dim=1).to(features.dtype)], dim=1)
        elif context is not None:
            raise ValueError("this made was built without a context (context_features=0) but got one")
        out: Tensor = self.layers(features)  # a module call is typed Any
        return out

    def extra_repr(self) -> str:
        return (
            f"features={self.features}, hidden={self.hidden}, params_per_feature={self.params_per_feature}, "
            f"context_features={self.context_features}"
        )
