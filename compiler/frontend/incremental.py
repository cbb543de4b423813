"""Re-parse only what an edit changed: the language server's parse of a text that differs from
one it parsed before in a few lines.

`reparse(previous, module, source)` finds the lines that differ (the common first and last
lines left out), the innermost body (a model's, a block's, a `repeat`'s, or the file's list of
declarations) whose inside holds them, and in it the run of whole statements (or declarations)
on those lines. Only that run is parsed again, inside a wrapper that gives it the same
surroundings (`model _ { repeat 1 { ... } }`: the same parser states, lexer contexts and
nesting depth), and the new statements take the old ones' place; everything after them moves
by the number of lines added or removed.

The result is the module `parse(source)` gives, exactly: the statements before the run and
after it are the same text in the same surroundings, and statements end at a new line outside
brackets, so they parse the same on their own. Whenever that reasoning does not clearly hold
(the edit touches a line a brace of the body is on, a statement shares a line with one outside
the run, or the run does not parse on its own: a syntax error, a bracket or brace left open,
an E104 or E505), `reparse` gives None and the caller parses the whole text, which also gives
the diagnostics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from ..core.source import Source
from . import syntax as ast
from .parse import nests_too_deep, parse_or_none
from .respan import shift_lines

# What opens each kind of body in the wrapper (the parse of a statement does not depend on
# whether its body is a model's or a block's, nor on the count of its `repeat`).
_DECL_HEADER = "model _ {"
_REPEAT_HEADER = "repeat 1 {"

Container = ast.ModelDecl | ast.BlockDecl | ast.Repeat
# The nesting limit (E505, `parse.nests_too_deep`) counts an arithmetic operator as a level until
# the expression ends; inside a body, one outside brackets (a `repeat` count, a domain's
# `<...>`) counts until the body ends, so statements before a run would change its depth,
# which the wrapper does not reproduce. A text that may have one is checked whole.
_PENDING_OPERATOR = re.compile(r"\b(repeat|input|context)\b[^#\n]*[-+*/]")


@dataclass(frozen=True)
class _Region:
    """Lines `first`..`last` of the old text (1-based, inclusive; empty when `last < first`)
    hold exactly the statements `start:stop` of the body reached through `path` (the index of
    each enclosing declaration or `repeat` in its body, outermost first; () for the file's
    declarations), and no part of any other statement."""

    path: tuple[int, ...]
    start: int
    stop: int
    first: int
    last: int


def reparse(previous: Source, module: ast.Module, source: Source) -> ast.Module | None:
    """The module of `source`, re-parsing only the statements whose lines differ from
    `previous` (whose module is `module`); None where the whole text must be parsed."""
    if previous.filename != source.filename:
        return None
    if _PENDING_OPERATOR.search(source.text) and nests_too_deep(source):
        return None
    old_lines, new_lines = previous.text.split("\n"), source.text.split("\n")
    if old_lines == new_lines:
        return module
    shortest = min(len(old_lines), len(new_lines))
    same_start = 0
    while same_start < shortest and old_lines[same_start] == new_lines[same_start]:
        same_start += 1
    same_end = 0
    while same_end < shortest - same_start and old_lines[-1 - same_end] == new_lines[-1 - same_end]:
        same_end += 1
    # Lines changed in the old text: same_start + 1 .. len - same_end (empty for an insertion).
    changed = (same_start + 1, len(old_lines) - same_end)
    region = _locate(module.declarations, (1, len(old_lines)), changed, (), old_lines)
    if region is None:
        return None
    moved = len(new_lines) - len(old_lines)
    fresh = _parse_run(source, new_lines, region, module, moved)
    if fresh is None:
        return None
    return ast.Module(_splice(module.declarations, region.path, region, fresh, moved), module.filename)


def _body(node: Any) -> tuple[Any, ...] | None:
    return node.body if isinstance(node, Container) else None


def _locate(
    children: tuple[Any, ...],
    inside: tuple[int, int],
    changed: tuple[int, int],
    path: tuple[int, ...],
    lines: list[str],
) -> _Region | None:
    """The region to re-parse in `children` (a body whose inside is lines `inside`), looking
    first in the one child whose body holds every changed line."""
    first, last = changed
    touched = [i for i, c in enumerate(children) if c.span.line <= last and c.span.end_line >= first]
    if len(touched) == 1 and (body := _body(children[touched[0]])) is not None:
        child = children[touched[0]]
        opened = _brace_line(child, lines)
        if opened is not None:
            inner = (opened + 1, child.span.end_line - 1)
            if inner[0] <= first and last <= inner[1]:
                found = _locate(body, inner, changed, (*path, touched[0]), lines)
                if found is not None:
                    return found
    # Widen to whole statements until no statement outside the run shares a line with it.
    start, stop = (touched[0], touched[-1] + 1) if touched else (sum(c.span.end_line < first for c in children),) * 2
    while True:
        run = children[start:stop]
        top = min([first, *(c.span.line for c in run)])
        bottom = max([last, *(c.span.end_line for c in run)])
        if start > 0 and children[start - 1].span.end_line >= top:
            start -= 1
        elif stop < len(children) and children[stop].span.line <= bottom:
            stop += 1
        else:
            break
    if top < inside[0] or bottom > inside[1]:
        return None
    return _Region(path, start, stop, top, bottom)


def _brace_line(node: Container, lines: list[str]) -> int | None:
    """The line of the `{` that opens `node`'s body: the first after its head's last part."""
    if isinstance(node, ast.Repeat):
        after = node.count.span
    elif isinstance(node, ast.BlockDecl) and node.params:
        after = node.params[-1].span
    else:
        after = node.name.span
    line, column = after.end_line, after.end_column
    while line <= len(lines):
        # Between a head and its `{` come only `)`, `,`, spaces and comments (no strings).
        text = lines[line - 1][column - 1 :].split("#", 1)[0]
        if "{" in text:
            return line
        line, column = line + 1, 1
    return None


def _parse_run(
    source: Source, new_lines: list[str], region: _Region, module: ast.Module, moved: int
) -> tuple[Any, ...] | None:
    """The statements (or declarations) of the region's lines in the new text, with the
    spans they have there; None if they do not parse on their own."""
    text = "\n".join(new_lines[region.first - 1 : region.last + moved])
    headers = []
    node: Any = module.declarations
    for index in region.path:
        node = node[index]
        headers.append(_REPEAT_HEADER if isinstance(node, ast.Repeat) else _DECL_HEADER)
        node = node.body
    if headers:  # the wrapper's first line holds the headers: the run starts on its line 2
        wrapped = " ".join(headers) + "\n" + text + "\n" + "}" * len(headers)
        offset = region.first - 2
    else:
        wrapped, offset = text, region.first - 1
    chunk = Source(source.filename, wrapped)
    if chunk.text != wrapped:
        return None  # (a byte-order mark at the start of the run: let the whole parse see it)
    parsed = parse_or_none(chunk)
    if parsed is None:
        return None
    found: tuple[Any, ...] = parsed.declarations
    for _ in headers:
        if len(found) != 1 or _body(found[0]) is None:
            return None
        found = found[0].body
    moved_run: tuple[Any, ...] = shift_lines(found, offset)
    return moved_run


def _splice(
    children: tuple[Any, ...], path: tuple[int, ...], region: _Region, fresh: tuple[Any, ...], moved: int
) -> tuple[Any, ...]:
    """`children` with the region's statements replaced by `fresh`, and what follows them
    (within each enclosing body, and the enclosing bodies' ends) moved by `moved` lines."""
    if not path:
        return (*children[: region.start], *fresh, *shift_lines(children[region.stop :], moved))
    index = path[0]
    holder = children[index]
    span = holder.span
    grown = replace(
        holder,
        body=_splice(holder.body, path[1:], region, fresh, moved),
        span=replace(span, end_line=span.end_line + moved),
    )
    return (*children[:index], grown, *shift_lines(children[index + 1 :], moved))
