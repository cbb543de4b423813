"""Copies of AST (sub)trees with their spans rewritten: the block inliner marks the spans of a
block's body with the calls that inlined it, and the language server's incremental parse moves
the statements after an edit down or up by the lines it added or removed.

The AST is frozen dataclasses, tuples and plain values; a copy rebuilds each dataclass from its
fields (the same as `dataclasses.replace` with every field given, without its per-call field
lookup and checks, which made this walk the largest cost of lowering a block-heavy model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any

from ..core.source import Span

# Per dataclass type: the names of the fields its constructor takes (all of an AST node's).
_INIT_FIELDS: dict[type, tuple[str, ...]] = {}


def _init_fields(cls: type) -> tuple[str, ...]:
    names = _INIT_FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in fields(cls) if f.init)
        _INIT_FIELDS[cls] = names
    return names


def map_spans(node: Any, change: Callable[[Span], Span]) -> Any:
    """A copy of `node` with `change(span)` in place of each `Span` inside it (a `Span`'s own
    `via` is left to `change`); values that are neither dataclasses nor tuples are shared."""
    if isinstance(node, Span):
        return change(node)
    if isinstance(node, tuple):
        return tuple([map_spans(item, change) for item in node])
    cls = type(node)
    if cls in _INIT_FIELDS or (is_dataclass(node) and not isinstance(node, type)):
        return cls(**{name: map_spans(getattr(node, name), change) for name in _init_fields(cls)})
    return node


def shift_lines(node: Any, lines: int) -> Any:
    """A copy of `node` whose spans (and their call sites) start and end `lines` lines later."""
    if lines == 0:
        return node

    def moved(span: Span) -> Span:
        via = tuple((name, moved(site)) for name, site in span.via)
        return Span(span.filename, span.line + lines, span.column, span.end_line + lines, span.end_column, via)

    return map_spans(node, moved)
