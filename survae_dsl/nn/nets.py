"""Conditioner networks used by the coupling layers (``net=`` in the language)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["MLP"]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


def _activation(name: str) -> nn.Module:
    """A fresh activation module by its DSL name."""
    if name not in _ACTIVATIONS:
        choices = ", ".join(sorted(_ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; expected one of {choices}")
    return _ACTIVATIONS[name]()


class MLP(nn.Module):
    """A fully connected net: ``(B, ...)`` (flattened to ``(B, in_features)``) → ``(B, out)``.

    The last layer starts at zero (weights and bias), so a fresh coupling is the identity and
    a fresh conditional distribution is the standard one.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: tuple[int, ...] = (64,),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        layers = _mlp_layers(in_features, out_features, tuple(hidden), activation)
        self.layers = nn.Sequential(*layers)
        last = self.layers[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, ...)`` with ``in_features`` entries per example → ``(B, out_features)``."""
        return self.layers(torch.flatten(x, start_dim=1))


def _mlp_layers(
    in_features: int, out_features: int, hidden: tuple[int, ...], activation: str
) -> list[nn.Module]:
    """Linear layers of widths ``in → *hidden → out`` with ``activation`` between them."""
    _activation(activation)  # validate the name even when no hidden layer needs one
    widths = (in_features, *hidden, out_features)
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        if index > 0:
            layers.append(_activation(activation))
        layers.append(nn.Linear(width_in, width_out))
    return layers
