"""The pygls server: documents, debounced diagnostics, and one handler per request type.

Each open document keeps its text, the analysis of that text (made on demand, once per
version) and the last analysis that parsed: while the user types, the text usually does
not parse, and names, types and hovers come from that one. Diagnostics always come from the
current text, `DEBOUNCE_SECONDS` after the last change (a burst of keystrokes is checked
once). A handler that fails logs the error to the client and answers nothing, so one bug
never takes the server down.

Speed: a new text is checked from the last one that parsed, re-parsing only the statements
that changed (compiler/frontend/incremental.py); its index of names and types is made on
first use (a hover, not the diagnostics); and Python's cyclic collector runs between checks,
not during them (`settle_memory`).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from ..compiler.core.diagnostics import CompileError, InternalError
from ..compiler.drivers.analysis import BLOCK, CONST, MODEL, NET, PARAM, TENSOR, TRANSFORM, Analysis, analyse
from ..compiler.frontend.format import format_source
from .actions import code_actions
from .complete import completions
from .convert import leak_diagnostic, to_diagnostic, to_range
from .hover import hover_markdown

# The wait after a change before checking the text: long enough to skip most keystrokes of a
# word, short enough to feel immediate. A client may set `debounceMs` (0 to 150) in its
# initialization options (the benchmark sets 0 to time the check alone).
DEBOUNCE_SECONDS = 0.1
MAX_DEBOUNCE_SECONDS = 0.15
# The cyclic collector runs between checks, not during them (`settle_memory`).
COLLECT_AFTER_SECONDS = 0.5
COLLECT_EVERY = 20
SYMBOL_KINDS = {
    MODEL: lsp.SymbolKind.Module,
    BLOCK: lsp.SymbolKind.Function,
    TRANSFORM: lsp.SymbolKind.Class,
    NET: lsp.SymbolKind.Class,
    CONST: lsp.SymbolKind.Constant,
    TENSOR: lsp.SymbolKind.Variable,
    PARAM: lsp.SymbolKind.Variable,
}


@dataclass
class Document:
    """An open file: its text and what is known about it."""

    uri: str
    text: str
    version: int | None
    analysis: Analysis | None = None  # of `text`, made on demand
    good: Analysis | None = None  # the last analysis whose text parsed
    pending: asyncio.TimerHandle | None = field(default=None, repr=False)

    def current(self) -> Analysis:
        """The analysis of the current text (made once per text), re-parsing only the
        statements that changed since the last text that parsed (the collector is off while
        it runs: `settle_memory`)."""
        if self.analysis is None:
            self.analysis = analyse(self.text, _filename(self.uri), self.good)
            if self.analysis.parsed:
                self.good = self.analysis
        return self.analysis

    def names(self) -> Analysis | None:
        """The analysis to take names and types from: the current text's if it parses."""
        current = self.current()
        return current if current.parsed else self.good


def _filename(uri: str) -> str:
    return uri.rsplit("/", 1)[-1] or uri


class SurvaeServer(LanguageServer):
    """The server and its open documents."""

    def __init__(self) -> None:
        super().__init__("survae-lsp", "0.1.0")
        self.documents: dict[str, Document] = {}
        self.debounce = DEBOUNCE_SECONDS
        self.inlay_hints = False
        self.explain_base: str | None = None
        self.collecting: asyncio.TimerHandle | None = None
        self.uncollected = 0  # checks published since the last collection

    def document(self, uri: str) -> Document | None:
        return self.documents.get(uri)

    def schedule(self, doc: Document) -> None:
        """Check `doc` after the debounce window, replacing a check already waiting."""
        if doc.pending is not None:
            doc.pending.cancel()
        loop = asyncio.get_running_loop()
        doc.pending = loop.call_later(self.debounce, self.publish, doc.uri)

    def publish(self, uri: str) -> None:
        doc = self.documents.get(uri)
        if doc is None:
            return
        doc.pending = None
        try:
            analysis = doc.current()
            found = [to_diagnostic(d, uri, self.explain_base) for d in analysis.diagnostics]
            found += [leak_diagnostic(r) for m in analysis.models for r in m.reasons if r.kind == "leak"]
        except Exception:  # a bug of the checker: say so rather than go quiet
            self.log_error("checking the file", traceback.format_exc())
            found = []
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri, found, doc.version))
        self.collect_soon()

    def collect_soon(self) -> None:
        """Free the garbage cycles of the checks (the collector is paused while they run)
        once no check has been published for `COLLECT_AFTER_SECONDS`, or at once after
        `COLLECT_EVERY` checks without a pause (edits arriving without a break)."""
        if self.collecting is not None:
            self.collecting.cancel()
        self.uncollected += 1
        if self.uncollected >= COLLECT_EVERY:
            self.collect()
            return
        self.collecting = asyncio.get_running_loop().call_later(COLLECT_AFTER_SECONDS, self.collect)

    def collect(self) -> None:
        self.collecting = None
        self.uncollected = 0
        gc.collect()

    def log_error(self, what: str, details: str) -> None:
        self.window_log_message(
            lsp.LogMessageParams(lsp.MessageType.Error, f"survae-lsp: internal error {what}\n{details}")
        )


F = TypeVar("F", bound=Callable[..., Any])


def guarded(what: str) -> Callable[[F], F]:
    """A handler that logs its exceptions to the client and answers None instead."""

    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        def run(server: SurvaeServer, params: Any) -> Any:
            try:
                return handler(server, params)
            except Exception:
                server.log_error(what, traceback.format_exc())
                return None

        return run  # type: ignore[return-value]

    return wrap


def build_server() -> SurvaeServer:
    """A server with every feature registered."""
    server = SurvaeServer()

    @server.feature(lsp.INITIALIZE)
    @guarded("initializing")
    def initialize(ls: SurvaeServer, params: lsp.InitializeParams) -> None:
        options = params.initialization_options if isinstance(params.initialization_options, dict) else {}
        if isinstance(options.get("debounceMs"), int | float):
            ls.debounce = min(max(float(options["debounceMs"]) / 1000, 0.0), MAX_DEBOUNCE_SECONDS)
        ls.inlay_hints = bool(options.get("inlayHints", False))
        if isinstance(options.get("explainUrl"), str):
            ls.explain_base = options["explainUrl"]
        settle_memory()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    @guarded("opening a document")
    def did_open(ls: SurvaeServer, params: lsp.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        doc = Document(item.uri, item.text, item.version)
        ls.documents[item.uri] = doc
        ls.publish(item.uri)  # on open at once: the user is not typing yet

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    @guarded("applying a change")
    def did_change(ls: SurvaeServer, params: lsp.DidChangeTextDocumentParams) -> None:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return
        for change in params.content_changes:
            doc.text = _apply(doc.text, change)
        doc.version = params.text_document.version
        doc.analysis = None
        ls.schedule(doc)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    @guarded("closing a document")
    def did_close(ls: SurvaeServer, params: lsp.DidCloseTextDocumentParams) -> None:
        doc = ls.documents.pop(params.text_document.uri, None)
        if doc is not None and doc.pending is not None:
            doc.pending.cancel()
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(params.text_document.uri, []))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    @guarded("answering a hover")
    def hover(ls: SurvaeServer, params: lsp.HoverParams) -> lsp.Hover | None:
        doc = ls.document(params.text_document.uri)
        if doc is None:
            return None
        analysis = doc.names()  # None until a text parses: codes and catalogue names still answer
        position = params.position
        lines = doc.text.split("\n")
        line_text = lines[position.line] if position.line < len(lines) else ""
        text = hover_markdown(analysis, line_text, position.line, position.character)
        if text is None:
            return None
        return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text))

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["(", ",", "=", "~", " ", "|"])
    )
    @guarded("completing")
    def complete(ls: SurvaeServer, params: lsp.CompletionParams) -> lsp.CompletionList | None:
        doc = ls.document(params.text_document.uri)
        if doc is None:
            return None
        items = completions(doc.text, params.position.line, params.position.character, doc.good)
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    @guarded("finding a definition")
    def definition(ls: SurvaeServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        found = _symbol_at(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        return lsp.Location(params.text_document.uri, to_range(found[1].span))

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    @guarded("finding references")
    def references(ls: SurvaeServer, params: lsp.ReferenceParams) -> list[lsp.Location] | None:
        found = _symbol_at(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        analysis, symbol = found
        include = params.context.include_declaration
        return [
            lsp.Location(params.text_document.uri, to_range(o.span))
            for o in analysis.references(symbol)
            if include or not o.definition
        ]

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @guarded("listing symbols")
    def symbols(ls: SurvaeServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol] | None:
        doc = ls.document(params.text_document.uri)
        analysis = doc.names() if doc is not None else None
        if analysis is None:
            return None
        return _outline(analysis)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    @guarded("formatting")
    def formatting(ls: SurvaeServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        doc = ls.document(params.text_document.uri)
        if doc is None or not doc.current().parsed:
            return None  # a text that does not parse is left as it is; its diagnostics say why
        try:
            formatted = format_source(doc.text, _filename(doc.uri))
        except (CompileError, InternalError):
            return None
        if formatted == doc.text:
            return []
        lines = doc.text.split("\n")
        end = lsp.Position(len(lines) - 1, len(lines[-1]))
        return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), formatted)]

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix])
    )
    @guarded("finding code actions")
    def actions(ls: SurvaeServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction] | None:
        doc = ls.document(params.text_document.uri)
        if doc is None:
            return None
        return code_actions(doc.current(), doc.uri, params.range)

    @server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT)
    @guarded("giving inlay hints")
    def inlay(ls: SurvaeServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint] | None:
        doc = ls.document(params.text_document.uri)
        analysis = doc.names() if doc is not None else None
        if not ls.inlay_hints or analysis is None:
            return None
        return _inlay_hints(analysis, params.range)

    return server


def settle_memory() -> None:
    """Warm the checker up (imports, grammar tables, catalogue) on a small model, move every
    object alive into the collector's permanent generation (`gc.freeze`) and turn automatic
    collection off: the server collects when it chooses (`SurvaeServer.collect_soon`).

    A check allocates hundreds of thousands of objects that die by reference counting; the
    collector's passes over them (and over the server's own objects) during a check took half
    the time of checking a 2,000-line model. Frozen, the server's long-lived objects are never
    walked again, and a collection between checks walks only the analyses still open (~15 ms
    for a 2,000-line model's). The server owns its process, as the command line does
    (`compiler/core/gc_pause.py`).
    """
    analyse(_WARM_UP, "warm-up.survae")
    gc.collect()
    gc.freeze()
    gc.disable()


_WARM_UP = """\
block b(h) {
    h = reverse(h)
    return h
}
model M {
    input x: real[2]
    h = b(x)
    h ~ standard_normal()
}
"""


def _apply(text: str, change: lsp.TextDocumentContentChangeEvent) -> str:
    """`text` with one change applied: a whole new text, or a range replaced."""
    if isinstance(change, lsp.TextDocumentContentChangePartial):
        start = _offset(text, change.range.start)
        end = _offset(text, change.range.end)
        return text[:start] + change.text + text[max(start, end) :]
    return change.text


def _offset(text: str, position: lsp.Position) -> int:
    """The index in `text` of an LSP position (clamped to the text)."""
    offset = 0
    for _ in range(position.line):
        newline = text.find("\n", offset)
        if newline < 0:
            return len(text)
        offset = newline + 1
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    return min(offset + position.character, line_end)


def _symbol_at(ls: SurvaeServer, uri: str, position: lsp.Position) -> tuple[Analysis, Any] | None:
    doc = ls.document(uri)
    analysis = doc.names() if doc is not None else None
    if analysis is None:
        return None
    occurrence = analysis.occurrence_at(position.line + 1, position.character + 1)
    if occurrence is None or occurrence.symbol is None:
        return None
    return analysis, occurrence.symbol


def _outline(analysis: Analysis) -> list[lsp.DocumentSymbol]:
    """Declarations, each model and block with its inputs, contexts and tensors (first binding)."""
    outline = []
    for symbol in analysis.top_level():
        children: dict[str, lsp.DocumentSymbol] = {}
        for inner in analysis.symbols:
            if inner.container == symbol.name and inner.kind in (TENSOR, PARAM) and inner.name not in children:
                children[inner.name] = lsp.DocumentSymbol(
                    name=inner.name,
                    kind=SYMBOL_KINDS[inner.kind],
                    range=to_range(inner.extent),
                    selection_range=to_range(inner.span),
                    detail=inner.detail,
                )
        outline.append(
            lsp.DocumentSymbol(
                name=symbol.name,
                kind=SYMBOL_KINDS[symbol.kind],
                range=to_range(symbol.extent),
                selection_range=to_range(symbol.span),
                detail=symbol.detail,
                children=list(children.values()) or None,
            )
        )
    return outline


def _inlay_hints(analysis: Analysis, wanted: lsp.Range) -> list[lsp.InlayHint]:
    """`: real[4, 4, 4]` after each tensor binding in `wanted` whose copies share one type."""
    hints = []
    for occurrence in analysis.occurrences:
        symbol = occurrence.symbol
        if not occurrence.definition or symbol is None or symbol.kind != TENSOR:
            continue
        if not wanted.start.line <= occurrence.span.line - 1 <= wanted.end.line:
            continue
        types = {str(info.type) for info in analysis.types_of(occurrence)}
        if len(types) == 1:
            end = to_range(occurrence.span).end
            hints.append(lsp.InlayHint(position=end, label=f": {types.pop()}", kind=lsp.InlayHintKind.Type))
    return hints
