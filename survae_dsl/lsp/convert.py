"""Compiler positions and diagnostics as LSP values.

The compiler counts lines and columns from 1 with exclusive end columns; LSP counts both from
0. Columns are characters: names and syntax are ASCII (E101), so only text inside strings and
comments could count differently in UTF-16, and no range the server sends starts there.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp

from ..compiler.core.codes import BY_CODE
from ..compiler.core.diagnostics import Diagnostic, Severity
from ..compiler.core.source import Span
from ..compiler.ir.checked import Reason

SOURCE = "survae"
# Where `--explain` text lives as a page: docs/diagnostics.md of this checkout, when present.
_DOCS = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"


def to_range(span: Span) -> lsp.Range:
    """The LSP range of a compiler span (a zero-width span becomes one character wide)."""
    start = lsp.Position(max(span.line - 1, 0), max(span.column - 1, 0))
    end = lsp.Position(max(span.end_line - 1, 0), max(span.end_column - 1, 0))
    if (end.line, end.character) <= (start.line, start.character):
        end = lsp.Position(start.line, start.character + 1)
    return lsp.Range(start, end)


def explain_link(code: str, base: str | None = None) -> lsp.CodeDescription | None:
    """A link to the explanation of `code`: `base` + `#e405` if the client set a base URL,
    else the docs page of this checkout, else None."""
    anchor = "#" + _slug(f"{code}: {BY_CODE[code].heading}")
    if base:
        return lsp.CodeDescription(href=base + anchor)
    if _DOCS.is_file():
        return lsp.CodeDescription(href=_DOCS.as_uri() + anchor)
    return None


def _slug(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's rule) gives a heading: lower case, punctuation
    dropped, spaces as hyphens."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def to_diagnostic(diag: Diagnostic, uri: str, explain_base: str | None = None) -> lsp.Diagnostic:
    """One compiler diagnostic: its code, range, severity, help line, and its notes and block
    call sites as related information."""
    related = [
        lsp.DiagnosticRelatedInformation(lsp.Location(uri, to_range(call)), f"in block `{block}`, called here")
        for block, call in diag.span.via
    ]
    related += [lsp.DiagnosticRelatedInformation(lsp.Location(uri, to_range(span)), note) for span, note in diag.notes]
    message = diag.message + (f"\nhelp: {diag.hint}" if diag.hint else "")
    code = str.__str__(diag.code)
    return lsp.Diagnostic(
        range=to_range(diag.span),
        message=message,
        severity=lsp.DiagnosticSeverity.Error if diag.severity is Severity.ERROR else lsp.DiagnosticSeverity.Warning,
        code=code,
        code_description=explain_link(code, explain_base) if code in BY_CODE else None,
        source=SOURCE,
        related_information=related or None,
    )


LEAK_SOURCE = "survae (likelihood)"


def leak_diagnostic(reason: Reason) -> lsp.Diagnostic:
    """A fold leak, which makes a model a lower bound without being an error: information."""
    return lsp.Diagnostic(
        range=to_range(reason.span),
        message=reason.message,
        severity=lsp.DiagnosticSeverity.Information,
        source=LEAK_SOURCE,
    )
