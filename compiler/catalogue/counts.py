"""Parameter counts, computed without torch: what each catalogue entry's `parameters` formula is.

An entry's formula gives the number of scalar parameters (the sum of `numel` of every
`nn.Parameter`) of the runtime object that `snn.<runtime>(**kwargs)` builds, from the
constructor's keywords (defaults included, as in `survae_dsl/nn`). Nested objects (nets,
encoders, decoders, used models) are counted by the `nested` callback the back end passes in.
A count is None where it cannot be known without running user code.

The formulas are checked against the built modules by `tests/test_param_count.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Count = int | None
CountKwargs = dict[str, Any]
# Counts a keyword's nested object (a Construct, a used model, or None for none).
Nested = Callable[[Any], Count]
# (the constructor's keywords, the nested-object counter) → the count.
Formula = Callable[[CountKwargs, Nested], Count]


def add_counts(*counts: Count) -> Count:
    """The sum, or None if any part is unknown."""
    known = [c for c in counts if c is not None]
    return sum(known) if len(known) == len(counts) else None


def numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def dense(width_in: int, width_out: int) -> int:
    """`nn.Linear(width_in, width_out)`: weight and bias."""
    return width_in * width_out + width_out


def conv(width_in: int, width_out: int, kernel: int, spatial_dims: int) -> int:
    """`nn.Conv1d`/`nn.Conv2d(width_in, width_out, kernel)`: weight and bias."""
    window: int = kernel**spatial_dims  # int ** int is typed Any (a negative power is a float)
    return width_in * width_out * window + width_out


def chain(widths: tuple[int, ...], layer: Callable[[int, int], int]) -> int:
    """Layers between consecutive widths."""
    return sum(layer(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))


def no_parameters(_k: CountKwargs, _nested: Nested) -> Count:
    """A layer without parameters (fixed maps, structural ops, StandardNormal, ...)."""
    return 0


def with_net(k: CountKwargs, nested: Nested) -> Count:
    """A layer whose only parameters are its net's (couplings, autoregressive flows)."""
    return nested(k["net"])


def nested_only(*keys: str) -> Formula:
    """A layer whose parameters are those of its nested objects under `keys` (None: none)."""

    def formula(k: CountKwargs, nested: Nested) -> Count:
        return add_counts(*(nested(k.get(key)) for key in keys))

    return formula


def own_or_net(per_entry: Callable[[CountKwargs], int]) -> Formula:
    """A distribution with `per_entry(k)` learned numbers per entry of its shape, or, with
    `net=`, only its net's parameters."""

    def formula(k: CountKwargs, nested: Nested) -> Count:
        if k.get("net") is not None:
            return nested(k["net"])
        return per_entry(k) * numel(k["shape"])

    return formula


def activation_factor(name: str) -> int:
    """How many times an activation multiplies the width the next layer reads: `concat_elu`
    (elu of [h, −h]) doubles it, every elementwise activation keeps it."""
    return 2 if name == "concat_elu" else 1


def norm_parameters(kind: str, width: int) -> int:
    """A net's normalisation layer over `width` features or channels: BatchNorm, LayerNorm and
    GroupNorm(1, C) each learn a scale and a shift per channel (running statistics are
    buffers, not parameters); `none` has none."""
    return 0 if kind == "none" else 2 * width


def conv_space(space: tuple[int, ...], stride: int = 1, upsample: int = 1) -> tuple[int, ...]:
    """The spatial sizes a convolutional net with odd kernels gives for input sizes `space`:
    its first convolution at `stride` s with padding ⌊k/2⌋ maps L to ⌈L/s⌉, and nearest
    upsampling by u multiplies by u (`survae_dsl.nn.nets.conv_out_size`, the same formula)."""
    return tuple(-(-size // stride) * upsample for size in space)
