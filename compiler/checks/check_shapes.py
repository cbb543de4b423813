"""Pass 2: infer every tensor's shape from the inputs through each op's shape rule.

The same pass checks the shapes of what each op builds (its `slots`): that every net can
connect the shapes it is given, and that a nested distribution's net can read its context.
"""

from __future__ import annotations

import math

from ..catalogue import DistSlot, NetSlot, OpEntry, ShapeError
from ..catalogue.base import Shape, op_slots
from ..catalogue.rules import params_out, show
from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..ir.checked import Bound, BoundNet, ModelDist
from ..ir.graph import ContextNode, DistNode, InputNode, ModelIR, OpNode
from ..lowering.lower import MAX_TENSOR_ENTRIES, count_text, shape_text
from .composition import fit_shapes


def check_shapes(model: ModelIR, bound: dict[str, Bound]) -> tuple[dict[str, Shape], list[Diagnostic]]:
    """Shapes by tensor id (tensors downstream of an error are left out) and diagnostics."""
    shapes: dict[str, Shape] = {}
    diagnostics: list[Diagnostic] = []
    for node in model.graph.nodes:  # insertion order is a topological order: names are defined before use
        payload = model.payload(node)
        if isinstance(payload, (InputNode, ContextNode)):
            shapes[payload.tensor] = payload.shape
        elif isinstance(payload, OpNode) and node in bound and all(t in shapes for t in payload.inputs):
            _infer_op(payload, bound[node], shapes, diagnostics)
        elif isinstance(payload, DistNode) and node in bound and payload.input in shapes:
            _check_dist(payload, bound[node], shapes, diagnostics)
    return shapes, diagnostics


def _check_dist(node: DistNode, call: Bound, shapes: dict[str, Shape], out: list[Diagnostic]) -> None:
    """A used model must fit the tensor; a conditional `~`'s net reads the context and gives
    parameters for the tensor."""
    if isinstance(call.entry, ModelDist):
        problem = fit_shapes(call.entry, shapes[node.input], shapes.get(node.context or ""))
        if problem:
            out.append(
                error(codes.E310, node.callee_span, problem, "a used model's input must have the shape of the tensor")
            )
        return
    if node.context is None or node.context not in shapes or "net" not in call.nets:
        return
    try:
        check_net(call.nets["net"], NetSlot(shapes[node.context], params_out(1, shapes[node.input])), "net", node.dist)
    except ShapeError as exc:
        kwarg = node.kwarg("net")
        out.append(error(exc.code, kwarg.span if kwarg else node.span, exc.message, exc.hint))


def _infer_op(node: OpNode, call: Bound, shapes: dict[str, Shape], out: list[Diagnostic]) -> None:
    entry = call.entry
    assert isinstance(entry, OpEntry)
    inputs = tuple(shapes[t] for t in node.inputs)
    try:
        results = entry.infer_shape(inputs, call.params)
        for key, slot in op_slots(entry, inputs, call.params, shapes.get(node.context or "")).items():
            _check_slot(key, slot, call)
    except ShapeError as exc:
        kwarg = node.kwarg(exc.param) if exc.param else None
        out.append(error(exc.code, kwarg.span if kwarg else node.span, exc.message, exc.hint))
        return
    too_large = next((s for s in results if math.prod(s) > MAX_TENSOR_ENTRIES), None)
    if too_large is not None:
        # Before anything downstream sees the shape: its tensors stay without one, as after
        # any shape error, so nets and distributions are never sized from it.
        out.append(
            error(
                codes.E503,
                node.span,
                f"`{node.op}` makes a tensor of shape {shape_text(too_large)}: {count_text(math.prod(too_large))} "
                f"entries per example, over the limit of 2**40 ({MAX_TENSOR_ENTRIES:,})",
                "check the sizes the op is given (`size=`, `shape=`) and its inputs' shapes: it is usually a typo",
            )
        )
        return
    for tensor, shape in zip(node.outputs, results, strict=True):
        shapes[tensor] = shape


def _check_slot(key: str, slot: NetSlot | DistSlot, call: Bound) -> None:
    """ShapeError (pointing at keyword `key`) if the net or distribution at `key` cannot
    take the slot's shapes."""
    if isinstance(slot, NetSlot):
        check_net(call.nets[key], slot, key, call.entry.name)
        return
    dist = call.dists.get(key)
    if dist is not None and isinstance(dist.entry, ModelDist):
        problem = fit_shapes(dist.entry, slot.event, slot.context)
        if problem:
            raise ShapeError(
                codes.E310, problem, f"declare `{dist.entry.name}`'s input with the shape `{key}` models", param=key
            )
        return
    if dist is not None and "net" in dist.nets:
        # Parameter counts do not change which shapes a net can connect: check with one per entry.
        check_net(dist.nets["net"], NetSlot(slot.context, params_out(1, slot.event)), key, call.entry.name)


def check_net(net: BoundNet, slot: NetSlot, key: str, owner: str) -> None:
    if slot.autoregressive != net.entry.autoregressive:
        wanted = "a masked net, `made(...)`" if slot.autoregressive else "a net that sees all its inputs (`mlp`, ...)"
        raise ShapeError(
            codes.E309,
            f"`{owner}` needs {wanted} for `{key}`, found `{net.entry.name}`",
            "`made` keeps each output from seeing later inputs: the autoregressive layers "
            "(`affine_autoregressive`, `spline_autoregressive`) need it, and every other op needs a net that "
            "sees all its inputs",
            param=key,
        )
    try:
        net.entry.check(net.params, slot.in_shape, slot.out_shape)
    except ShapeError as exc:
        raise ShapeError(exc.code, exc.message, exc.hint, param=key) from None
    _check_context_space(net, slot, owner)


def _check_context_space(net: BoundNet, slot: NetSlot, owner: str) -> None:
    """E311 where a net that keeps space reads a context with axes of its own at another
    size: the runtime would flatten it and broadcast every value as a channel of its own."""
    context, space = slot.context, slot.in_shape[1:]
    if not net.entry.keeps_space or context is None or not space or len(context) < 2 or context[1:] == space:
        return
    flat = math.prod(context)
    raise ShapeError(
        codes.E311,
        f"`{owner}`'s `{net.entry.name}` net works at {show(space)} but reads a context of shape {show(context)}: "
        f"it would be flattened into {flat:,} values and each broadcast as a channel over every position",
        f"declare the context at the net's size ({show(context[:1] + space)}), or flat (`[{flat}]`) "
        "if every value is meant to reach every position",
        param="context",
    )
