"""What an editor needs from one `.survae` text: diagnostics, declarations, every name with the
declaration it refers to, and the checked types of tensors. Torch-free (the language server).

`analyse(text, filename)` runs the checker (`check_partial`); its `index`, made on first use, holds:

- `symbols`: each declaration (model, block, transform, net, constant, block parameter) and
  each binding of a tensor (`input`, `context`, an assignment's target): a tensor name bound
  again (`h = f(h)`) is a new symbol, as the checker sees it;
- `occurrences`: each name written in the file, with the symbol it refers to (None for a
  name the file does not declare: a catalogue op, an enum value, a misspelt name);
- `tensor_types`: per tensor binding (its name's line and column), the types the checker
  gave it, one per copy (a block called twice, a `repeat`).

Positions are the compiler's: lines and columns from 1, end columns exclusive.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import cast

from ..core.diagnostics import Diagnostic
from ..core.domains import TensorType
from ..core.source import Source, Span
from ..frontend import syntax as ast
from ..ir.checked import CheckedModel
from ..ir.graph import DistNode, OpNode, Payload
from .driver import PartialCheck, check_partial

# Kinds of symbol, as document outlines and hovers name them.
MODEL, BLOCK, TRANSFORM, NET, CONST, PARAM, TENSOR = "model", "block", "transform", "net", "const", "param", "tensor"


@dataclass(frozen=True)
class Symbol:
    """A declared name: `span` is the name where it is declared, `extent` the whole declaration
    (the statement, for a tensor); `container` the model or block it belongs to, if any."""

    name: str
    kind: str
    span: Span
    extent: Span
    container: str | None = None
    detail: str = ""  # a short description: `input x: real[2]`, `block f(h, k=1)`


@dataclass(frozen=True)
class Occurrence:
    """A name as written, and the symbol it means (None if the file declares none)."""

    name: str
    span: Span
    symbol: Symbol | None
    definition: bool  # this is where `symbol` is declared
    role: str  # "callee" (a call's name), "keyword", "value" (a tensor or constant), "declaration"
    owner: str | None = None  # for a keyword, the name of the call it is given to


@dataclass(frozen=True)
class TensorInfo:
    """One copy of a tensor binding as checked: its model, id (`h_3`) and type; `line` is
    the line of the statement that made it."""

    model: str
    tensor: str
    type: TensorType
    line: int
    via: tuple[str, ...] = ()  # the block calls it was inlined through, innermost first


@dataclass
class Index:
    """The names of one text and the checked types of its tensors (see the module's doc)."""

    symbols: list[Symbol] = field(default_factory=list)
    occurrences: list[Occurrence] = field(default_factory=list)
    tensor_types: dict[tuple[int, int], list[TensorInfo]] = field(default_factory=dict)
    # per tensor argument as written (its line and column), the tensors it passed, one per copy
    use_types: dict[tuple[int, int], list[TensorInfo]] = field(default_factory=dict)


@dataclass
class Analysis:
    """Everything known about one text; `module` is None when it does not parse.

    The index of names and types is built on first use: the diagnostics published after an
    edit do not wait for it."""

    source: Source
    module: ast.Module | None
    diagnostics: list[Diagnostic]
    models: list[CheckedModel]
    _index: Index | None = field(default=None, repr=False, compare=False)

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = _build_index(self.module, self.models)
        return self._index

    @property
    def symbols(self) -> list[Symbol]:
        return self.index.symbols

    @property
    def occurrences(self) -> list[Occurrence]:
        return self.index.occurrences

    @property
    def tensor_types(self) -> dict[tuple[int, int], list[TensorInfo]]:
        return self.index.tensor_types

    @property
    def use_types(self) -> dict[tuple[int, int], list[TensorInfo]]:
        return self.index.use_types

    @property
    def parsed(self) -> bool:
        return self.module is not None

    def occurrence_at(self, line: int, column: int) -> Occurrence | None:
        """The name written at (line, column), 1-based; a position just after a name counts."""
        for occurrence in self.occurrences:
            span = occurrence.span
            if span.line == line and span.column <= column <= span.end_column:
                return occurrence
        return None

    def references(self, symbol: Symbol) -> list[Occurrence]:
        """Every occurrence of `symbol`, its declaration included, in source order."""
        return [o for o in self.occurrences if o.symbol == symbol]

    def types_of(self, occurrence: Occurrence) -> list[TensorInfo]:
        """The checked types of the tensor named at `occurrence`: those of its binding, else
        (a binding whose tensor a block call made) those it has where it is next used."""
        span = occurrence.span
        found = self.tensor_types.get((span.line, span.column)) or self.use_types.get((span.line, span.column))
        if found or occurrence.symbol is None or not occurrence.definition:
            return found or []
        for use in self.references(occurrence.symbol):
            if not use.definition and (later := self.use_types.get((use.span.line, use.span.column))):
                return later
        return []

    def model(self, name: str) -> CheckedModel | None:
        return next((m for m in self.models if m.name == name), None)

    def top_level(self) -> list[Symbol]:
        """Declarations of the file (models, blocks, transforms, nets, constants)."""
        return [s for s in self.symbols if s.kind in (MODEL, BLOCK, TRANSFORM, NET, CONST)]

    def in_scope(self, line: int) -> list[Symbol]:
        """Names usable on `line`: the top-level declarations, and the tensors and parameters
        of the model or block whose text holds the line (bound on an earlier line)."""
        holder = next(
            (s for s in self.symbols if s.kind in (MODEL, BLOCK) and s.extent.line <= line <= s.extent.end_line),
            None,
        )
        local = [
            s
            for s in self.symbols
            if holder is not None and s.container == holder.name and s.kind in (TENSOR, PARAM) and s.span.line <= line
        ]
        return self.top_level() + local


def analyse(text: str, filename: str = "<string>", previous: Analysis | None = None) -> Analysis:
    """Check `text` and index its names; never raises for a bad model. `previous`, the
    analysis of an earlier text of the file that parsed, spares re-parsing unchanged lines."""
    earlier = None
    if previous is not None and previous.module is not None:
        earlier = PartialCheck(previous.source, previous.module, [], [])
    found: PartialCheck = check_partial(text, filename, earlier)
    return Analysis(found.source, found.module, found.diagnostics, found.models)


def _build_index(module: ast.Module | None, models: list[CheckedModel]) -> Index:
    """Index the names of `module` and the types of the checked `models`."""
    index = Index()
    if module is not None:
        _Indexer(index).module(module)
        index.occurrences.sort(key=lambda o: (o.span.line, o.span.column))
    for model in models:
        # One pass over the graph's payloads (a lookup per node through networkx costs more).
        payloads: dict[str, Payload] = {node: cast("Payload", data) for node, data in model.ir.graph.nodes(data="ir")}
        for tensor_id, definition in model.ir.tensors.items():
            type_ = model.types.get(tensor_id)
            if type_ is None:  # not typed: the model has an error before it (a bad block call)
                continue
            key = (definition.span.line, definition.span.column)
            via = tuple(block for block, _ in definition.span.via)
            info = TensorInfo(model.name, tensor_id, type_, definition.span.line, via)
            copies = index.tensor_types.setdefault(key, [])
            # A pipeline makes a tensor per stage at one binding: the last one is the binding's,
            # and its producer consumes the stage before.
            producer = payloads[definition.producer]
            if copies and copies[-1].model == model.name and copies[-1].tensor in getattr(producer, "inputs", ()):
                copies[-1] = info
            else:
                copies.append(info)
        for payload in payloads.values():
            if isinstance(payload, OpNode):
                uses = list(zip(payload.input_spans, payload.inputs, strict=False))
            elif isinstance(payload, DistNode) and payload.input_span is not None:
                uses = [(payload.input_span, payload.input)]
            else:
                continue
            for span, tensor in uses:
                if tensor in model.types:
                    made = model.ir.tensors[tensor]
                    info = TensorInfo(model.name, tensor, model.types[tensor], made.span.line, ())
                    index.use_types.setdefault((span.line, span.column), []).append(info)
    return index


class _Indexer:
    """Walks the AST once, declaring symbols and resolving each name it meets."""

    def __init__(self, analysis: Index) -> None:
        self.analysis = analysis
        self.top: dict[str, Symbol] = {}

    def module(self, module: ast.Module) -> None:
        for decl in module.declarations:  # declarations may be used before they are written
            symbol = Symbol(decl.name.text, _kind(decl), decl.name.span, decl.span, None, _detail(decl))
            self.top.setdefault(symbol.name, symbol)
            self.analysis.symbols.append(symbol)
            self._occur(decl.name.text, decl.name.span, symbol, "declaration", definition=True)
        for decl in module.declarations:
            owner = decl.name.text
            if isinstance(decl, ast.ConstDecl):
                self._value(decl.value, {})
            elif isinstance(decl, ast.ModelDecl):
                self._body(decl.body, {}, owner)
            elif isinstance(decl, ast.BlockDecl):
                scope: dict[str, Symbol] = {}
                for param in decl.params:
                    self._param(param, scope, owner)
                self._body(decl.body, scope, owner)
            else:  # transform, net: their keywords are parameters, their rules name dimensions
                for param in decl.params:
                    self._param(param, {}, owner)

    def _param(self, param: ast.BlockParam, scope: dict[str, Symbol], owner: str) -> None:
        detail = f"{param.name.text}" if param.default is None else f"{param.name.text}= (keyword)"
        symbol = Symbol(param.name.text, PARAM, param.name.span, param.span, owner, detail)
        scope[param.name.text] = symbol
        self.analysis.symbols.append(symbol)
        self._occur(param.name.text, param.name.span, symbol, "declaration", definition=True)
        if param.default is not None:
            self._value(param.default, {})

    def _body(self, body: Iterable[ast.Statement], scope: dict[str, Symbol], owner: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.InputDecl | ast.ContextDecl):
                word = "input" if isinstance(stmt, ast.InputDecl) else "context"
                self._type(stmt.type, scope)
                self._bind(stmt.name, stmt.span, scope, owner, f"{word} {stmt.name.text}")
            elif isinstance(stmt, ast.Assign):
                head = stmt.value.head
                if isinstance(head, ast.Ident):
                    self._value(head, scope)
                else:
                    self._call(head, scope)
                for stage in stmt.value.stages:
                    self._call(stage, scope)
                for target in stmt.targets:
                    self._bind(target, stmt.span, scope, owner, f"{target.text} = ...")
            elif isinstance(stmt, ast.Tilde):
                self._use(stmt.target.text, stmt.target.span, scope)
                self._call(stmt.dist, scope)
            elif isinstance(stmt, ast.Repeat):
                self._value(stmt.count, scope)
                self._body(stmt.body, scope, owner)
            elif isinstance(stmt, ast.Return):
                for name in stmt.names:
                    self._use(name.text, name.span, scope)

    def _bind(self, name: ast.Name, extent: Span, scope: dict[str, Symbol], owner: str, detail: str) -> None:
        symbol = Symbol(name.text, TENSOR, name.span, extent, owner, detail)
        scope[name.text] = symbol
        self.analysis.symbols.append(symbol)
        self._occur(name.text, name.span, symbol, "declaration", definition=True)

    def _type(self, type_: ast.TypeExpr, scope: dict[str, Symbol]) -> None:
        for value in (*type_.domain_args, *type_.dims):
            self._value(value, scope)

    def _call(self, call: ast.Call, scope: dict[str, Symbol]) -> None:
        self._occur(call.callee.text, call.callee.span, self.top.get(call.callee.text), "callee")
        for arg in call.args:
            self._value(arg, scope)
        for keyword in call.kwargs:
            self._occur(keyword.name.text, keyword.name.span, None, "keyword", owner=call.callee.text)
            self._value(keyword.value, scope)

    def _value(self, value: ast.Value, scope: dict[str, Symbol]) -> None:
        for node in _walk(value):
            if isinstance(node, ast.Ident):
                self._use(node.name, node.span, scope)
            elif isinstance(node, ast.Call):
                self._call(node, scope)

    def _use(self, name: str, span: Span, scope: dict[str, Symbol]) -> None:
        self._occur(name, span, scope.get(name) or self.top.get(name), "value")

    def _occur(
        self,
        name: str,
        span: Span,
        symbol: Symbol | None,
        role: str,
        definition: bool = False,
        owner: str | None = None,
    ) -> None:
        self.analysis.occurrences.append(Occurrence(name, span, symbol, definition, role, owner))


def _walk(value: ast.Value) -> Iterator[ast.Value]:
    """`value` and the values inside it, except inside calls (which `_call` visits)."""
    yield value
    if isinstance(value, ast.ListValue):
        for item in value.items:
            yield from _walk(item)
    elif isinstance(value, ast.Arith):
        yield from _walk(value.left)
        yield from _walk(value.right)
    elif isinstance(value, ast.Negate):
        yield from _walk(value.operand)


def _kind(decl: ast.Declaration) -> str:
    if isinstance(decl, ast.ModelDecl):
        return MODEL
    if isinstance(decl, ast.BlockDecl):
        return BLOCK
    if isinstance(decl, ast.TransformDecl):
        return TRANSFORM
    if isinstance(decl, ast.NetDecl):
        return NET
    return CONST


def _detail(decl: ast.Declaration) -> str:
    """The declaration's head as written: `block glow_step(h, hidden=...)`."""
    if isinstance(decl, ast.ConstDecl | ast.ModelDecl):
        return f"{_kind(decl)} {decl.name.text}"
    params = ", ".join(p.name.text if p.default is None else f"{p.name.text}=..." for p in decl.params)
    kind = f": {decl.kind.text}" if isinstance(decl, ast.TransformDecl) else ""
    return f"{_kind(decl)} {decl.name.text}({params}){kind}"
