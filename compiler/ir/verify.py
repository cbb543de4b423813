"""Invariants of the IR graph, checked by the tests after lowering (and usable between passes).

A violation is a compiler bug, never a user error, so this raises `InternalError`.
"""

from __future__ import annotations

import networkx as nx

from ..core.diagnostics import InternalError
from .graph import ContextNode, DistNode, EdgeKind, InputNode, ModelIR, OpNode


def verify_ir(model: ModelIR) -> None:
    """Raise InternalError unless the graph and the tensor table agree."""
    graph = model.graph
    if not isinstance(graph, nx.MultiDiGraph):
        raise InternalError("the IR graph must be a networkx.MultiDiGraph")
    if not nx.is_directed_acyclic_graph(graph):
        raise InternalError(f"the inference graph of {model.name} has a cycle")
    for tensor_id, definition in model.tensors.items():
        if definition.id != tensor_id or definition.producer not in graph:
            raise InternalError(f"tensor {tensor_id} has no producer in the graph")
    for source, target, data in graph.edges(data=True):
        tensor = model.tensors.get(data["tensor"])
        if tensor is None or tensor.producer != source:
            raise InternalError(f"edge {source} -> {target} carries an unknown tensor {data['tensor']}")
        kind, position = data.get("kind"), data.get("position")
        if not isinstance(kind, EdgeKind) or (position is None) != (kind is EdgeKind.READ):
            raise InternalError(f"edge {source} -> {target} has kind {kind!r} and position {position!r}")
    for node in graph.nodes:
        _verify_node(model, node)


def _verify_node(model: ModelIR, node: str) -> None:
    payload = model.payload(node)
    in_edges = [d for _, _, d in model.graph.in_edges(node, data=True)]
    edges = sorted((d["position"], d["tensor"]) for d in in_edges if d["kind"] is EdgeKind.FLOW)
    reads = [d["tensor"] for d in in_edges if d["kind"] is EdgeKind.READ]
    context = payload.context if isinstance(payload, (OpNode, DistNode)) else None
    if reads != ([context] if context is not None else []):
        raise InternalError(f"node {node}: context edges {reads} do not match `context=`")
    if isinstance(payload, OpNode):
        expected = list(enumerate(payload.inputs))
        produced = [t for t, d in model.tensors.items() if d.producer == node]
        if sorted(produced) != sorted(payload.outputs):
            raise InternalError(f"op {node} lists outputs {payload.outputs}, the table {produced}")
    elif isinstance(payload, DistNode):
        expected = [(0, payload.input)]
    elif isinstance(payload, (InputNode, ContextNode)):
        expected = []
    else:
        raise InternalError(f"node {node} has an unknown payload {type(payload).__name__}")
    if edges != expected:
        raise InternalError(f"node {node}: in-edges {edges} do not match its arguments {expected}")
