"""Shared helpers for the runtime tests: Jacobians, nets with non-trivial outputs, tracing
with `torch.compile`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor

from survae_dsl.nn import MLP

F = TypeVar("F", bound=Callable[..., object])


def jacobian_log_det(fn: Callable[..., Tensor], x: Tensor, context: Tensor | None = None) -> Tensor:
    """log|det ∂fn/∂x| per example, from autograd: ``x`` (B, *shape) → (B,).

    ``fn`` maps a batch (and, if given, the matching rows of ``context``) to a batch of the
    same event size; it is evaluated one example at a time so the Jacobian is the
    per-example square matrix.
    """
    values = []
    for index, row in enumerate(x):
        single = row.unsqueeze(0)
        extra = () if context is None else (context[index : index + 1],)

        def flat(v: Tensor, single: Tensor = single, extra: tuple = extra) -> Tensor:
            return fn(v.reshape(single.shape), *extra).reshape(-1)

        jacobian = torch.autograd.functional.jacobian(flat, single.reshape(-1))
        values.append(torch.linalg.slogdet(jacobian).logabsdet)
    return torch.stack(values)


def random_mlp(in_features: int, out_features: int, scale: float = 0.5) -> MLP:
    """An MLP whose last layer is random rather than zero, so a coupling is not the identity."""
    net = MLP(in_features, out_features, hidden=(8,), activation="tanh")
    last = net.layers[-1]
    with torch.no_grad():
        last.weight.normal_(0.0, scale)
        last.bias.normal_(0.0, scale)
    return net.double()


def compiled_fullgraph(fn: F) -> F:
    """``torch.compile(fn, fullgraph=True)``: calling it fails on a graph break.

    The eager backend checks tracing (no graph breaks) without a C++ toolchain; dynamo's
    caches are reset first, so each test traces from scratch.
    """
    torch._dynamo.reset()
    return torch.compile(fn, fullgraph=True, backend="eager")  # type: ignore[return-value]  # torch.compile returns a Callable[..., Any]
