"""The `--check` report: per model its likelihood class, the reasons, and every tensor's type."""

from __future__ import annotations

from ..core.domains import Fold
from ..ir.checked import EXACT, LOWER_BOUND, Bound, CheckedModel, Likelihood
from ..ir.graph import ContextNode, InputNode

CLASS_WORDS: dict[Likelihood, str] = {EXACT: "exact log-likelihood", LOWER_BOUND: "lower bound"}


Counts = dict[str, list[tuple[str, "int | None"]]]


def format_report(models: list[CheckedModel], counts: Counts | None = None) -> str:
    """The `--check` text; `counts` (model name → per-layer parameter counts) adds a table of
    the layers with their parameters."""
    return "\n\n".join(format_model(m, (counts or {}).get(m.name)) for m in models) + "\n"


def format_model(model: CheckedModel, counts: list[tuple[str, int | None]] | None = None) -> str:
    lines = [f"{model.name}: {CLASS_WORDS[model.likelihood]}"]
    if model.ir.doc:
        lines.append(f"    doc: {model.ir.doc!r}"[:200])
    if model.reasons:
        lines.append("    because:")
        lines += [f"      - {r.message}" for r in model.reasons]
    if model.notes:
        lines.append("    note:")
        lines += [f"      - {r.message}" for r in model.notes]
    imports = _user_imports(model)
    if imports:
        lines.append("    imports (the generated module runs this code of yours):")
        lines += [f"      - {line}" for line in imports]
    lines.append("    tensors:")
    lines += ["      " + row for row in _table(model)]
    if counts is not None:
        lines.append("    layers:")
        lines += ["      " + row for row in _layers(model, counts)]
    return "\n".join(lines)


def _layers(model: CheckedModel, counts: list[tuple[str, int | None]]) -> list[str]:
    """One row per layer of the generated class: its op, line and parameter count."""
    nodes = [n for n in model.inference_order if n in model.bound]
    rows = [("layer", "line", "op", "parameters")]
    for node, (attr, count) in zip(nodes, counts, strict=True):
        rows.append((attr, str(model.ir.payload(node).span.line), model.bound[node].entry.name, _count(count)))
    known = [c for _, c in counts]
    rows.append(("total", "", "", _count(None if None in known else sum(c for c in known if c is not None))))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    table = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths[:3], strict=True)), row[3].rjust(widths[3])])
        for row in rows
    ]
    reasons = {
        reason: None
        for node, (_attr, count) in zip(nodes, counts, strict=True)
        if count is None
        for reason in _unknown_reasons(model.bound[node])
    }
    return table + [f"unknown: {reason}" for reason in reasons]


def _unknown_reasons(call: Bound) -> list[str]:
    """Why a layer's count is unknown: the user classes it builds that declare no
    `parameters` rule (the compiler never imports them to count), or a used model's."""
    reasons = [
        f"user {what} `{name}` declares no parameter formula"
        for what, name, user in call.user_impls()
        if user.parameters is None
    ]
    return reasons or [f"`{call.entry.name}` runs user code whose parameters are not declared"]


def _count(count: int | None) -> str:
    return f"{count:,}" if count is not None else "unknown"


def _user_imports(model: CheckedModel) -> list[str]:
    """`module:Class` for each user transform the model uses, with the transform's name."""
    found = {}
    for call in model.bound.values():
        for what, name, user in call.user_impls():
            found[user.path] = f"`{user.path}` ({what} `{name}`)"
    return sorted(found.values())


def _folds(folds: tuple[Fold, ...]) -> str:
    return "; ".join(f.label() for f in folds) or "-"


def _table(model: CheckedModel) -> list[str]:
    rows = [("name", "line", "type", "fills", "fold")]
    derived = model.ir.context_tensors()  # computed from contexts alone: read, never modelled
    for tensor_id, definition in model.ir.tensors.items():
        t = model.types[tensor_id]
        producer = model.ir.payload(definition.producer)
        kind = "input" if isinstance(producer, InputNode) else "context" if isinstance(producer, ContextNode) else ""
        kind = kind or ("from context" if tensor_id in derived else "")
        name = f"{tensor_id} ({kind})" if kind else tensor_id
        if not t.divided:
            rows.append((name, str(definition.span.line), str(t), "yes" if t.fills else "no", _folds(t.folds)))
            continue
        rows.append((name, str(definition.span.line), str(t), "yes" if t.fills else "no", "(by part)"))
        start = 0
        for part in t.parts:  # one row per part where the parts differ (docs/language.md, What the checker enforces)
            where = f"  dim {t.axis} [{start}:{start + part.size}]"
            rows.append((where, "", str(part.domain), "yes" if part.fills else "no", _folds(part.folds)))
            start += part.size
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
