"""Completion from the tokens around the cursor: the text need not parse.

Before the cursor the server looks for the innermost bracket left open (a call's `(`), the
keyword being given a value (`scale=`), a `~`, and the word being typed; the names it offers
come from the catalogue and from the last text that parsed (`Analysis.in_scope`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lsprotocol import types as lsp

from ..compiler.catalogue import DIST_TABLE, NET_TABLE, OP_TABLE, DistEntry, NetEntry
from ..compiler.drivers.analysis import BLOCK, CONST, MODEL, NET, PARAM, TENSOR, TRANSFORM, Analysis
from ..compiler.frontend.parse import KEYWORDS
from . import describe

# How far back the scan for an open bracket looks: a call is rarely longer.
_LOOK_BACK = 4000
_WORD_END = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_NOT_CODE = re.compile(r'"(\\.|[^"\\\n])*"?|#[^\n]*')
# Keywords that take a nested call of a role (catalogue `Params.nested` says which).
_ROLE_TABLES: dict[str, dict[str, NetEntry] | dict[str, DistEntry]] = {"net": NET_TABLE, "distribution": DIST_TABLE}
_KINDS = {
    MODEL: lsp.CompletionItemKind.Module,
    BLOCK: lsp.CompletionItemKind.Function,
    TRANSFORM: lsp.CompletionItemKind.Class,
    NET: lsp.CompletionItemKind.Class,
    CONST: lsp.CompletionItemKind.Constant,
    TENSOR: lsp.CompletionItemKind.Variable,
    PARAM: lsp.CompletionItemKind.Variable,
}


@dataclass(frozen=True)
class Place:
    """What surrounds the cursor: the call it is inside (its name), the keyword it gives a
    value to, whether it follows `~`, whether it is in a comment or string."""

    callee: str | None
    keyword: str | None
    after_tilde: bool
    in_comment: bool
    typed: str


def place_at(text: str, line: int, column: int) -> Place:
    """Read the tokens before 0-based (line, column)."""
    lines = text.split("\n")
    current = lines[line][:column] if line < len(lines) else ""
    before = "\n".join([*lines[max(0, line - 60) : line], current])[-_LOOK_BACK:]
    typed_match = _WORD_END.search(current)
    typed = typed_match.group(0) if typed_match else ""
    # Strings and comments blanked (same length); an unclosed one at the end means the cursor is in it.
    blanked = _NOT_CODE.sub(lambda m: " " * len(m.group(0)), before)
    in_comment = _in_comment_or_string(current)
    code = blanked[: len(blanked) - len(typed)]
    callee = None
    depth = 0
    for i in range(len(code) - 1, -1, -1):
        char = code[i]
        if char in ")]":
            depth += 1
        elif char in "([":
            if depth == 0:
                if char == "(":
                    name = _WORD_END.search(code[:i].rstrip())
                    callee = name.group(0) if name else None
                break
            depth -= 1
        elif char in "{}" and depth == 0:
            break
    stripped = code.rstrip()
    keyword = None
    if stripped.endswith("=") and not stripped.endswith("=="):
        name = _WORD_END.search(stripped[:-1].rstrip())
        keyword = name.group(0) if name and callee is not None else None
    after_tilde = stripped.endswith("~")
    return Place(callee, keyword, after_tilde, in_comment, typed)


def _in_comment_or_string(current: str) -> bool:
    """Whether the end of `current` (a line up to the cursor) is inside a comment or string."""
    for match in _NOT_CODE.finditer(current):
        if match.end() == len(current):
            token = match.group(0)
            return token.startswith("#") or len(token) == 1 or not token.endswith('"') or token.endswith('\\"')
    return False


def _item(label: str, kind: lsp.CompletionItemKind, detail: str = "", insert: str | None = None) -> lsp.CompletionItem:
    return lsp.CompletionItem(label=label, kind=kind, detail=detail or None, insert_text=insert)


def _catalogue(tables: tuple[str, ...] = ("op", "distribution", "net")) -> list[lsp.CompletionItem]:
    items = []
    for role, table in (("op", OP_TABLE), ("distribution", DIST_TABLE), ("net", NET_TABLE)):
        if role in tables:
            for name, found in table.items():
                items.append(_item(name, lsp.CompletionItemKind.Function, f"{describe.role(found)}: {found.summary}"))
    return items


def _scope(analysis: Analysis | None, line: int, kinds: tuple[str, ...]) -> list[lsp.CompletionItem]:
    if analysis is None:
        return []
    seen: dict[str, lsp.CompletionItem] = {}
    for symbol in analysis.in_scope(line + 1):
        if symbol.kind in kinds and not (symbol.kind == PARAM and "=" in symbol.detail):
            seen[symbol.name] = _item(symbol.name, _KINDS[symbol.kind], symbol.detail)
    return list(seen.values())


def _keywords_of(callee: str, analysis: Analysis | None) -> list[lsp.CompletionItem]:
    """`name=` for each keyword the callee takes, with its default."""
    found = describe.entry(callee)
    if found is not None:
        return [
            _item(
                f"{k.name}=",
                lsp.CompletionItemKind.Property,
                "required" if k.default is None else f"default {k.default}",
                f"{k.name}=",
            )
            for k in describe.keywords(found.params)
        ]
    if analysis is None:
        return []
    return [
        _item(f"{s.name}=", lsp.CompletionItemKind.Property, f"keyword of `{callee}`", f"{s.name}=")
        for s in analysis.symbols
        if s.kind == PARAM and s.container == callee and "=" in s.detail
    ]


def _values_of(callee: str, keyword: str) -> list[lsp.CompletionItem]:
    """The values a catalogue keyword takes: its choices, or the nets or distributions it nests."""
    found = describe.entry(callee)
    if found is None:
        return []
    items = []
    for k in describe.keywords(found.params):
        if k.name == keyword:
            items += [_item(c, lsp.CompletionItemKind.EnumMember, f"`{keyword}` of `{callee}`") for c in k.choices]
    role = found.params.nested.get(keyword)
    if role in _ROLE_TABLES:
        items += [
            _item(n, lsp.CompletionItemKind.Function, f"{role}: {e.summary}") for n, e in _ROLE_TABLES[role].items()
        ]
    return items


def completions(text: str, line: int, column: int, analysis: Analysis | None) -> list[lsp.CompletionItem]:
    """The items to offer at 0-based (line, column) of `text`."""
    place = place_at(text, line, column)
    if place.in_comment:
        return []
    if place.callee is not None and place.keyword is not None:
        values = _values_of(place.callee, place.keyword)
        return values + _scope(analysis, line, (CONST, TENSOR, PARAM)) + ([] if values else _catalogue(("net",)))
    if place.after_tilde:
        return _catalogue(("distribution",)) + _scope(analysis, line, (MODEL,))
    if place.callee is not None:
        return (
            _keywords_of(place.callee, analysis)
            + _scope(analysis, line, (CONST, TENSOR, PARAM))
            + _catalogue(("net", "distribution"))
        )
    words = [_item(k, lsp.CompletionItemKind.Keyword) for k in sorted(KEYWORDS)]
    return _catalogue() + _scope(analysis, line, (MODEL, BLOCK, TRANSFORM, NET, CONST, TENSOR, PARAM)) + words
