"""Pass 2: infer every tensor's shape from the inputs through each op's shape rule."""

from __future__ import annotations

from .catalogue import OpEntry, ShapeError
from .check_args import Bound
from .diagnostics import Diagnostic, error
from .ir import InputNode, ModelIR, OpNode


def check_shapes(model: ModelIR, bound: dict[str, Bound]) -> tuple[dict[str, tuple[int, ...]], list[Diagnostic]]:
    """Shapes by tensor id (tensors downstream of an error are left out) and diagnostics."""
    shapes: dict[str, tuple[int, ...]] = {}
    diagnostics: list[Diagnostic] = []
    for node in model.graph.nodes:  # insertion order is a topological order: names are defined before use
        payload = model.payload(node)
        if isinstance(payload, InputNode):
            shapes[payload.tensor] = payload.shape
        elif isinstance(payload, OpNode) and node in bound and all(t in shapes for t in payload.inputs):
            _infer_op(payload, bound[node], shapes, diagnostics)
    return shapes, diagnostics


def _infer_op(node: OpNode, call: Bound, shapes: dict[str, tuple[int, ...]], out: list[Diagnostic]) -> None:
    entry = call.entry
    assert isinstance(entry, OpEntry)
    try:
        result = entry.infer_shape(shapes[node.inputs[0]], call.params)
    except ShapeError as exc:
        kwarg = node.kwarg(exc.param) if exc.param else None
        out.append(error(exc.code, kwarg.span if kwarg else node.span, exc.message, exc.hint))
        return
    for tensor in node.outputs:
        shapes[tensor] = result
