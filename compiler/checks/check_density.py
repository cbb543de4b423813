"""Pass 4: linear density accounting (docs/language.md, Statements).

Every flow tensor must be consumed exactly once — by an op or by a `~`. A tensor never
consumed loses its density (E401); one consumed twice would count it twice (E402, at the
second use).
"""

from __future__ import annotations

from ..catalogue import OP_TABLE
from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..core.domains import TensorType
from ..core.source import Span
from ..ir.graph import ContextNode, DistNode, ModelIR, OpNode


def check_density(model: ModelIR, types: dict[str, TensorType]) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    context_tensors, context_side = model.context_tensors(), model.context_side()
    mixed: set[str] = set()  # ops already reported for joining the flow with a context-side tensor
    for tensor, definition in model.tensors.items():
        uses = model.consumers(tensor)
        if tensor in context_tensors:  # read, never consumed: no E401/E402
            for use in uses:
                if use[0] in context_side:
                    continue
                if _maps_contexts(model, use[0]):  # a structural op or `embed`: it meets the flow
                    if use[0] not in mixed:
                        mixed.add(use[0])
                        diagnostics.append(_context_meets_flow(model, tensor, *use))
                elif isinstance(model.payload(definition.producer), ContextNode):
                    diagnostics.append(_context_consumed(model, definition.name, *use))
                else:
                    diagnostics.append(_derived_consumed(model, tensor, *use))
            continue
        diagnostics += [_flow_into_context_net(model, tensor, *use) for use in uses if _context_only(model, use[0])]
        if len(uses) == 1:  # the usual case: nothing to report (and no type text to build)
            continue
        described = f"`{definition.name}` ({types[tensor]})" if tensor in types else f"`{definition.name}`"
        if not uses and tensor in types and not _after_context_error(model, definition.producer, context_tensors):
            # (an untyped tensor follows an error already reported)
            diagnostics.append(
                error(
                    codes.E401,
                    definition.span,
                    f"tensor {described} is never consumed: its density would be lost",
                    f"give it a distribution (`{definition.name} ~ standard_normal()`) or pass it to an op",
                    label="defined here",
                )
            )
        for consumer, position in uses[1:]:
            first = _use_span(model, *uses[0])
            diagnostics.append(
                error(
                    codes.E402,
                    _use_span(model, consumer, position),
                    f"tensor {described} is consumed a second time: its density would be counted twice",
                    "consume each tensor once; transform it and rebind the name instead (`h = f(h)`)",
                    label="second use",
                    notes=((first, "first consumed here"),),
                )
            )
    return diagnostics


def _context_consumed(model: ModelIR, name: str, node: str, position: int) -> Diagnostic:
    return error(
        codes.E409,
        _use_span(model, node, position),
        f"`{name}` is a context: the model is conditioned on it, so it cannot be transformed or given a density",
        f"read it with `context={name}` (on a coupling or a conditional distribution), or declare it with `input`",
    )


def _maps_contexts(model: ModelIR, node: str) -> bool:
    """Whether `node` is an op that may map contexts (a structural op, `embed`)."""
    payload = model.payload(node)
    if not isinstance(payload, OpNode) or payload.op in model.user_ops:
        return False
    entry = OP_TABLE.get(payload.op)
    return entry is not None and entry.runs_on_contexts


def _after_context_error(model: ModelIR, node: str, context_tensors: frozenset[str]) -> bool:
    """Whether `node` made its outputs from a context-side tensor it may not take (E409,
    E412), or is a context net on the flow (E412): its outputs' E401 would only repeat that."""
    payload = model.payload(node)
    if not isinstance(payload, OpNode):
        return False
    return _context_only(model, node) or any(t in context_tensors for t in payload.inputs)


def _context_only(model: ModelIR, node: str) -> bool:
    payload = model.payload(node)
    entry = OP_TABLE.get(payload.op) if isinstance(payload, OpNode) and payload.op not in model.user_ops else None
    return entry is not None and entry.context_only


def context_roots(model: ModelIR, tensor: str) -> list[str]:
    """The names of the contexts `tensor` is computed from, in declaration order."""
    seen, todo, roots = set(), [tensor], set()
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        payload = model.payload(model.tensors[t].producer)
        if isinstance(payload, ContextNode):
            roots.add(payload.name)
        elif isinstance(payload, OpNode):
            todo += payload.inputs
    return [c.name for c in model.context_nodes() if c.name in roots]


def _derived(model: ModelIR, tensor: str) -> str:
    """Where a context-side tensor comes from: "computed from the context `c` (line 4)"."""
    roots = context_roots(model, tensor)
    which = ("context " if len(roots) == 1 else "contexts ") + " and ".join(f"`{r}`" for r in roots)
    return f"computed from the {which} (line {model.tensors[tensor].span.line})"


def _derived_consumed(model: ModelIR, tensor: str, node: str, position: int) -> Diagnostic:
    payload = model.call(node)
    what = f"transformed by `{payload.op}`" if isinstance(payload, OpNode) else f"given a density (`~ {payload.dist}`)"
    name = model.tensors[tensor].name
    return error(
        codes.E409,
        _use_span(model, node, position),
        f"`{name}` is {_derived(model, tensor)}: the model is conditioned on it, so it cannot be {what}",
        f"read it with `context={name}` (on a coupling or a conditional distribution); a context and what is "
        "derived from it pass only through structural ops (`squeeze2d`, `reshape`, `split`, ...) and `embed`",
    )


def _context_meets_flow(model: ModelIR, tensor: str, node: str, position: int) -> Diagnostic:
    payload = model.call(node)
    assert isinstance(payload, OpNode)
    flow = [model.tensors[t].name for t in payload.inputs if t not in model.context_tensors()]
    joined = ", ".join(f"`{f}`" for f in flow)
    name = model.tensors[tensor].name
    return error(
        codes.E412,
        _use_span(model, node, position),
        f"`{payload.op}` mixes the flow tensor{'s' * (len(flow) != 1)} {joined} with `{name}`, "
        f"{_derived(model, tensor)}: "
        "values computed from the context would enter the flow and be given a density from nothing",
        f"read `{name}` with `context={name}` (a coupling or a conditional distribution) instead of joining it "
        "to the flow; declare it with `input` if it is data to be modelled",
    )


def _flow_into_context_net(model: ModelIR, tensor: str, node: str, position: int) -> Diagnostic:
    op = model.call(node)
    assert isinstance(op, OpNode)
    name = model.tensors[tensor].name
    return error(
        codes.E412,
        _use_span(model, node, position),
        f"`{op.op}` is a context net, but `{name}` is a flow tensor: its density would be lost in a map "
        "that gives none",
        f"apply `{op.op}` to a `context` (or to what structural ops and context nets make from one); to "
        f"condition on `{name}`, read it with `context={name}`",
    )


def _use_span(model: ModelIR, node: str, position: int) -> Span:
    payload = model.payload(node)
    if isinstance(payload, OpNode) and position < len(payload.input_spans):
        return payload.input_spans[position]
    if isinstance(payload, DistNode) and payload.input_span is not None:
        return payload.input_span
    return payload.span
