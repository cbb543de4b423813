"""Mixed precision for compiled models: the nets under autocast, everything else in float32.

`NetAutocast(model, device_type)` runs every net of ``model`` (the module a layer holds as its
``net``: the conditioners of couplings and autoregressive layers, the nets of conditional
distributions, of a learned-sign ``abs`` and of context embeddings) under
``torch.autocast(dtype=bfloat16)`` and casts what the net returns back to the model's float
dtype. The layers themselves — the transforms' arithmetic, their log-determinants, the
distributions' log-densities and the ``log_p`` accumulator of ``log_prob`` — see float32
tensors only, so the density is computed and summed in float32 (docs/training.md says why).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

__all__ = ["NetAutocast", "nets_of"]


def nets_of(model: nn.Module) -> list[nn.Module]:
    """The modules that some layer of ``model`` holds as its ``net`` (outermost first)."""
    return [module for name, module in model.named_modules() if name == "net" or name.endswith(".net")]


class NetAutocast:
    """Hooks that run each net of a model under autocast and return float outputs in the
    model's dtype. `remove` takes them off; `guard` wraps a forward pass so that an exception
    inside a net cannot leave autocast switched on for the thread.
    """

    def __init__(self, model: nn.Module, device_type: str, dtype: torch.dtype = torch.bfloat16) -> None:
        self.device_type, self.dtype = device_type, dtype
        self._entered: list[torch.autocast] = []
        self._handles: list[RemovableHandle] = []
        for net in nets_of(model):
            self._handles.append(net.register_forward_pre_hook(self._enter))
            self._handles.append(net.register_forward_hook(self._exit))

    def _enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        context = torch.autocast(self.device_type, dtype=self.dtype)
        context.__enter__()  # type: ignore[no-untyped-call]
        self._entered.append(context)

    def _exit(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        self._entered.pop().__exit__(None, None, None)
        # The float dtype of the layer that called the net: that of the net's own parameters.
        dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
        return _cast(output, dtype)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Around a forward pass: on the way out, autocast is as it was on the way in, even if
        a net raised between its hooks."""
        with torch.autocast(self.device_type, enabled=False):
            try:
                yield
            finally:
                self._entered.clear()

    def remove(self) -> None:
        """Take the hooks off: the nets run in the model's dtype again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _cast(value: Any, dtype: torch.dtype) -> Any:
    """Floating tensors in ``value`` (a tensor, or tuples/lists of them) as ``dtype``."""
    if isinstance(value, Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_cast(v, dtype) for v in value)
    return value
