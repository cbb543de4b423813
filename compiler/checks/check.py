"""The checks' driver: runs the passes over each lowered model and builds `CheckedModel`s.

Passes return diagnostics instead of raising; the driver collects all of them so that one run
reports every error of a file, in source order. The parameter limit (E506) counts with the
code generator, so the drivers (`drivers/driver.py`) run it after these passes.
"""

from __future__ import annotations

import networkx as nx

from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..ir.checked import CheckedModel
from ..ir.graph import DistNode, ModelIR, OpNode
from .check_args import check_args
from .check_density import check_density
from .check_domains import check_domains
from .check_shapes import check_shapes
from .likelihood import infer_likelihood, infer_notes


def check_model(
    model: ModelIR, used: dict[str, CheckedModel | None] | None = None
) -> tuple[CheckedModel | None, list[Diagnostic]]:
    """The checked model (None if any error) and every diagnostic, warnings included.

    `used`: the file's models checked so far, which this one may use as distributions."""
    bound, diagnostics = check_args(model, used)
    shapes, shape_diags = check_shapes(model, bound)
    domains = check_domains(model, bound, shapes)
    diagnostics += shape_diags + domains.diagnostics + check_density(model, domains.types)
    likelihood, reasons = infer_likelihood(model, bound, domains.leaks)
    order, cycle = schedule_sampling(model)
    if cycle is not None:
        diagnostics.append(cycle)
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
        sampling_order=order,
        notes=infer_notes(model, bound),
    )
    return checked, diagnostics


def generative_graph(model: ModelIR) -> nx.DiGraph[str]:
    """The generative dependencies of docs/language.md, What the checker enforces, between ops and `~` statements.

    In the sampling direction a tensor becomes available when the node that consumed it runs
    backwards (the op's inverse, or the `~` drawing it); a `context` declaration and what
    context-side ops make from it are given. A
    node needs its outputs (an op's inverse) and the tensor it reads with `context=`. Edge
    u → v, labelled with the tensor, means u makes a tensor that v needs.
    """
    graph: nx.DiGraph[str] = nx.DiGraph()
    maker: dict[str, str] = {}
    # Ops computed from contexts alone run before the flow in both directions: their outputs,
    # like the contexts, are available from the start (docs/language.md, Conditioning).
    context_side = model.context_side()
    for node in model.graph.nodes:
        payload = model.payload(node)
        if isinstance(payload, (OpNode, DistNode)) and node not in context_side:
            graph.add_node(node)
            for tensor in payload.inputs if isinstance(payload, OpNode) else (payload.input,):
                maker.setdefault(tensor, node)
    for node in graph.nodes:
        payload = model.call(node)
        needs = list(payload.outputs) if isinstance(payload, OpNode) else []
        if payload.context is not None:
            needs.append(payload.context)
        for tensor in needs:
            if tensor in maker:
                graph.add_edge(maker[tensor], node, tensor=tensor)
    return graph


def schedule_sampling(model: ModelIR) -> tuple[list[str], Diagnostic | None]:
    """A topological order of the generative graph (ties: latest in the source first, so a
    chain reads backwards), or an E408 naming a cycle."""
    graph = generative_graph(model)
    # is_directed_acyclic_graph is linear; find_cycle on an acyclic graph was quadratic and
    # made the compile time of a 1,000-op model grow with the square of its size.
    if nx.is_directed_acyclic_graph(graph):
        position = {node: i for i, node in enumerate(model.graph.nodes)}
        return list(nx.lexicographical_topological_sort(graph, key=lambda n: -position[n])), None
    cycle = nx.find_cycle(graph)
    steps = []
    for maker, needer, *_ in cycle:
        tensor = model.tensors[graph.edges[maker, needer]["tensor"]].name
        steps.append(f"{_describe(model, needer)} needs `{tensor}`, which only {_describe(model, maker)} can sample")
    first = model.payload(cycle[0][1])
    return [], error(
        codes.E408,
        first.span,
        "the model cannot be sampled: " + "; ".join(steps),
        "a tensor read with `context=` must be one that can be sampled before the reader runs backwards: "
        "read a part the flow does not transform (e.g. the other half of a `split`)",
    )


def _describe(model: ModelIR, node: str) -> str:
    payload = model.call(node)
    what = f"`{payload.op}`" if isinstance(payload, OpNode) else f"`~ {payload.dist}`"
    return f"{what} (line {payload.span.line})"
