"""Hover text: a tensor's type, fill and fold; a catalogue entry's signature, keywords and maths;
a model's likelihood class, reasons and parameter total; a diagnostic code's `--explain`."""

from __future__ import annotations

import re

from ..compiler.backends.param_count import file_parameter_counts
from ..compiler.backends.report import CLASS_WORDS
from ..compiler.core.codes import BY_CODE
from ..compiler.core.domains import TensorType
from ..compiler.doctools.explain import explain
from ..compiler.drivers.analysis import BLOCK, CONST, MODEL, NET, PARAM, TENSOR, TRANSFORM, Analysis, Occurrence
from . import describe

_CODE = re.compile(r"\b[EW]\d{3}\b")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def word_at(line_text: str, column: int) -> tuple[str, int] | None:
    """The identifier-like word touching 0-based `column` of a line, with its start."""
    for match in _WORD.finditer(line_text):
        if match.start() <= column <= match.end():
            return match.group(0), match.start()
    return None


def hover_markdown(analysis: Analysis | None, line_text: str, line: int, column: int) -> str | None:
    """The hover at 0-based (line, column) of the current text; `analysis` is the last one
    that parsed (names and types; None if none has), `line_text` the current line (codes,
    catalogue names)."""
    word = word_at(line_text, column)
    if word is not None and _CODE.fullmatch(word[0]) and word[0] in BY_CODE:
        return f"```text\n{explain(word[0]).rstrip()}\n```"
    occurrence = analysis.occurrence_at(line + 1, column + 1) if analysis is not None else None
    if analysis is not None and occurrence is not None and (word is None or word[0] == occurrence.name):
        text = _occurrence(analysis, occurrence)
        if text is not None or occurrence.role == "keyword":
            return text
    if word is not None and (found := describe.entry(word[0])) is not None:
        return describe.entry_markdown(word[0], found)
    return None


def _occurrence(analysis: Analysis, occurrence: Occurrence) -> str | None:
    symbol = occurrence.symbol
    if symbol is None:
        if occurrence.role == "keyword":
            return _keyword(analysis, occurrence)
        found = describe.entry(occurrence.name)
        return describe.entry_markdown(occurrence.name, found) if found is not None else None
    if symbol.kind == TENSOR:
        return _tensor(analysis, occurrence)
    if symbol.kind == MODEL:
        return _model(analysis, symbol.name)
    if symbol.kind in (BLOCK, TRANSFORM, NET, CONST, PARAM):
        where = f"line {symbol.span.line}"
        owner = f" of `{symbol.container}`" if symbol.container else ""
        return f"```survae\n{symbol.detail}\n```\n{symbol.kind}{owner}, declared at {where}"
    return None


def _keyword(analysis: Analysis, occurrence: Occurrence) -> str | None:
    """A keyword argument: its default and choices in the catalogue entry or block it is given to."""
    owner = occurrence.owner or ""
    found = describe.entry(owner)
    if found is not None:
        for k in describe.keywords(found.params):
            if k.name == occurrence.name:
                default = "required" if k.default is None else f"default `{k.default}`"
                choices = f"; one of {', '.join(f'`{c}`' for c in k.choices)}" if k.choices else ""
                return f"`{k.name}` of `{owner}`: {default}{choices}"
        return None
    for symbol in analysis.symbols:
        if symbol.kind == PARAM and symbol.container == owner and symbol.name == occurrence.name:
            return f"`{symbol.name}` of `{owner}`, declared at line {symbol.span.line}"
    return None


def _type_line(t: TensorType) -> str:
    folds = "; ".join(f.label() for f in t.folds) or "-"
    if t.divided:
        folds = "by part: " + ", ".join(
            f"{p.domain} ({'fills' if p.fills else 'does not fill'}; {'; '.join(f.label() for f in p.folds) or '-'})"
            for p in t.parts
        )
    return f"fills: {'yes' if t.fills else 'no'} · fold: {folds}"


def _tensor(analysis: Analysis, occurrence: Occurrence) -> str:
    symbol = occurrence.symbol
    assert symbol is not None
    copies = analysis.types_of(occurrence)
    made = f"bound at line {symbol.span.line}: `{symbol.detail}`"
    if not copies:
        return (
            f"```survae\n{symbol.name}\n```\ntensor of `{symbol.container}`, {made} (no checked type: see the errors)"
        )
    distinct = list(dict.fromkeys((str(c.type), _type_line(c.type)) for c in copies))
    head = f"```survae\n{symbol.name}: {distinct[0][0]}\n```"
    body = [head, distinct[0][1]]
    if len(distinct) > 1:
        body = [f"```survae\n{symbol.name}\n```", f"{len(copies)} copies (a `repeat` or block calls):"]
        body += [f"- `{t}`: {line}" for t, line in distinct[:8]]
    first = copies[0]
    where = f" (inlined through {', '.join(f'`{b}`' for b in first.via)})" if first.via else ""
    body.append(f"{made}; tensor `{first.tensor}` of model `{first.model}`, made at line {first.line}{where}")
    return "\n\n".join(body)


def _model(analysis: Analysis, name: str) -> str:
    model = analysis.model(name)
    if model is None:
        return f"```survae\nmodel {name}\n```\nnot checked: see its errors"
    lines = [f"```survae\nmodel {name}\n```", f"**{CLASS_WORDS[model.likelihood]}**"]
    if model.ir.doc:
        lines.append(model.ir.doc)
    if model.reasons:
        lines.append("because:\n" + "\n".join(f"- {r.message}" for r in model.reasons))
    if model.notes:
        lines.append("note:\n" + "\n".join(f"- {r.message}" for r in model.notes))
    total = _parameter_total(analysis, name)
    lines.append(f"parameters: {total:,}" if total is not None else "parameters: unknown (user code)")
    return "\n\n".join(lines)


def _parameter_total(analysis: Analysis, name: str) -> int | None:
    """The model's scalar parameters (the `--check` total), None if unknown."""
    counts = file_parameter_counts([m for m in analysis.models if m.name in _uses(analysis, name)])
    layers = counts.get(name, [])
    if any(c is None for _, c in layers):
        return None
    return sum(c for _, c in layers if c is not None)


def _uses(analysis: Analysis, name: str) -> set[str]:
    model = analysis.model(name)
    return model.uses() if model is not None else {name}
