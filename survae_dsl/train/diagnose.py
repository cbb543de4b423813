"""NaN diagnosis: which parameter or layer a non-finite loss or gradient comes from, and its line."""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from survae_dsl.nn import Model

    from .model_input import ModelIO


def diagnose(model: Model, io: ModelIO, batch: dict[str, Tensor], seed: int) -> str:
    """Where a non-finite loss comes from: a non-finite parameter, or the first layer whose output
    is non-finite when the step's forward pass on ``batch`` is replayed with the same noise (the
    generators seeded by ``seed``, as the step was); a clause to append to the error message."""
    for name, parameter in model.named_parameters():
        if not parameter.isfinite().all():
            return f"; the parameter `{name}` is not finite{layer_line(model, name)}"
    found: list[str] = []
    names = {module: name for name, module in model.named_modules() if name}

    def hook(module: nn.Module, _args: Any, output: Any) -> None:
        if not found and non_finite(output):
            found.append(names[module])

    handles = [module.register_forward_hook(hook) for module in names]
    try:
        devices = [model._anchor.device] if model._anchor.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            io.log_prob(model, batch)
    except Exception:  # noqa: BLE001 - a diagnosis only; the loss already says what happened
        pass
    finally:
        for handle in handles:
            handle.remove()
    if found:
        return f"; the first non-finite output is of layer `{found[0]}`{layer_line(model, found[0])}"
    return "; no layer's output is non-finite when the step is replayed: look at the distributions' log_prob"


def non_finite(value: Any) -> bool:
    """Whether a module output (a tensor, or tuples/lists of them) holds NaN or ±inf."""
    if isinstance(value, Tensor):
        return value.is_floating_point() and not bool(value.isfinite().all())
    if isinstance(value, (tuple, list)):
        return any(non_finite(v) for v in value)
    return False


def layer_line(model: Model, dotted: str) -> str:
    """`` (MODEL.survae:LINE)`` for the top-level layer of a dotted parameter or module name
    (``affine_coupling_1.net.0.weight`` → layer ``affine_coupling_1``); empty if unknown."""
    location = _source_location(type(model), dotted.split(".")[0])
    return f" ({location})" if location else ""


def _source_location(cls: type[Any], layer: str) -> str | None:
    """``FILE:LINE`` of ``layer`` in the model file, read from the generated ``__init__``.

    Why a regex over source: the compiled class records no layer → line mapping (only the
    code generator knows it, and it writes it as the ``# FILE:LINE`` comment that ends each
    ``self.LAYER = ...`` statement), so the comment is the one place it can be read back from.
    `compile_source` registers the generated source with linecache, so `inspect` finds it.
    """
    try:
        source = inspect.getsource(cls.__init__)
    except (OSError, TypeError):
        return None
    match = re.search(rf"self\.{re.escape(layer)} = .*#\s*(\S+:\d+)\s*$", source, flags=re.MULTILINE)
    return match[1] if match else None
