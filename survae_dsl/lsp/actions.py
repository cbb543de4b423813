"""Quick fixes for what the checker already knows how to fix.

- a did-you-mean hint (`E201`, `E202`, `E203`, ...): replace the name with the suggestion;
- a tensor never consumed (`E401`), whose hint names a distribution: add `t ~ dist()` at the
  end of its model;
- a fold leak (a lower bound): insert the closing map the checker suggests right after the
  statement that made the fold.
"""

from __future__ import annotations

import re

from lsprotocol import types as lsp

from ..compiler.catalogue import OP_TABLE
from ..compiler.checks.check_domains import closing_maps
from ..compiler.core import codes
from ..compiler.core.diagnostics import Diagnostic
from ..compiler.core.domains import Fold
from ..compiler.core.source import Span
from ..compiler.drivers.analysis import MODEL, TENSOR, Analysis
from ..compiler.ir.checked import CheckedModel, Reason
from ..compiler.ir.graph import OpNode
from .convert import to_range

_DID_YOU_MEAN = re.compile(r"did you mean `([A-Za-z_][A-Za-z0-9_]*)`\?")
_DISTRIBUTION = re.compile(r"\(`([A-Za-z_][A-Za-z0-9_]*) ~ ([A-Za-z_][A-Za-z0-9_]*\(\))`\)")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\((.*)\))?")


def _overlaps(span: Span, wanted: lsp.Range) -> bool:
    start, end = (span.line - 1, span.column - 1), (span.end_line - 1, span.end_column - 1)
    return start <= (wanted.end.line, wanted.end.character) and (wanted.start.line, wanted.start.character) <= end


def _edit(uri: str, title: str, edits: list[lsp.TextEdit], diagnostic: lsp.Diagnostic | None) -> lsp.CodeAction:
    return lsp.CodeAction(
        title=title,
        kind=lsp.CodeActionKind.QuickFix,
        diagnostics=[diagnostic] if diagnostic is not None else None,
        edit=lsp.WorkspaceEdit(changes={uri: edits}),
        is_preferred=True,
    )


def code_actions(analysis: Analysis, uri: str, wanted: lsp.Range) -> list[lsp.CodeAction]:
    """The fixes for the findings of `analysis` (of the current text) that touch `wanted`."""
    actions: list[lsp.CodeAction] = []
    for diag in analysis.diagnostics:
        if not _overlaps(diag.span, wanted):
            continue
        action = _did_you_mean(analysis, uri, diag) or _add_distribution(analysis, uri, diag)
        if action is not None:
            actions.append(action)
    for model in analysis.models:
        for reason in model.reasons:
            if reason.kind == "leak" and _overlaps(reason.span, wanted):
                leak_fix = _close_fold(analysis, uri, model, reason)
                if leak_fix is not None:
                    actions.append(leak_fix)
    return actions


def _did_you_mean(analysis: Analysis, uri: str, diag: Diagnostic) -> lsp.CodeAction | None:
    match = _DID_YOU_MEAN.search(diag.hint or "")
    span = diag.span
    if match is None or span.line != span.end_line:
        return None
    written = analysis.source.line_text(span.line)[span.column - 1 : span.end_column - 1]
    if not _IDENTIFIER.fullmatch(written):
        return None
    suggestion = match.group(1)
    edit = lsp.TextEdit(to_range(span), suggestion)
    return _edit(uri, f"replace `{written}` with `{suggestion}`", [edit], None)


def _add_distribution(analysis: Analysis, uri: str, diag: Diagnostic) -> lsp.CodeAction | None:
    """E401's hint `(\\`y ~ standard_normal()\\`)`: the statement, added before the model's `}`."""
    match = _DISTRIBUTION.search(diag.hint or "") if diag.code == codes.E401 else None
    if match is None or diag.span.via:
        return None
    model = next(
        (s for s in analysis.symbols if s.kind == MODEL and s.extent.line <= diag.span.line <= s.extent.end_line), None
    )
    if model is None:
        return None
    statement = f"{match.group(1)} ~ {match.group(2)}"
    close_line = model.extent.end_line
    close_text = analysis.source.line_text(close_line)
    if close_text.strip() == "}":
        indent = _indent(analysis.source.line_text(diag.span.line))
        position = lsp.Position(close_line - 1, 0)
        new_text = f"{indent}{statement}\n"
    else:  # `}` after a statement on its line: one more statement before it
        position = lsp.Position(close_line - 1, model.extent.end_column - 2)
        new_text = f"; {statement} "
    edit = lsp.TextEdit(lsp.Range(position, position), new_text)
    return _edit(uri, f"add `{statement}`", [edit], None)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _close_fold(analysis: Analysis, uri: str, model: CheckedModel, reason: Reason) -> lsp.CodeAction | None:
    """Insert `t = closing(t)` after the statement whose op made the leaking fold."""
    fold = _leaking_fold(model, reason)
    if fold is None or fold.ordered:
        return None
    chain = _closing_chain(closing_maps(fold.region))
    if chain is None:
        return None
    line = fold.origin.line
    binding = next(
        (
            s
            for s in analysis.symbols
            if s.kind == TENSOR
            and s.span.line == line
            and any(fold in info.type.folds for info in analysis.tensor_types.get((s.span.line, s.span.column), []))
        ),
        None,
    )
    if binding is None:
        return None
    statement_line = analysis.source.line_text(binding.extent.line)
    if statement_line.strip()[: len(binding.name)] != binding.name or binding.extent.end_line != binding.extent.line:
        return None  # not a statement of its own line: leave the edit to the user
    first, *rest = chain
    calls = [f"{first[0]}({binding.name}{', ' + first[1] if first[1] else ''})"]
    calls += [f"{name}({args})" for name, args in rest]
    text = f"{_indent(statement_line)}{binding.name} = {' |> '.join(calls)}\n"
    position = lsp.Position(binding.extent.end_line, 0)
    title = f"close the fold of `{fold.origin.op}` with {' then '.join(f'`{n}`' for n, _ in chain)}"
    return _edit(uri, title, [lsp.TextEdit(lsp.Range(position, position), text)], None)


def _leaking_fold(model: CheckedModel, reason: Reason) -> Fold | None:
    """The fold that the consumer at `reason.span` leaks: one on a tensor it takes."""
    for node in model.inference_order:
        payload = model.ir.payload(node)
        if isinstance(payload, OpNode) and payload.span == reason.span and payload.op == reason.op:
            for tensor in payload.inputs:
                t = model.types.get(tensor)
                folds = [] if t is None else [*t.folds, *(f for p in t.parts for f in p.folds)]
                if folds and f"{folds[0].origin.describe()}" in reason.message:
                    return folds[0]
    return None


def _closing_chain(hint: str) -> list[tuple[str, str]] | None:
    """`closing_maps`' text as (op, keywords) steps: "`shift(by=-1)` then `softplus_inv` or
    `log`" → [("shift", "by=-1"), ("softplus_inv", "")]; None for a hint without numbers."""
    first_choice = hint.split(" or ")[0]
    if "onto" in first_choice:
        return None
    steps = []
    for written in re.findall(r"`([^`]+)`", first_choice):
        match = _CALL.fullmatch(written)
        if match is None or match.group(1) not in OP_TABLE:
            return None
        steps.append((match.group(1), match.group(3) or ""))
    return steps or None
