"""The `--check` report: per model its likelihood class, the reasons, and every tensor's type."""

from __future__ import annotations

from .check import CheckedModel
from .ir import ContextNode, InputNode
from .likelihood import EXACT

CLASS_WORDS = {EXACT: "exact log-likelihood", "lower_bound": "lower bound"}


def format_report(models: list[CheckedModel]) -> str:
    return "\n\n".join(format_model(m) for m in models) + "\n"


def format_model(model: CheckedModel) -> str:
    lines = [f"{model.name}: {CLASS_WORDS[model.likelihood]}"]
    if model.ir.doc:
        lines.append(f"    doc: {model.ir.doc!r}"[:200])
    if model.reasons:
        lines.append("    because:")
        lines += [f"      - {r.message}" for r in model.reasons]
    lines.append("    tensors:")
    lines += ["      " + row for row in _table(model)]
    return "\n".join(lines)


def _table(model: CheckedModel) -> list[str]:
    rows = [("name", "line", "type", "fills", "fold")]
    for tensor_id, definition in model.ir.tensors.items():
        t = model.types[tensor_id]
        producer = model.ir.payload(definition.producer)
        kind = "input" if isinstance(producer, InputNode) else "context" if isinstance(producer, ContextNode) else ""
        fold = f"{t.fold.region} (from `{t.fold.source}`, line {t.fold.line})" if t.fold else "-"
        name = f"{tensor_id} ({kind})" if kind else tensor_id
        rows.append((name, str(definition.span.line), str(t), "yes" if t.fills else "no", fold))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
