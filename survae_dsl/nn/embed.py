"""Context nets (``embed`` in the language): deterministic maps of a model's contexts.

A context net is no transform of the flow: it has no inverse and no ldj. The generated code
runs it at the top of ``log_prob`` and ``sample``, on the contexts (``int<K>`` ones already
turned into cell centres), and passes its output to the layers that read it with ``context=``.
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import _check_shape

__all__ = ["Embed"]


class Embed(nn.Module):
    """``net(c)`` as a tensor of ``out_shape``: ``(B, *shape)`` → ``(B, *out_shape)``.

    The net gives either ``(B, out_shape[0], *out_shape[1:])`` (a net that keeps space) or
    ``(B, prod(out_shape))`` (an MLP); both are read in row-major order. Its last layer starts
    at zero, so a fresh ``Embed`` outputs zeros.
    """

    def __init__(self, shape: tuple[int, ...], out_shape: tuple[int, ...], net: nn.Module) -> None:
        super().__init__()
        self.shape = _check_shape(shape)
        self.out_shape = _check_shape(out_shape)
        self.net = net

    def forward(self, c: Tensor) -> Tensor:
        """``(B, *shape)`` → ``(B, *out_shape)``."""
        features: Tensor = self.net(c)  # a module call is typed Any
        return features.reshape(c.shape[0], *self.out_shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, out_shape={self.out_shape}"
