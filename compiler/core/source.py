"""Source text and positions: every AST node, IR node and diagnostic points into a `Source`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns count from 1, `end_column` is exclusive."""

    filename: str
    line: int
    column: int
    end_line: int
    end_column: int
    # For text inside a `block`: (block name, call site) for each call that inlined it,
    # innermost first, so a diagnostic can name both the line in the block and the call.
    via: tuple[tuple[str, Span], ...] = ()

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Source:
    """The text of one `.survae` file and its name as shown in diagnostics."""

    filename: str
    text: str  # without a leading byte-order mark
    lines: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        # A byte-order mark (some Windows editors start UTF-8 files with one) is not part of
        # the text: left in, it would be an "unexpected character" at 1:1.
        if self.text.startswith("\ufeff"):
            object.__setattr__(self, "text", self.text[1:])
        # Lines end at "\n" only, as for the parser: `str.splitlines` would also split at a form
        # feed or U+2028 (allowed in a `doc`) and show the wrong line under a diagnostic.
        lines = self.text.split("\n")
        if lines[-1] == "":
            lines.pop()
        object.__setattr__(self, "lines", tuple(line.removesuffix("\r") for line in lines))

    def line_text(self, line: int) -> str:
        """The text of line `line` (1-based), or '' past the end."""
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else ""

    def end_span(self) -> Span:
        """A zero-width span at the end of the file (for 'unexpected end of input')."""
        line = max(len(self.lines), 1)
        column = len(self.line_text(line)) + 1
        return Span(self.filename, line, column, line, column)
