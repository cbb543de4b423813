"""Compiled `.survae` models as oracle checks: contexts, sizes and one call that integrates
a model at several parameter seeds."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .oracle import MAX_CONTINUOUS, MAX_DISCRETE, Check, InputSpec, check_class, context_rows, input_specs

MAX_MIXED_CELLS = 64  # discrete cells next to continuous inputs (each cell is one integral)


def spec_of_type(name: str, tensor_type: object) -> InputSpec:
    """An `InputSpec` from the checker's `TensorType` (used for contexts, which the compiled
    class does not spell)."""
    domain, shape = tensor_type.domain, tuple(tensor_type.shape)  # type: ignore[attr-defined]  # the checker's TensorType
    if domain.kind == "int":
        return InputSpec(name, shape, "int", classes=domain.classes)
    return InputSpec(name, shape, "interval", domain.lo, domain.hi)


@dataclass(frozen=True)
class ModelInfo:
    """What the checker says about one model besides its class: its contexts, its own
    warning codes, and whether it or a model it uses wastes mass (W401)."""

    contexts: list[InputSpec]
    warnings: list[str]
    waste: bool


def model_info(text: str, filename: str = "model.survae") -> dict[str, ModelInfo]:
    """`ModelInfo` of every model of a source that compiles, by model name."""
    from survae_dsl.compiler.drivers.driver import check_source

    compilation = check_source(text, filename)
    own = {m.name: [d.code for d in m.warnings] for m in compilation.models}
    out = {}
    for model in compilation.models:
        names = [node.split(":", 1)[1] for node in model.ir.contexts]
        waste = any("W401" in own.get(used, []) for used in model.uses())
        out[model.name] = ModelInfo([spec_of_type(n, model.types[n]) for n in names], own[model.name], waste)
    return out


@dataclass(frozen=True)
class Size:
    """How large a model's inputs are for the oracle."""

    continuous: int
    cells: int

    def too_large(self) -> str | None:
        """Why the oracle cannot integrate it, or None."""
        if self.continuous > MAX_CONTINUOUS:
            return f"{self.continuous} continuous dims > {MAX_CONTINUOUS}"
        if self.cells > MAX_DISCRETE:
            # An image of int<256> has 256**3072 cells: too many digits for a float.
            digits = int(math.log10(self.cells))
            return f"about 10^{digits} discrete cells > {MAX_DISCRETE}"
        if self.continuous and self.cells > MAX_MIXED_CELLS:
            return f"{self.cells} discrete cells beside continuous inputs > {MAX_MIXED_CELLS}"
        return None


def size_of(cls: type) -> Size:
    specs = input_specs(cls)
    continuous = sum(s.numel for s in specs if s.continuous)
    cells = math.prod(s.classes**s.numel for s in specs if not s.continuous)
    return Size(continuous, cells)


def contexts_for(specs: Sequence[InputSpec], count: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``count`` fixed context assignments (one row each) for a model's contexts; [] if none."""
    if not specs:
        return []
    rows = {s.name: context_rows(s, count, seed + i) for i, s in enumerate(specs)}
    return [{name: values[i] for name, values in rows.items()} for i in range(count)]


def integrate_class(
    cls: type,
    contexts: Sequence[InputSpec] = (),
    *,
    seeds: Sequence[int] = (0, 1),
    draws: int = 4,
    adjust: Callable[[torch.nn.Module], None] | None = None,
    waste: bool = False,
    likelihood: str | None = None,
) -> list[Check]:
    """The oracle's checks of a compiled class: perturbed parameters at each seed; a
    conditional model gets a different fixed context at each seed."""
    rows = contexts_for(contexts, len(seeds))
    return check_class(cls, seeds=seeds, contexts=rows, draws=draws, adjust=adjust, waste=waste, likelihood=likelihood)


def failures(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if not c.holds]
