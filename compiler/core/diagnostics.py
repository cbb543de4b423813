"""Errors are values: `Diagnostic` records, rendered in one place.

A diagnostic names a stable code (see `codes.py`), a span, a message saying what was found and
what was expected, and a hint where one exists. `render` formats it the way docs/diagnostics.md
shows: `file:line:col: error[CODE]: message`, the source line, a caret, `= help: ...`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from .codes import Code
from .source import Source, Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One finding of the compiler about the user's model."""

    code: Code  # a constant of codes.py, e.g. codes.E405; prints and compares as "E405"
    span: Span
    message: str
    hint: str | None = None
    label: str | None = None  # a few words printed after the caret ("defined here")
    notes: tuple[tuple[Span, str], ...] = field(default_factory=tuple)
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[int, int, str]:
        return (self.span.line, self.span.column, self.code)


Notes = tuple[tuple[Span, str], ...]


def error(
    code: Code, span: Span, message: str, hint: str | None = None, *, label: str | None = None, notes: Notes = ()
) -> Diagnostic:
    """Shorthand for an error diagnostic."""
    return Diagnostic(code, span, message, hint, label=label, notes=notes)


def warning(
    code: Code, span: Span, message: str, hint: str | None = None, *, label: str | None = None, notes: Notes = ()
) -> Diagnostic:
    """Shorthand for a warning diagnostic."""
    return Diagnostic(code, span, message, hint, label=label, notes=notes, severity=Severity.WARNING)


class CompileError(Exception):
    """A model could not be compiled; `diagnostics` says why (errors first, in source order)."""

    def __init__(self, diagnostics: Iterable[Diagnostic], source: Source | None = None) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        self.source = source
        first = next((d for d in self.diagnostics if d.is_error), None)
        summary = f"{first.span}: error[{first.code}]: {first.message}" if first else "compile failed"
        super().__init__(summary)

    def render(self) -> str:
        """All diagnostics, formatted for a terminal."""
        return render_all(self.diagnostics, self.source)


class InternalError(Exception):
    """A bug in survae-compile, never the user's fault; reported as such by the CLI."""


# The characters of a long source line shown around a diagnostic's column: a file of one
# 100 kB line with thousands of errors must not print the whole line under each of them.
EXCERPT_WIDTH = 200


def _caret_line(span: Span, line_text: str) -> str:
    width = span.end_column - span.column if span.end_line == span.line else len(line_text) - span.column + 1
    return " " * (span.column - 1) + "^" * max(width, 1)


def excerpt(span: Span, line_text: str) -> tuple[str, str]:
    """(the source line, its caret line); a line longer than EXCERPT_WIDTH is cut to that
    many characters around the column, with `…` where it was cut."""
    caret = _caret_line(span, line_text)
    if len(line_text) <= EXCERPT_WIDTH:
        return line_text, caret
    start = max(0, min(span.column - 1 - EXCERPT_WIDTH // 4, len(line_text) - EXCERPT_WIDTH))
    end = start + EXCERPT_WIDTH
    before, after = ("…" if start else ""), ("…" if end < len(line_text) else "")
    return before + line_text[start:end] + after, (" " * len(before) + caret[start:end]).rstrip()


def render(diag: Diagnostic, source: Source | None) -> str:
    """One diagnostic as text: header, source excerpt with a caret, notes, help."""
    out = [f"{diag.span}: {diag.severity.value}[{diag.code}]: {diag.message}"]
    gutter = " " * len(str(diag.span.line))
    if source is not None and source.line_text(diag.span.line):
        text, caret = excerpt(diag.span, source.line_text(diag.span.line))
        caret += f" {diag.label}" if diag.label else ""
        out += [f"{gutter} |", f"{diag.span.line} | {text}", f"{gutter} | {caret}"]
    for block, call in diag.span.via:
        out.append(f"{gutter} = note: in block `{block}`, called at {call}")
    for span, note in diag.notes:
        out.append(f"{gutter} = note: {note} ({span})")
    if diag.hint:
        out.append(f"{gutter} = help: {diag.hint}")
    return "\n".join(out)


def render_all(diagnostics: Iterable[Diagnostic], source: Source | None) -> str:
    """Every diagnostic in source order, separated by blank lines."""
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    return "\n\n".join(render(d, source) for d in ordered)
