"""AST → IR: resolve constants, unroll `repeat`, give shadowed names unique ids, build graphs.

Each model becomes a `ModelIR` whose graph has one node per input, op and `~` statement, and
one edge per tensor use. Name errors found here (undefined tensors, misplaced statements,
bad types) are returned as diagnostics; lowering goes on past them where it safely can so that
one run reports as much as possible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from ..catalogue import CallValue, TensorRef
from ..core import codes
from ..core.diagnostics import Diagnostic, error, warning
from ..core.domains import DOMAIN_NAMES, DOMAINS_TEXT, NAMED_DOMAINS, Domain, integers, interval
from ..core.source import Span
from ..core.suggest import did_you_mean, typo_of
from ..frontend import syntax as ast
from ..frontend.arith import NOT_WHOLE_HINT, ArithError, Quotient, combine, negate
from ..frontend.respan import map_spans
from ..ir.graph import (
    ContextNode,
    DistNode,
    EdgeKind,
    InputNode,
    KwArg,
    ModelIR,
    OpNode,
    Scope,
    TensorDef,
    flow_edge,
    read_edge,
)
from .user_nets import net_entry
from .user_transforms import transform_entry

MAX_UNROLLED_OPS = 100_000
MAX_BLOCK_DEPTH = 64  # blocks calling blocks; deeper is almost surely a mistake (E504)
MAX_TENSOR_ENTRIES = 2**40
# Values built from constants: as deep as brackets may nest in the text (E505), and no more
# entries than a file under the size limit could spell out (E507).
MAX_VALUE_DEPTH = 100
MAX_VALUE_ENTRIES = 1_000_000


@dataclass
class Constants:
    """The file's `const` declarations, resolved on use (a constant may name another)."""

    decls: dict[str, ast.ConstDecl]
    diagnostics: list[Diagnostic]
    _resolving: set[str] = field(default_factory=set)
    # A block's keyword parameters, already resolved: they shadow the file's constants.
    overrides: dict[str, Any] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # constants read so far (shared with `within`)
    # Each constant's value and its number of entries, once resolved in this scope: a constant
    # that names another twice (`const B = [A, A]`) must not resolve it twice.
    _resolved: dict[str, tuple[Any, int]] = field(default_factory=dict)
    _depth: int = 0  # lists, calls and constants entered by the resolution under way

    def within(self, overrides: dict[str, Any]) -> Constants:
        """The scope of a block body: the file's constants and the block's keyword values."""
        return Constants(self.decls, self.diagnostics, overrides=overrides, used=self.used)

    def resolve(self, value: ast.Value) -> Any:
        """A plain Python value: numbers, bools, strings (enum names), tuples, CallValue.

        None where an error was reported: a constant defined through itself (E208), a value
        nested more than MAX_VALUE_DEPTH deep through constants (E505), or one that expands
        to more than MAX_VALUE_ENTRIES entries (E507)."""
        try:
            return self._resolve(value)[0]
        except _ValueLimit as exc:
            # Too deep: shown where the value is used (its innermost constant says little);
            # too large: where the list that crosses the limit is written.
            self.diagnostics.append(
                exc.diagnostic
                or error(
                    codes.E505,
                    value.span,
                    f"this value nests more than {MAX_VALUE_DEPTH} deep through the constants it names",
                    "give the value directly, or through fewer constants",
                )
            )
            self.used.update(self.decls)  # which constants the value reads is unknown now: no W402
            return None

    def _resolve(self, value: ast.Value) -> tuple[Any, int]:
        """(value, its number of entries)."""
        if isinstance(value, (ast.Number, ast.Bool, ast.String)):
            return value.value, 1
        if self._depth >= MAX_VALUE_DEPTH:
            raise _ValueLimit(None)
        self._depth += 1
        try:
            if isinstance(value, ast.ListValue):
                items = [self._resolve(v) for v in value.items]
                return tuple(v for v, _ in items), self._counted(sum(n for _, n in items), value.span)
            if isinstance(value, ast.Call):
                kwargs = [(k.name.text, self._resolve(k.value)) for k in value.kwargs]
                size = self._counted(1 + sum(n for _, (_, n) in kwargs), value.span)
                return CallValue(value.callee.text, tuple((k, v) for k, (v, _) in kwargs), value.span), size
            if isinstance(value, (ast.Arith, ast.Negate)):
                return self._arith(value), 1
            return self._ident(value)
        finally:
            self._depth -= 1

    def _arith(self, value: ast.Arith | ast.Negate) -> Any:
        """The number an arithmetic value computes (frontend/arith.py), or None once reported."""
        operands = [
            self._resolve(v)[0]
            for v in ((value.operand,) if isinstance(value, ast.Negate) else (value.left, value.right))
        ]
        if any(o is None for o in operands):  # a part that could not be resolved: reported already
            return None
        try:
            return negate(value, operands[0]) if isinstance(value, ast.Negate) else combine(value, *operands)
        except ArithError as exc:
            self.diagnostics.append(exc.diagnostic)
            return None

    @staticmethod
    def _counted(size: int, span: Span) -> int:
        if size > MAX_VALUE_ENTRIES:
            raise _ValueLimit(
                error(
                    codes.E507,
                    span,
                    f"this value expands to {size:,} entries through the constants it names, "
                    f"over the limit of {MAX_VALUE_ENTRIES:,}",
                    "a constant named twice in a list repeats its whole value: name it once",
                )
            )
        return size

    def _ident(self, ident: ast.Ident) -> tuple[Any, int]:
        if ident.name in self.overrides:
            return self.overrides[ident.name], 1
        decl = self.decls.get(ident.name)
        if decl is not None:
            self.used.add(ident.name)
        if decl is None:
            return ident.name, 1  # an enum name such as `tanh_exp`; the schema decides
        if ident.name in self._resolved:
            return self._resolved[ident.name]
        if ident.name in self._resolving:
            self.diagnostics.append(
                error(
                    codes.E208, ident.span, f"constant `{ident.name}` is defined in terms of itself", "give it a value"
                )
            )
            return None, 1
        self._resolving.add(ident.name)
        try:
            self._resolved[ident.name] = self._resolve(decl.value)
        finally:
            self._resolving.discard(ident.name)
        return self._resolved[ident.name]


def count_text(n: int) -> str:
    """`n` with thousands separators, or `about 10**k` when it has too many digits for that
    (Python refuses to print integers of more than 4,300 digits)."""
    if n.bit_length() <= 256:
        return f"{n:,}"
    return f"about 10**{int((n.bit_length() - 1) * math.log10(2))}"


def shape_text(shape: tuple[int, ...]) -> str:
    """`[a, b, ...]`, each size as `count_text` gives it but without separators."""
    return "[" + ", ".join(count_text(d).replace(",", "") for d in shape) + "]"


class _ValueLimit(Exception):
    """A resolved value over a limit: E507 where it was found, or None for too deep (E505,
    reported where the value is used)."""

    def __init__(self, diagnostic: Diagnostic | None) -> None:
        super().__init__(diagnostic.message if diagnostic else "too deep")
        self.diagnostic = diagnostic


def lower_module(module: ast.Module) -> tuple[list[ModelIR], list[Diagnostic]]:
    """Lower every model of a file; diagnostics cover the whole file."""
    diagnostics: list[Diagnostic] = []
    consts: dict[str, ast.ConstDecl] = {}
    blocks: dict[str, ast.BlockDecl] = {}
    user_ops: dict[str, Any] = {}  # transform declarations → their catalogue entries
    user_nets: dict[str, Any] = {}  # net declarations → their net entries
    # Constants may be declared after the transforms that use them: resolve lazily.
    declared = {d.name.text: d for d in module.declarations if isinstance(d, ast.ConstDecl)}
    constants_for_transforms = Constants(declared, diagnostics)  # constants may come after a transform
    called: set[str] = set()  # blocks and transforms called by some model (directly or not)
    broken: set[str] = set()  # blocks and transforms whose declaration is in error: calls are not lowered
    models: list[ast.ModelDecl] = []
    seen: dict[str, Span] = {}
    for decl in module.declarations:
        if decl.name.text in seen:
            diagnostics.append(_duplicate(decl.name, seen[decl.name.text], "declaration"))
            continue
        seen[decl.name.text] = decl.name.span
        if isinstance(decl, ast.ConstDecl):
            consts[decl.name.text] = decl
        elif isinstance(decl, ast.TransformDecl):
            entry, found = transform_entry(decl, constants_for_transforms.resolve)
            diagnostics += found
            if entry is not None:
                user_ops[entry.name] = entry
            else:
                broken.add(decl.name.text)
        elif isinstance(decl, ast.NetDecl):
            net, found = net_entry(decl, constants_for_transforms.resolve)
            diagnostics += found
            if net is not None:
                user_nets[net.name] = net
        elif isinstance(decl, ast.BlockDecl):
            blocks[decl.name.text] = decl
            if not _check_block(decl, diagnostics):
                broken.add(decl.name.text)
        else:
            models.append(decl)
    constants = Constants(consts, diagnostics, used=constants_for_transforms.used)
    names = {m.name.text for m in models}
    lowerings = [_ModelLowering(m, constants, blocks, broken, names, diagnostics) for m in models]
    lowered = [lowering.run() for lowering in lowerings]
    for lowering in lowerings:
        called |= lowering.called
    for model in lowered:
        if model is not None:
            model.user_ops = user_ops
            model.user_nets = user_nets
    diagnostics += _unused(module, constants.used, called)
    return [m for m in lowered if m is not None], diagnostics


def _unused(module: ast.Module, used_constants: set[str], called: set[str]) -> list[Diagnostic]:
    """W402 for a constant no model, block or transform reads; W403 for a block or transform
    no model calls. Both are usually a typo or a leftover."""
    out = []
    for decl in module.declarations:
        name = decl.name.text
        if isinstance(decl, ast.ConstDecl) and name not in used_constants:
            out.append(
                warning(codes.W402, decl.name.span, f"constant `{name}` is never used", "use it, or delete the line")
            )
        elif isinstance(decl, (ast.BlockDecl, ast.TransformDecl)) and name not in called:
            what = "block" if isinstance(decl, ast.BlockDecl) else "transform"
            out.append(
                warning(
                    codes.W403, decl.name.span, f"{what} `{name}` is never called by a model", "call it, or delete it"
                )
            )
    return out


def _check_block(decl: ast.BlockDecl, out: list[Diagnostic]) -> bool:
    """Errors in a block's shape that do not depend on a call: parameters, `return`.
    False if there is one."""
    before = len(out)
    seen: dict[str, Span] = {}
    keyword_seen = False
    for param in decl.params:
        if param.name.text in seen:
            out.append(_duplicate(param.name, seen[param.name.text], "block's parameters"))
        seen[param.name.text] = param.name.span
        if param.default is None and keyword_seen:
            out.append(
                error(
                    codes.E209,
                    param.span,
                    f"tensor parameter `{param.name.text}` of block `{decl.name.text}` follows a keyword parameter",
                    "list the tensors first, then the keywords with their defaults: `block f(h, hidden=64)`",
                )
            )
        keyword_seen = keyword_seen or param.default is not None
    returns = [i for i, stmt in enumerate(decl.body) if isinstance(stmt, ast.Return)]
    if returns != [len(decl.body) - 1]:
        span = decl.body[returns[0]].span if returns else decl.name.span
        out.append(
            error(
                codes.E209,
                span,
                f"block `{decl.name.text}` must end with one `return`"
                if not returns
                else "`return` must be the last statement of a block",
                "end the block with `return h` (or `return a, b`)",
            )
        )
    return len(out) == before


def relocate(node: Any, via: tuple[tuple[str, Span], ...]) -> Any:
    """A copy of an AST (sub)tree whose spans record the block calls that inlined it."""
    return map_spans(node, lambda s: Span(s.filename, s.line, s.column, s.end_line, s.end_column, via))


def _duplicate(name: ast.Name, first: Span, what: str) -> Diagnostic:
    return error(
        codes.E208,
        name.span,
        f"`{name.text}` is declared twice",
        f"rename one of them; names of a {what} are unique",
        notes=((first, "first declared here"),),
    )


def count_ops(
    statements: tuple[ast.Statement, ...],
    constants: Constants,
    blocks: dict[str, ast.BlockDecl] | None = None,
    calling: frozenset[str] = frozenset(),
    called: set[str] | None = None,
) -> int:
    """How many graph nodes these statements unroll to (for the E502 limit), block calls
    expanded with their keyword values (a recursive call counts once: it is an error of its
    own, E504). `called` gets the names of the blocks and transforms called."""
    sizer = _Sizer(blocks or {})
    total = sizer.ops(statements, constants, calling)
    if called is not None:
        called |= sizer.called
    return total


@dataclass(frozen=True)
class _Part:
    """A `repeat` or a block call, and the ops it unrolls to (each time it is reached)."""

    span: Span  # `repeat N`, or the call; with the block calls that inline it
    ops: int
    repeat: ast.Repeat | None  # None: a block call
    times: int  # the repeat's count (1 for a block call)
    # What it unrolls: the repeat's body, or the block's body in the block's own scope.
    body: tuple[ast.Statement, ...]
    constants: Constants
    calling: frozenset[str]
    via: tuple[tuple[str, Span], ...]
    block: str = ""


class _Sizer:
    """Counts ops without unrolling: a repeat multiplies its body, a block call adds its body
    counted with the call's keyword values (`repeat n` in a block depends on them)."""

    def __init__(self, blocks: dict[str, ast.BlockDecl]) -> None:
        self.blocks = blocks
        # (block, its keyword values, the blocks calling it) → ops: a block called twice by a
        # block called twice... is counted once per distinct call, not once per path.
        self.memo: dict[Any, int] = {}
        self.called: set[str] = set()  # blocks and transforms called (for W403 when not lowered)

    def ops(self, statements: tuple[ast.Statement, ...], constants: Constants, calling: frozenset[str]) -> int:
        total = 0
        for stmt in statements:
            if isinstance(stmt, ast.Repeat):
                total += self.times(stmt, constants) * self.ops(stmt.body, constants, calling)
            elif isinstance(stmt, ast.Assign):
                for call in _calls(stmt):
                    total += self.call_ops(call, constants, calling)
            elif isinstance(stmt, ast.Tilde):
                total += 1
        return total

    @staticmethod
    def times(stmt: ast.Repeat, constants: Constants) -> int:
        count = constants.resolve(stmt.count)
        return max(count, 0) if isinstance(count, int) and not isinstance(count, bool) else 1

    def scope(self, block: ast.BlockDecl, call: ast.Call, constants: Constants) -> Constants:
        """The constants of the block's body for this call, as `_block_keywords` resolves
        them; errors in them are reported when the call is lowered, not here."""
        quiet = Constants(constants.decls, [], overrides=constants.overrides, used=constants.used)
        file = quiet.within({})
        values = {p.name.text: file.resolve(p.default) for p in block.keyword_params if p.default is not None}
        for kw in call.kwargs:
            if kw.name.text in values:
                values[kw.name.text] = quiet.resolve(kw.value)
        return file.within(values)

    def call_ops(self, call: ast.Call, constants: Constants, calling: frozenset[str]) -> int:
        self.called.add(call.callee.text)
        block = self.blocks.get(call.callee.text)
        if block is None or block.name.text in calling:
            return 1
        scope = self.scope(block, call, constants)
        inner = calling | {block.name.text}
        try:
            key: Any = (block.name.text, tuple(sorted(scope.overrides.items())), inner)
            hash(key)
        except TypeError:  # a value that cannot be a key: count it each time
            key = None
        if key is not None and key in self.memo:
            return self.memo[key]
        ops = self.ops(block.body, scope, inner)
        if key is not None:
            self.memo[key] = ops
        return ops

    def parts(
        self,
        statements: tuple[ast.Statement, ...],
        constants: Constants,
        calling: frozenset[str],
        via: tuple[tuple[str, Span], ...],
    ) -> list[_Part]:
        """The `repeat`s and block calls among these statements (not inside them)."""
        out = []
        for stmt in statements:
            if isinstance(stmt, ast.Repeat):
                times = self.times(stmt, constants)
                end = stmt.count.span
                head = replace(stmt.span, end_line=end.end_line, end_column=end.end_column, via=via)
                ops = times * self.ops(stmt.body, constants, calling)
                out.append(_Part(head, ops, stmt, times, stmt.body, constants, calling, via))
            elif isinstance(stmt, ast.Assign):
                for call in _calls(stmt):
                    block = self.blocks.get(call.callee.text)
                    if block is None or block.name.text in calling:
                        continue
                    span = replace(call.span, via=via)
                    scope = self.scope(block, call, constants)
                    inner = calling | {block.name.text}
                    ops = self.call_ops(call, constants, calling)
                    inlined = ((block.name.text, span), *via)
                    out.append(_Part(span, ops, None, 1, block.body, scope, inner, inlined, block.name.text))
        return out

    def culprit(self, statements: tuple[ast.Statement, ...], constants: Constants) -> tuple[_Part, bool] | None:
        """The part to blame for a model over the limit, and whether it goes past the limit on
        its own: the innermost `repeat` or block call that does, going down through the
        largest part at each level; else (the parts only add up past it) the largest part of
        the model's body. None when the ops outside any part are over the limit by themselves."""
        found = self.parts(statements, constants, frozenset(), ())
        best = max(found, key=lambda p: p.ops, default=None)  # the first on a tie
        if best is None or self.ops(statements, constants, frozenset()) - sum(p.ops for p in found) > MAX_UNROLLED_OPS:
            return None
        if best.ops <= MAX_UNROLLED_OPS:
            return best, False
        while True:
            within = self.parts(best.body, best.constants, best.calling, best.via)
            inner = max(within, key=lambda p: p.ops, default=None)
            if inner is None or inner.ops <= MAX_UNROLLED_OPS:
                return best, True
            best = inner


def _calls(stmt: ast.Assign) -> list[ast.Call]:
    head = stmt.value.head
    return ([head] if isinstance(head, ast.Call) else []) + list(stmt.value.stages)


def _too_many_ops(
    decl: ast.ModelDecl, total: int, constants: Constants, blocks: dict[str, ast.BlockDecl]
) -> Diagnostic:
    """E502 at the `repeat` or block call that makes the model too large (see `culprit`)."""
    message = (
        f"model `{decl.name.text}` unrolls to {count_text(total)} ops, more than the limit of {MAX_UNROLLED_OPS:,}"
    )
    found = _Sizer(blocks).culprit(decl.body, constants)
    if found is None:
        hint = "split the model: its ops outside any `repeat` are over the limit"
        return error(codes.E502, decl.name.span, message, hint)
    part, alone = found
    ops = _ops_text(part.ops)
    if part.repeat is not None:
        per = part.ops // part.times if part.times else 0
        label = f"{count_text(part.times)} × {_ops_text(per)}"
        what, fix = "this `repeat`", "lower its count"
    else:
        label = ops
        what, fix = f"this call of block `{part.block}`", "make the block smaller"
    if alone:
        hint = f"{what} alone unrolls to {ops}, the innermost `repeat` or block call over the limit: {fix}"
    else:
        hint = f"no `repeat` or block call is over the limit alone; {what} is the largest, with {ops}: {fix}"
    return error(codes.E502, part.span, message, hint, label=label)


def _ops_text(n: int) -> str:
    return f"{count_text(n)} op{'s' * (n != 1)}"


class _ModelLowering:
    """Lowers one model declaration."""

    def __init__(
        self,
        decl: ast.ModelDecl,
        constants: Constants,
        blocks: dict[str, ast.BlockDecl],
        broken: set[str],
        model_names: set[str],
        diagnostics: list[Diagnostic],
    ) -> None:
        self.broken = broken
        self.called: set[str] = set()  # blocks and transforms this model calls
        self.model_names = model_names  # a model used after `~` takes its context by keyword
        self.decl = decl
        self.constants = constants
        self.file_constants = constants
        self.blocks = blocks
        self.via: tuple[tuple[str, Span], ...] = ()  # (block, call site) of the blocks being inlined
        self.diagnostics = diagnostics
        self.graph: nx.MultiDiGraph[str] = nx.MultiDiGraph(name=decl.name.text)
        self.ir = ModelIR(decl.name.text, decl.name.span, None, self.graph)
        self.env: dict[str, str] = {}  # user name → current tensor id
        self.repeat: tuple[tuple[int, int], ...] = ()
        self.scope: tuple[Scope, ...] = ()  # `repeat`s and block calls being lowered, outermost first
        self.calls = 0  # block calls inlined so far: each gets its own scope key
        self.counter = 0
        self.suffixes: dict[str, int] = {}  # user name → last suffix probed by _define
        self.bad_inputs: set[str] = set()  # inputs whose type is in error: already reported
        # A block's body as inlined through a chain of calls: a call inside `repeat` has the
        # same chain each time, and the AST is immutable, so one copy serves every iteration.
        self.relocated: dict[tuple[str, tuple[tuple[str, Span], ...]], tuple[ast.Statement, ...]] = {}

    def run(self) -> ModelIR | None:
        called: set[str] = set()
        total = count_ops(self.decl.body, self.constants, self.blocks, called=called)
        if total > MAX_UNROLLED_OPS:
            self.diagnostics.append(_too_many_ops(self.decl, total, self.constants, self.blocks))
            self.called = called  # not lowered: its calls still count as calls (no W403)
            return None
        for stmt in self.decl.body:
            self._statement(stmt, top=True)
        if not self.ir.inputs and not self.bad_inputs:
            self.diagnostics.append(
                error(
                    codes.E210,
                    self.decl.name.span,
                    f"model `{self.decl.name.text}` declares no input",
                    "declare the data it models, e.g. `input x: real[2]`",
                )
            )
        return self.ir

    # statements ------------------------------------------------------------------------------
    def _statement(self, stmt: ast.Statement, top: bool) -> None:
        if isinstance(stmt, (ast.Doc, ast.InputDecl, ast.ContextDecl)) and not top:
            keyword = {ast.Doc: "doc", ast.InputDecl: "input", ast.ContextDecl: "context"}[type(stmt)]
            where = "a block" if self.via else "`repeat`"
            self.diagnostics.append(
                error(
                    codes.E209,
                    stmt.span,
                    f"`{keyword}` cannot appear inside {where}",
                    "move it to the top of the model",
                )
            )
            return
        if isinstance(stmt, ast.Return):
            if not self.via:
                self.diagnostics.append(
                    error(
                        codes.E209,
                        stmt.span,
                        "`return` belongs at the end of a `block`",
                        "a model's outputs are its `~`s",
                    )
                )
            return  # a block's `return` is read by `_inline`
        if isinstance(stmt, ast.Doc):
            self._doc(stmt)
        elif isinstance(stmt, ast.InputDecl):
            self._input(stmt)
        elif isinstance(stmt, ast.ContextDecl):
            self._context(stmt)
        elif isinstance(stmt, ast.Assign):
            self._assign(stmt)
        elif isinstance(stmt, ast.Tilde):
            self._tilde(stmt)
        else:
            self._repeat(stmt)

    def _doc(self, stmt: ast.Doc) -> None:
        if self.ir.doc is not None:
            self.diagnostics.append(
                error(codes.E208, stmt.span, "a model has at most one `doc`", "merge the two texts")
            )
            return
        self.ir.doc = stmt.text

    def _input(self, stmt: ast.InputDecl) -> None:
        node = self._declare(stmt, "input", InputNode)
        if node is not None:
            self.ir.inputs.append(node)

    def _context(self, stmt: ast.ContextDecl) -> None:
        node = self._declare(stmt, "context", ContextNode)
        if node is not None:
            self.ir.contexts.append(node)

    def _declare(self, stmt: ast.InputDecl | ast.ContextDecl, kind: str, payload: type) -> str | None:
        """The graph node of an `input` or `context` declaration (None after an error)."""
        if stmt.name.text in self.env:
            first = self.ir.tensors[self.env[stmt.name.text]].span
            self.diagnostics.append(_duplicate(stmt.name, first, "model's inputs and tensors"))
            return None
        resolved = self._type(stmt.type)
        if resolved is None:
            self.bad_inputs.add(stmt.name.text)
            return None
        domain, shape = resolved
        node = f"{kind}:{stmt.name.text}"
        tensor = self._define(stmt.name, node, 0)
        self.graph.add_node(node, ir=payload(stmt.name.text, tensor, domain, shape, stmt.span))
        return node

    def _assign(self, stmt: ast.Assign) -> None:
        pipeline = stmt.value
        calls = list(pipeline.stages)
        if isinstance(pipeline.head, ast.Ident):
            current = self._tensor(pipeline.head)
            if not calls:  # `a = b`: a second name for the same tensor
                if current is not None:
                    self._alias(stmt.targets, current, pipeline.head.span)
                return
        else:
            current, calls = None, [pipeline.head, *calls]
        for i, call in enumerate(calls):
            last = i == len(calls) - 1
            piped = (current,) if (i > 0 or isinstance(pipeline.head, ast.Ident)) else ()
            targets = stmt.targets if last else (stmt.targets[0],)
            piped_span = (pipeline.head if i == 0 else calls[i - 1]).span
            current = self._op(call, piped, piped_span, targets)

    def _alias(self, targets: tuple[ast.Name, ...], tensor: str, span: Span) -> None:
        if len(targets) != 1:
            self.diagnostics.append(
                error(codes.E206, span, f"one tensor cannot be bound to {len(targets)} names", "bind it to one name")
            )
            return
        self.env[targets[0].text] = tensor

    def _op(
        self, call: ast.Call, piped: tuple[str | None, ...], piped_span: Span, targets: tuple[ast.Name, ...]
    ) -> str | None:
        self.called.add(call.callee.text)
        if call.callee.text in self.blocks:
            return self._inline(self.blocks[call.callee.text], call, piped, targets)
        if call.callee.text in self.broken:  # a `transform` whose declaration is reported
            reads = tuple(piped) + tuple(self._positional(a, call) for a in call.args)
            return self._placeholder(call, tuple(dict.fromkeys(reads)), targets)
        args = [(t, piped_span) for t in piped] + [(self._positional(a, call), a.span) for a in call.args]
        node = self._node_id("op")
        known = tuple((t, span) for t, span in args if t is not None)
        kwargs = self._kwargs(call)  # before the outputs are bound: `context=a` reads the old `a`
        outputs = tuple(self._define(t, node, i) for i, t in enumerate(targets))
        tensors, spans = tuple(t for t, _ in known), tuple(span for _, span in known)
        resolved = len(known) == len(args)
        payload = OpNode(
            call.callee.text,
            call.callee.span,
            kwargs,
            tensors,
            outputs,
            call.span,
            self.repeat,
            spans,
            resolved,
            scope=self.scope,
        )
        self.graph.add_node(node, ir=payload)
        for position, tensor in enumerate(tensors):
            self._edge(tensor, node, position)
        self._read(payload.context, node)
        return outputs[0] if outputs else None

    def _inline(
        self, block: ast.BlockDecl, call: ast.Call, piped: tuple[str | None, ...], targets: tuple[ast.Name, ...]
    ) -> str | None:
        """Lower a block's body in place of a call: its tensor parameters bound to the call's
        tensors, its keyword parameters to the call's values (or their defaults)."""
        name = block.name.text
        calling = [b for b, _ in self.via]
        args = list(piped) + [self._positional(a, call) for a in call.args]
        if name in self.broken:  # its declaration is reported; inlining it would only cascade
            return self._placeholder(call, tuple(dict.fromkeys(args)), targets)
        if name in calling or len(self.via) >= MAX_BLOCK_DEPTH:
            chain = " → ".join([*reversed(calling), name])
            self.diagnostics.append(
                error(
                    codes.E504,
                    call.callee.span,
                    f"block `{name}` calls itself ({chain})"
                    if name in calling
                    else f"blocks nest more than {MAX_BLOCK_DEPTH} deep here ({chain})",
                    "blocks are inlined, so they cannot recurse; use `repeat` for a fixed number of steps",
                )
            )
            return self._placeholder(call, tuple(dict.fromkeys(args)), targets)
        wanted = block.tensor_params
        if len(args) != len(wanted):
            self.diagnostics.append(
                error(
                    codes.E206,
                    call.span,
                    f"block `{name}` takes {len(wanted)} tensor{'s' * (len(wanted) != 1)} "
                    f"({', '.join(p.name.text for p in wanted)}), found {len(args)}",
                    f"call it as `{name}({', '.join(p.name.text for p in wanted)}, key=value)`",
                    notes=((block.name.span, f"block `{name}` is defined here"),),
                )
            )
            return self._placeholder(call, tuple(dict.fromkeys(args)), targets)
        values = self._block_keywords(block, call)
        tensors = [a for a in args if a is not None]
        if values is None or len(tensors) != len(args):
            return self._placeholder(call, tuple(args), targets)
        outer = (self.env, self.constants, self.via, self.scope)
        self.env = {p.name.text: tensor for p, tensor in zip(wanted, tensors, strict=True)}
        self.constants = self.file_constants.within(values)
        self.via = ((name, call.span), *self.via)
        self.calls += 1
        parent = self.scope[-1].key if self.scope else ""
        line = call.span.line
        self.scope = (*self.scope, Scope("block", f"{name} (line {line})", f"{parent}/b{self.calls}", 1, line))
        body = self.relocated.get((name, self.via))
        if body is None:
            body = self.relocated[name, self.via] = relocate(block.body, self.via)
        try:
            for stmt in body:
                self._statement(stmt, top=False)
            returned = self._returned(body)
        finally:
            self.env, self.constants, self.via, self.scope = outer
        if returned is None:  # no `return` (reported as E209)
            return self._placeholder(call, (), targets)
        resolved = tuple(t for t in returned if t is not None)
        if len(resolved) != len(returned):  # a returned name is undefined (reported as E202)
            return self._placeholder(call, self._unconsumed(resolved), targets)
        if len(returned) != len(targets):
            self.diagnostics.append(
                error(
                    codes.E206,
                    call.span,
                    f"block `{name}` returns {len(returned)} tensor{'s' * (len(returned) != 1)}, "
                    f"but {len(targets)} name{'s are' if len(targets) != 1 else ' is'} bound to it",
                    f"bind one name per returned tensor: `{', '.join(_names(len(returned)))} = {name}(...)`",
                )
            )
            # The returned tensors go to the placeholder: left unconsumed, each would cascade
            # into an E401 inside the block, reported before (above) the E206 that causes it.
            return self._placeholder(call, self._unconsumed(resolved), targets)
        for target, tensor in zip(targets, resolved, strict=True):
            self.env[target.text] = tensor
        return resolved[0] if resolved else None

    def _placeholder(self, call: ast.Call, args: tuple[str | None, ...], targets: tuple[ast.Name, ...]) -> str | None:
        """A block call that could not be inlined (already reported) still consumes its
        arguments (or, once the body is inlined, the tensors it returns) and binds its targets,
        so later lines do not cascade into E202 or E401."""
        node = self._node_id("op")
        tensors = tuple(t for t in args if t is not None)
        outputs = tuple(self._define(t, node, i) for i, t in enumerate(targets))
        payload = OpNode(
            call.callee.text, call.callee.span, (), tensors, outputs, call.span, self.repeat, (), False, True
        )
        self.graph.add_node(node, ir=payload)
        for position, tensor in enumerate(tensors):
            self._edge(tensor, node, position)
        return outputs[0] if outputs else None

    def _unconsumed(self, tensors: tuple[str, ...]) -> tuple[str, ...]:
        """The tensors a failed block call's placeholder may consume without a cascade of its
        own: each once, none consumed already (E402) and no `context` (E409)."""
        out = []
        for tensor in dict.fromkeys(tensors):
            producer = self.ir.tensors[tensor].producer
            consumed = any(
                d["tensor"] == tensor and d["kind"] is EdgeKind.FLOW
                for _, _, d in self.graph.out_edges(producer, data=True)
            )
            if consumed or isinstance(self.graph.nodes[producer]["ir"], ContextNode):
                continue
            out.append(tensor)
        return tuple(out)

    def _block_keywords(self, block: ast.BlockDecl, call: ast.Call) -> dict[str, Any] | None:
        """The block's keyword values for this call; None after an error."""
        defaults = {p.name.text: p.default for p in block.keyword_params if p.default is not None}
        values = {key: self.file_constants.resolve(value) for key, value in defaults.items()}
        ok = True
        for kw in call.kwargs:
            if kw.name.text not in defaults:
                known = list(defaults)
                hint = did_you_mean(kw.name.text, known) or (
                    f"`{block.name.text}` takes " + ", ".join(f"`{k}`" for k in known)
                    if known
                    else f"block `{block.name.text}` takes no keywords"
                )
                self.diagnostics.append(
                    error(codes.E203, kw.name.span, f"block `{block.name.text}` has no keyword `{kw.name.text}`", hint)
                )
                ok = False
                continue
            values[kw.name.text] = self.constants.resolve(kw.value)
        return values if ok else None

    def _returned(self, body: tuple[ast.Statement, ...]) -> tuple[str | None, ...] | None:
        """The tensors a block body returns (its last statement; checked by `_check_block`):
        None for a name that is not defined (reported), and None for a body without `return`."""
        if not body or not isinstance(body[-1], ast.Return):
            return None
        return tuple(self._tensor(ast.Ident(n.text, n.span)) for n in body[-1].names)

    def _read(self, tensor: str | None, consumer: str) -> None:
        """A `context=` read: an edge that consumes nothing."""
        if tensor is not None:
            producer = self.ir.tensors[tensor].producer
            self.graph.add_edge(producer, consumer, **read_edge(tensor))

    def _tilde(self, stmt: ast.Tilde) -> None:
        tensor = self._tensor(ast.Ident(stmt.target.text, stmt.target.span))
        for arg in stmt.dist.args:
            self.diagnostics.append(
                error(
                    codes.E206,
                    _span_of(arg),
                    f"the distribution `{stmt.dist.callee.text}` takes no tensor argument: "
                    f"`{stmt.target.text} ~ ...` already names the tensor it models",
                    "write hyper-parameters as `key=value`",
                )
            )
        if tensor is None:
            return
        node = self._node_id("dist")
        dist = stmt.dist
        kwargs = self._kwargs(dist, reads_by_keyword=dist.callee.text in self.model_names)
        payload = DistNode(
            dist.callee.text, dist.callee.span, kwargs, tensor, stmt.span, self.repeat, stmt.target.span, self.scope
        )
        self.graph.add_node(node, ir=payload)
        self._edge(tensor, node, 0)
        self._read(payload.context, node)

    def _repeat(self, stmt: ast.Repeat) -> None:
        count = self.constants.resolve(stmt.count)
        if count is None:  # a constant that could not be resolved: reported already
            return
        if isinstance(count, Quotient):
            self.diagnostics.append(
                error(
                    codes.E305,
                    _span_of(stmt.count),
                    f"`repeat` needs a whole number, but {count.fraction()}",
                    NOT_WHOLE_HINT,
                )
            )
            return
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            self.diagnostics.append(
                error(
                    codes.E211,
                    _span_of(stmt.count),
                    f"`repeat` needs a whole number of times of at least 1, found {_show(count)}",
                    "write e.g. `repeat 4 { ... }`",
                )
            )
            return
        outer, outer_scope = self.repeat, self.scope
        # A body without ops (empty, or only misplaced `doc`/`input`) does the same each time:
        # once is enough, and `repeat 10**12 { }` must not spin (E502 counts only ops).
        times = count if count_ops(stmt.body, self.constants) else 1
        parent = outer_scope[-1].key if outer_scope else ""
        line = stmt.span.line
        self.scope = (
            *outer_scope,
            Scope("repeat", f"repeat {count} (line {line})", f"{parent}/r{line}", count, line),
        )
        for iteration in range(times):
            self.repeat = (*outer, (stmt.span.line, iteration))
            for inner in stmt.body:
                self._statement(inner, top=False)
        self.repeat, self.scope = outer, outer_scope

    # helpers ---------------------------------------------------------------------------------
    def _node_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _define(self, name: ast.Name, producer: str, index: int) -> str:
        """A new tensor bound to `name`, with a unique id even when the name is shadowed."""
        # Probe from the last suffix used for this name (all lower ones are taken, and tensors
        # are never removed): probing from 0 each time made a long chain quadratic.
        k = self.suffixes.get(name.text, 0)
        tensor_id = f"{name.text}_{k}" if k else name.text
        while tensor_id in self.ir.tensors:
            k += 1
            tensor_id = f"{name.text}_{k}"
        self.suffixes[name.text] = k
        self.ir.tensors[tensor_id] = TensorDef(tensor_id, name.text, name.span, producer, index)
        self.env[name.text] = tensor_id
        return tensor_id

    def _edge(self, tensor: str, consumer: str, position: int) -> None:
        producer = self.ir.tensors[tensor].producer
        self.graph.add_edge(producer, consumer, **flow_edge(tensor, position))

    def _tensor(self, ident: ast.Ident, reading: bool = False) -> str | None:
        tensor = self.env.get(ident.name)
        if tensor is None and ident.name not in self.bad_inputs:
            declare = f"`context {ident.name}: TYPE` at the top of the model" if reading else "`input`"
            hint = did_you_mean(ident.name, self.env) or f"define it before this line, or declare it with {declare}"
            what = "a constant, not a tensor" if ident.name in self.constants.decls else "not defined"
            self.diagnostics.append(error(codes.E202, ident.span, f"tensor `{ident.name}` is {what}", hint))
        return tensor

    def _positional(self, arg: ast.Value, call: ast.Call) -> str | None:
        if isinstance(arg, ast.Ident):
            return self._tensor(arg)
        self.diagnostics.append(
            error(
                codes.E209,
                _span_of(arg),
                f"positional arguments of `{call.callee.text}` are tensors, found {_describe(arg)}",
                "ops change tensors (`shift(h, by=1)`, `scale(h, by=2)`); arithmetic only computes keyword values"
                if isinstance(arg, (ast.Arith, ast.Negate))
                else "pass hyper-parameters by keyword, e.g. `net=mlp(hidden=[64])`",
            )
        )
        return None

    def _kwargs(self, call: ast.Call, reads_by_keyword: bool = False) -> tuple[KwArg, ...]:
        """Keyword arguments, values resolved; `context=NAME` (and, for a used model, any
        `ctx=NAME`) reads a tensor."""
        seen: dict[str, Span] = {}
        out = []
        for kw in call.kwargs:
            if kw.name.text in seen:
                self.diagnostics.append(
                    error(
                        codes.E203,
                        kw.name.span,
                        f"keyword `{kw.name.text}` is given twice to `{call.callee.text}`",
                        "keep one",
                    )
                )
                continue
            seen[kw.name.text] = kw.name.span
            if (kw.name.text == "context" or reads_by_keyword) and isinstance(kw.value, ast.Ident):
                read = self._tensor(kw.value, reading=True)
                value: Any = TensorRef(read, kw.value.name) if read is not None else None
            else:
                value = self.constants.resolve(kw.value)
            out.append(KwArg(kw.name.text, value, kw.span, kw.name.span))
        return tuple(out)

    def _type(self, type_expr: ast.TypeExpr) -> tuple[Domain, tuple[int, ...]] | None:
        domain = self._domain(type_expr)
        dims = [self.constants.resolve(d) for d in type_expr.dims]
        for dim, node in zip(dims, type_expr.dims, strict=True):
            if dim is None:  # a constant defined through itself: reported already
                return None
            if isinstance(dim, Quotient):
                self.diagnostics.append(
                    error(
                        codes.E305,
                        _span_of(node),
                        f"a dimension must be a whole number, but {dim.fraction()}",
                        NOT_WHOLE_HINT,
                    )
                )
                return None
            if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
                self.diagnostics.append(
                    error(
                        codes.E303, _span_of(node), f"a dimension must be a whole number ≥ 1, found {_show(dim)}", None
                    )
                )
                return None
        size = math.prod(dims)
        if size > MAX_TENSOR_ENTRIES:
            self.diagnostics.append(
                error(
                    codes.E503,
                    type_expr.span,
                    f"a tensor of {count_text(size)} entries per example is over the limit of 2**40 "
                    f"({MAX_TENSOR_ENTRIES:,})",
                    "check the declared shape: it is usually a typo (shapes leave out the batch axis)",
                )
            )
            return None
        return (domain, tuple(dims)) if domain is not None else None

    def _domain(self, type_expr: ast.TypeExpr) -> Domain | None:
        name, args = type_expr.domain.text, [self.constants.resolve(a) for a in type_expr.domain_args]
        if any(a is None for a in args):  # a constant that could not be resolved: reported already
            return None
        if name in NAMED_DOMAINS and not args:
            return NAMED_DOMAINS[name]
        if name == "int" and len(args) == 1 and isinstance(args[0], int) and args[0] >= 2:
            return integers(args[0])
        if (
            name == "interval"
            and len(args) == 2
            and all(isinstance(a, (int, float)) for a in args)
            and args[0] < args[1]
        ):
            return interval(args[0], args[1])
        self.diagnostics.append(_bad_domain(type_expr.domain, args))
        return None


def _bad_domain(name: ast.Name, args: list[Any]) -> Diagnostic:
    forms = {
        "int": ("`int` needs its number of classes K ≥ 2", "write e.g. `int<256>[3, 32, 32]`"),
        "interval": ("`interval` needs two numbers a < b", "write e.g. `interval(-4, 4)[2]`"),
        "ordered": ("`ordered` values are produced by `sort`; they cannot be declared", "declare `real` data"),
    }
    if name.text in forms:
        message, hint = forms[name.text]
        return error(codes.E207, name.span, message, hint)
    if name.text in NAMED_DOMAINS:
        return error(codes.E207, name.span, f"`{name.text}` takes no arguments", f"write `{name.text}[...]`")
    # Five names: list them all; a did-you-mean only for a slip of the keyboard (`integer` is
    # no misspelt `interval`)
    slip = typo_of(name.text, DOMAIN_NAMES)
    hint = f"did you mean `{slip}`?" if slip else f"the domains are {DOMAINS_TEXT}"
    return error(codes.E207, name.span, f"unknown data domain `{name.text}`", hint)


def _names(count: int) -> list[str]:
    return [chr(ord("a") + i) for i in range(min(count, 26))]


def _span_of(value: ast.Value) -> Span:
    return value.span


def _describe(value: ast.Value) -> str:
    if isinstance(value, ast.Call):
        return f"a call to `{value.callee.text}`"
    if isinstance(value, ast.ListValue):
        return "a list"
    if isinstance(value, (ast.Arith, ast.Negate)):
        return "arithmetic, which computes a number when the model is compiled"
    return f"`{_show(getattr(value, 'value', None))}`"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, CallValue):
        return f"{value.name}(...)"
    return str(value)
