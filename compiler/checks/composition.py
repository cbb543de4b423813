"""Models used as distributions by other models (docs/language.md, What the checker enforces).

A model of the file may stand wherever a distribution is expected: `h ~ Prior()`,
`dequantize(x, encoder=Noise)`, `vae(..., decoder=Decoder)`. To the checker it is a
distribution entry whose support is the used model's input domain; the generated code wraps
a fresh instance of the used class in `snn.AsDistribution`, so each use has its own weights.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
from pydantic import Field, create_model

from ..catalogue import Params, TensorRef
from ..catalogue.base import Shape
from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..core.source import Span
from ..ir.checked import CheckedModel, ModelDist
from ..ir.graph import DistNode, ModelIR, OpNode

NESTED_DISTRIBUTION_KEYS = ("encoder", "decoder")


def model_entry(model: CheckedModel) -> ModelDist:
    """The distribution entry of a checked model with one input and at most one context."""
    context_names = [p.name for p in model.ir.context_nodes()]
    fields: dict[str, Any] = {
        name: (TensorRef | None, Field(default=None, description="the tensor it is conditioned on"))
        for name in context_names
    }
    params = create_model(f"{model.name}Use", __base__=Params, **fields)
    (tensor,) = (p.tensor for p in model.ir.input_nodes())
    t = model.types[tensor]
    return ModelDist(
        name=model.name,
        params=params,
        runtime="AsDistribution",
        support=t.domain,
        discrete=t.domain.is_discrete,
        summary=f"the model `{model.name}` used as a distribution",
        maths="log p(x) = the used model's log_prob (a lower bound if it is one)",
        model=model,
    )


def unfit(model: CheckedModel, span: Span) -> Diagnostic | None:
    """E310 if the model cannot be used as a distribution at all (several inputs, contexts)."""
    if len(model.ir.inputs) != 1:
        return error(
            codes.E310,
            span,
            f"model `{model.name}` has {len(model.ir.inputs)} inputs; a model used as a distribution models one tensor",
            "give it a single `input`",
        )
    if len(model.ir.contexts) > 1:
        return error(
            codes.E310,
            span,
            f"model `{model.name}` declares {len(model.ir.contexts)} contexts; a used model may read at most one",
            "join them into one context tensor",
        )
    return None


def uses(model: ModelIR, names: set[str]) -> list[tuple[str, Span]]:
    """The other models of the file that `model` uses, with where, in source order."""
    found: list[tuple[str, Span]] = []
    for node in model.graph.nodes:
        payload = model.payload(node)
        if isinstance(payload, DistNode) and payload.dist in names:
            found.append((payload.dist, payload.callee_span))
        elif isinstance(payload, OpNode):
            for kw in payload.kwargs:
                if kw.name not in NESTED_DISTRIBUTION_KEYS:
                    continue
                name = kw.value.name if hasattr(kw.value, "name") else kw.value
                if isinstance(name, str) and name in names:
                    found.append((name, kw.span))
    return found


def check_order(models: list[ModelIR]) -> tuple[list[ModelIR], list[Diagnostic]]:
    """The models in an order where each comes after those it uses; E504 for a cycle (those
    models are left out)."""
    names = {m.name for m in models}
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(m.name for m in models)
    where: dict[tuple[str, str], Span] = {}
    for model in models:
        for used, span in uses(model, names):
            graph.add_edge(used, model.name)
            where.setdefault((used, model.name), span)
    diagnostics: list[Diagnostic] = []
    cyclic: set[str] = set()
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 or any(graph.has_edge(n, n) for n in component):
            cycle = [v for _, v in nx.find_cycle(graph.subgraph(component))]
            user, used = cycle[0], cycle[-1]
            chain = " → ".join([*cycle, cycle[0]])
            diagnostics.append(
                error(
                    codes.E504,
                    where.get((used, user), next(iter(where.values()))),
                    f"model `{user}` uses itself ({chain})",
                    "a model cannot be its own prior, encoder or decoder, directly or through others",
                )
            )
            cyclic |= component
    position = {m.name: i for i, m in enumerate(models)}
    acyclic = graph.subgraph(names - cyclic)
    order = list(nx.lexicographical_topological_sort(acyclic, key=lambda n: position[n]))
    by_name = {m.name: m for m in models}
    return [by_name[n] for n in order], diagnostics


def fit_shapes(entry: ModelDist, event: Shape, context: Shape | None) -> str | None:
    """Why a used model cannot model a tensor of shape `event` given a context of shape
    `context` (None if it can)."""
    own = entry.input_type.shape
    if own != event:
        return f"model `{entry.name}` models {_show(own)} tensors, but here it is given one of shape {_show(event)}"
    if entry.context is not None and context is not None and entry.context[1] != context:
        name, shape = entry.context
        return (
            f"model `{entry.name}` reads a context `{name}` of shape {_show(shape)}, "
            f"but here it would read one of shape {_show(context)}"
        )
    return None


def _show(shape: Shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"
