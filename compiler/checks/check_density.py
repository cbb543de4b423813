"""Pass 4: linear density accounting (docs/language.md, Statements).

Every flow tensor must be consumed exactly once — by an op or by a `~`. A tensor never
consumed loses its density (E401); one consumed twice would count it twice (E402, at the
second use).
"""

from __future__ import annotations

from ..core import codes
from ..core.diagnostics import Diagnostic, error
from ..core.domains import TensorType
from ..core.source import Span
from ..ir.graph import ContextNode, DistNode, ModelIR, OpNode


def check_density(model: ModelIR, types: dict[str, TensorType]) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    for tensor, definition in model.tensors.items():
        uses = model.consumers(tensor)
        if isinstance(model.payload(definition.producer), ContextNode):
            diagnostics += [_context_consumed(model, definition.name, *use) for use in uses]
            continue
        if len(uses) == 1:  # the usual case: nothing to report (and no type text to build)
            continue
        described = f"`{definition.name}` ({types[tensor]})" if tensor in types else f"`{definition.name}`"
        if not uses and tensor in types:  # an untyped tensor follows an error already reported
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


def _use_span(model: ModelIR, node: str, position: int) -> Span:
    payload = model.payload(node)
    if isinstance(payload, OpNode) and position < len(payload.input_spans):
        return payload.input_spans[position]
    if isinstance(payload, DistNode) and payload.input_span is not None:
        return payload.input_span
    return payload.span
