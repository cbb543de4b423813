"""The checker's driver: runs the passes over each lowered model and builds `CheckedModel`s.

Passes return diagnostics instead of raising; the driver collects all of them so that one run
reports every error of a file, in source order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from .check_args import Bound, check_args
from .check_density import check_density
from .check_domains import check_domains
from .check_shapes import check_shapes
from .diagnostics import Diagnostic
from .domains import TensorType
from .ir import ModelIR
from .likelihood import Reason, infer_likelihood


@dataclass
class CheckedModel:
    """A model that passed every check: what the back ends read."""

    ir: ModelIR
    bound: dict[str, Bound]
    types: dict[str, TensorType]
    likelihood: str
    reasons: list[Reason]
    warnings: list[Diagnostic]
    inference_order: list[str] = field(default_factory=list)
    sampling_order: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.ir.name


def check_model(model: ModelIR) -> tuple[CheckedModel | None, list[Diagnostic]]:
    """The checked model (None if any error) and every diagnostic, warnings included."""
    bound, diagnostics = check_args(model)
    shapes, shape_diags = check_shapes(model, bound)
    domains = check_domains(model, bound, shapes)
    diagnostics += shape_diags + domains.diagnostics + check_density(model, domains.types)
    likelihood, reasons = infer_likelihood(model, bound, domains.leaks)
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    checked = CheckedModel(
        ir=model,
        bound=bound,
        types=domains.types,
        likelihood=likelihood,
        reasons=reasons,
        warnings=[d for d in diagnostics if not d.is_error],
        inference_order=list(model.graph.nodes),
        sampling_order=sampling_order(model),
    )
    return checked, diagnostics


def sampling_order(model: ModelIR) -> list[str]:
    """A topological order of the generative direction (LANGUAGE.md §6.4).

    Each op's inverse needs its outputs, so the generative dependency graph is the inference
    graph reversed; ties are broken by source order, latest first, so chains read backwards.
    """
    position = {node: i for i, node in enumerate(model.graph.nodes)}
    generative = nx.DiGraph(model.graph).reverse(copy=False)
    return list(nx.lexicographical_topological_sort(generative, key=lambda n: -position[n]))
