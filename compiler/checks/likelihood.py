"""Pass 5: the likelihood class (docs/language.md, What the checker enforces) and the reasons for it."""

from __future__ import annotations

from ..catalogue import OpEntry
from ..ir.checked import EXACT, LOWER_BOUND, Bound, BoundNet, Likelihood, ModelDist, Reason
from ..ir.graph import ModelIR
from .check_domains import Leak


def infer_likelihood(model: ModelIR, bound: dict[str, Bound], leaks: list[Leak]) -> tuple[Likelihood, list[Reason]]:
    """("exact" | "lower_bound", reasons in source order, one per op line and leak)."""
    reasons: dict[str, Reason] = {}
    for node, call in bound.items():
        entry = call.entry
        if isinstance(entry, OpEntry) and not entry.kind.exact:
            span = model.payload(node).span
            message = (
                f"`{entry.name}` at line {span.line} is {entry.kind.label}: "
                "`log_prob` is a one-sample lower bound (ELBO)"
            )
            reasons.setdefault(message, Reason("op", entry.name, span, message))
        for used in [call.entry, *(d.entry for d in call.dists.values())]:
            if isinstance(used, ModelDist) and used.model.likelihood != EXACT:
                span = model.payload(node).span
                message = f"the model `{used.name}` used at line {span.line} is a lower bound"
                reasons.setdefault(message, Reason("model", used.name, span, message))
    for leak in leaks:
        message = leak.message()
        reasons.setdefault(message, Reason("leak", leak.consumer, leak.span, message))
    ordered = sorted(reasons.values(), key=lambda r: (r.span.line, r.span.column))
    return (LOWER_BOUND if ordered else EXACT), ordered


def infer_notes(model: ModelIR, bound: dict[str, Bound]) -> list[Reason]:
    """Caveats on exact ops that keep the likelihood class (an entry's `note`: `batchnorm` is
    exact in evaluation mode only), one per op line, in source order."""
    notes: dict[str, Reason] = {}
    for node, call in bound.items():
        entry = call.entry
        if isinstance(entry, OpEntry) and entry.note is not None:
            span = model.payload(node).span
            message = f"`{entry.name}` at line {span.line} {entry.note}"
            notes.setdefault(message, Reason("note", entry.name, span, message))
        for owner, net in _nets(call):
            text = net.entry.note(net.params)
            if text is not None:
                span = model.payload(node).span
                message = f"the `{net.entry.name}` net of `{owner}` at line {span.line} {text}"
                notes.setdefault(message, Reason("note", net.entry.name, span, message))
    return sorted(notes.values(), key=lambda r: (r.span.line, r.span.column))


def _nets(call: Bound) -> list[tuple[str, BoundNet]]:
    """The nets of a call and of the distributions nested in it, each with its owner's name."""
    found = [(call.entry.name, net) for net in call.nets.values()]
    for dist in call.dists.values():
        found += _nets(dist)
    return found
