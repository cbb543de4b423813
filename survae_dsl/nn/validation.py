"""Checking what a compiled model is given against what its file declares (docs/language.md,
The compiled module: input validation).

Two kinds of facts are checked, following the rules of compiled code:

- **static facts** — rank, shape, dtype kind (integers for `int<K>`, floating point for the
  continuous domains), a context present, one batch size for every input and context — are
  plain Python on tensor metadata, checked always (also under `torch.compile` and export,
  where they become shape guards) and refused with a `ValueError` naming the input and its
  declared type;
- **value facts** — integers in {0, …, K−1}, finite reals in the declared interval (its
  finite ends included) — need
  the tensor's data. In eager mode they raise the same way; while compiling or exporting
  (`torch.compiler.is_compiling()`) a data-dependent raise would break the graph, so they
  become a per-example mask instead, and the model's log-density is −inf where it is False.

Validation is on by default and can be switched off globally (:func:`set_validation`) or per
model (``Model(validate_args=False)``), the convention of ``torch.distributions``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..types import Domain, TensorType

__all__ = ["check_static", "set_validation", "validation_enabled", "value_mask", "within"]

_enabled = True


def set_validation(enabled: bool) -> None:
    """Switch input validation on or off for every model whose ``validate_args`` is None."""
    global _enabled
    if not isinstance(enabled, bool):
        raise TypeError(f"set_validation takes True or False, got {enabled!r}")
    _enabled = enabled


def validation_enabled() -> bool:
    """The global default (True unless :func:`set_validation` turned it off)."""
    return _enabled


def check_static(names: Sequence[str], types: Sequence[TensorType], values: Sequence[object]) -> None:
    """Refuse a value whose rank, shape or dtype kind does not fit its declared type, or a set
    of values that disagree on the batch size. ``values`` are ``(B, *shape)`` tensors (a
    context not given is caught by the caller, which knows it is required)."""
    batches: list[tuple[str, int]] = []
    for name, declared, value in zip(names, types, values, strict=True):
        if not isinstance(value, Tensor):
            raise ValueError(f"{name}: expected a tensor of {declared}, got {type(value).__name__}")
        shape = tuple(value.shape)
        if len(shape) != len(declared.shape) + 1 or shape[1:] != declared.shape:
            raise ValueError(
                f"{name}: expected {declared} (batch first: [B, {', '.join(map(str, declared.shape))}]), "
                f"got {_described(value)}"
            )
        kind = _dtype_problem(declared.domain, value)
        if kind is not None:
            raise ValueError(f"{name}: expected {declared}, got {_described(value)}: {kind}")
        batches.append((name, shape[0]))
    # Compared pairwise, not through a set: while exporting, a batch size is a symbolic int,
    # which can be compared (a guard) but not hashed.
    if any(batch != batches[0][1] for _, batch in batches[1:]):
        sizes = ", ".join(f"{name} has {batch}" for name, batch in batches)
        raise ValueError(f"the inputs and contexts must share one batch size: {sizes} rows")


def within(domain: Domain, value: Tensor) -> Tensor:
    """Per-entry bool tensor: whether each entry lies in ``domain``. A continuous domain is
    taken with its finite ends: a value rounded onto an end of an open interval (a pixel at
    exactly 0 of `unit`) is accepted, as the runtime moves such points inside without adding
    mass (docs/catalogue.md); ±inf and NaN never are."""
    if domain.is_discrete:
        return (value >= 0) & (value < domain.classes)
    return torch.isfinite(value) & (value >= domain.lo) & (value <= domain.hi)


def value_mask(names: Sequence[str], types: Sequence[TensorType], values: Sequence[Tensor]) -> Tensor | None:
    """Eager mode: raise a ValueError on the first value holding entries outside its declared
    domain, and return None. While compiling: the ``(B,)`` mask of examples whose every entry
    lies in its domain (no data-dependent Python)."""
    compiling = torch.compiler.is_compiling()
    mask: Tensor | None = None
    for name, declared, value in zip(names, types, values, strict=True):
        inside = within(declared.domain, value)
        if compiling:
            rows = inside.reshape(value.shape[0], -1).all(dim=1)
            mask = rows if mask is None else mask & rows
        elif not bool(inside.all()):
            raise ValueError(_outside(name, declared, value, inside))
    return mask


def _dtype_problem(domain: Domain, value: Tensor) -> str | None:
    if domain.is_discrete:
        if value.is_floating_point() or value.is_complex():
            return (
                f"int<{domain.classes}> holds integers (category indices or pixel levels), "
                f"not floats; pass them as an integer tensor, e.g. `x.long()` for whole-number floats, "
                f"or `(x * {domain.classes - 1}).round().long()` for values scaled to [0, 1] (what an image loader's "
                "ToTensor gives)"
            )
        return None
    if not value.is_floating_point():
        return f"{domain} holds real numbers: pass a floating-point tensor (e.g. `x.float()`)"
    return None


def _described(value: Tensor) -> str:
    """`float32 [16, 3, 32, 32]`."""
    return f"{str(value.dtype).removeprefix('torch.')} [{', '.join(map(str, value.shape))}]"


def _outside(name: str, declared: TensorType, value: Tensor, inside: Tensor) -> str:
    """`x: expected int<256>[3, 32, 32], but 12 entries in 3 of 16 rows lie outside
    {0, …, 255}, e.g. 1000 at row 2, entry [0, 5, 7]`."""
    bad = ~inside
    count = int(bad.sum())
    rows = int(bad.reshape(value.shape[0], -1).any(dim=1).sum())
    first = [int(i) for i in bad.nonzero()[0]]
    example = value[tuple(first)].item()
    entry = f", entry [{', '.join(map(str, first[1:]))}]" if len(first) > 1 else ""
    domain = declared.domain
    where = f"{{0, …, {domain.classes - 1}}}" if domain.is_discrete else _interval_words(domain)
    return (
        f"{name}: expected {declared}, but {count} {'entry' if count == 1 else 'entries'} in {rows} of "
        f"{value.shape[0]} rows lie outside {where}, e.g. {example!r} at row {first[0]}{entry} "
        "(switch the check off with validate_args=False or survae_dsl.nn.set_validation(False))"
    )


def _interval_words(domain: Domain) -> str:
    """`unit (values in [0, 1])`, `positive (finite values ≥ 0)`, `real (finite values)`."""
    lo, hi = domain.lo, domain.hi
    if math.isfinite(lo) and math.isfinite(hi):
        return f"{domain} (values in [{lo:g}, {hi:g}])"
    if math.isfinite(lo):
        return f"{domain} (finite values ≥ {lo:g})"
    if math.isfinite(hi):
        return f"{domain} (finite values ≤ {hi:g})"
    return f"{domain} (finite values)"
