"""Pass 5: the likelihood class (docs/language.md, What the checker enforces) and the reasons for it."""

from __future__ import annotations

from ..catalogue import OpEntry
from ..ir.checked import EXACT, LOWER_BOUND, Bound, Likelihood, ModelDist, Reason
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
