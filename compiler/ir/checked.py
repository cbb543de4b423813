"""The records the checks produce and the back ends read: calls bound to catalogue entries,
used models as distributions, the likelihood class and its reasons, and the checked model.

They live below both (the back ends never import the checks), so they only hold data: the
checks in `checks/` fill them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal

from ..catalogue import DistEntry, NetEntry, OpEntry, UserImpl
from ..catalogue.base import Shape
from ..core.diagnostics import Diagnostic
from ..core.domains import TensorType
from ..core.source import Span
from .graph import ModelIR


@dataclass(frozen=True)
class BoundNet:
    entry: NetEntry
    params: Any


@dataclass(frozen=True)
class Bound:
    """A call bound to its catalogue entry with validated parameters.

    `nets` and `dists` hold the nested calls bound the same way, by keyword (`net=`,
    `encoder=`, `decoder=`); a nested distribution's own net is in its `nets`.
    """

    entry: OpEntry | DistEntry
    params: Any
    nets: dict[str, BoundNet] = field(default_factory=dict)
    dists: dict[str, Bound] = field(default_factory=dict)

    @property
    def user_impl(self) -> UserImpl | None:
        """The user's PyTorch class if this calls a user's `transform`, else None."""
        return self.entry.user_impl if isinstance(self.entry, OpEntry) else None

    def user_impls(self) -> list[tuple[str, str, UserImpl]]:
        """(what, name, class) for every user class this call builds: its own (a user
        `transform`), its nets' and its encoders' and decoders' nets (user `net`s)."""
        found: list[tuple[str, str, UserImpl]] = []
        if self.user_impl is not None:
            found.append(("transform", self.entry.name, self.user_impl))
        for net in self.nets.values():
            if net.entry.user_impl is not None:
                found.append(("net", net.entry.name, net.entry.user_impl))
        for dist in self.dists.values():
            found += dist.user_impls()
        return found


Likelihood = Literal["exact", "lower_bound"]
EXACT: Final = "exact"
LOWER_BOUND: Final = "lower_bound"
ReasonKind = Literal["op", "leak", "model", "note"]  # a non-exact op, a fold leak, a used model that is a bound;
# "note": a caveat on an exact op that keeps the class (`batchnorm` is exact in evaluation mode only)


@dataclass(frozen=True)
class Reason:
    """Why a model is a lower bound: an op that is not exact, or a fold leak."""

    kind: ReasonKind
    op: str
    span: Span
    message: str


@dataclass(frozen=True)
class ModelDist(DistEntry):
    """A used model as a distribution: `model` is its CheckedModel."""

    model: CheckedModel = field(kw_only=True)

    @property
    def input_type(self) -> TensorType:
        (tensor,) = (p.tensor for p in self.model.ir.input_nodes())
        return self.model.types[tensor]

    @property
    def context(self) -> tuple[str, Shape] | None:
        """(name, shape) of the used model's context, if it declares one."""
        for payload in self.model.ir.context_nodes():
            return payload.name, payload.shape
        return None


@dataclass
class CheckedModel:
    """A model that passed every check: what the back ends read."""

    ir: ModelIR
    bound: dict[str, Bound]
    types: dict[str, TensorType]
    likelihood: Likelihood
    reasons: list[Reason]
    warnings: list[Diagnostic]
    inference_order: list[str] = field(default_factory=list)
    sampling_order: list[str] = field(default_factory=list)
    # Caveats that keep the likelihood class (kind "note"): `--check` prints them under `note:`
    notes: list[Reason] = field(default_factory=list)
    # (layer attribute, scalar parameters or None if unknown) per layer, set by the E506 check
    # (the drivers run it: it counts with the code generator)
    parameter_counts: list[tuple[str, int | None]] | None = None

    @property
    def parameter_total(self) -> int | None:
        """Scalar parameters of the whole model; None if unknown (a user transform) or not counted."""
        if self.parameter_counts is None or any(c is None for _, c in self.parameter_counts):
            return None
        return sum(c for _, c in self.parameter_counts if c is not None)

    @property
    def name(self) -> str:
        return self.ir.name

    # The diagram back end is set here by the drivers (a record of the IR layer cannot import a
    # back end): in a notebook a checked model then displays as its diagram.
    svg_renderer: ClassVar[Callable[[list[CheckedModel]], str] | None] = None

    def _repr_svg_(self) -> str | None:
        renderer = CheckedModel.svg_renderer
        return None if renderer is None else renderer([self])

    def uses(self) -> set[str]:
        """This model's name and those of every model it uses, directly or not."""
        names = {self.name}
        for call in self.bound.values():
            for entry in [call.entry, *(d.entry for d in call.dists.values())]:
                if isinstance(entry, ModelDist):
                    names |= entry.model.uses()
        return names
