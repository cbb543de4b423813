"""The IR: one `networkx.MultiDiGraph` per model.

Nodes are inputs, ops and distribution statements (`~`); node attribute `ir` holds a frozen
payload below. Edges are tensors flowing from their producer to a consumer: attributes
`tensor` (a tensor id), `kind` (an `EdgeKind`: `FLOW` for a consumption, `READ` for a
`context=` read, which consumes nothing) and `position` (which positional argument a flow
edge fills; None on a read). `flow_edge` and `read_edge` make these attribute sets.
Every tensor, consumed or not, is listed in `ModelIR.tensors`, so a tensor nobody consumes
is still known to the checker.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, TypeVar

import networkx as nx

from ..catalogue import OP_TABLE
from ..catalogue.base import TensorRef
from ..core.domains import Domain
from ..core.source import Span


class EdgeKind(enum.Enum):
    """What an IR edge does with its tensor."""

    FLOW = "flow"  # consumes it, as a positional argument
    READ = "read"  # reads it through `context=`, consuming nothing


def flow_edge(tensor: str, position: int) -> dict[str, Any]:
    """The attributes of an edge that consumes `tensor` as positional argument `position`."""
    return {"tensor": tensor, "kind": EdgeKind.FLOW, "position": position}


def read_edge(tensor: str) -> dict[str, Any]:
    """The attributes of an edge that reads `tensor` through `context=`."""
    return {"tensor": tensor, "kind": EdgeKind.READ, "position": None}


@dataclass(frozen=True)
class KwArg:
    """A keyword argument with constants resolved to plain values.

    `value` is an int, float, bool, str (an enum name), a tuple of these, or a
    `catalogue.CallValue` for a nested call.
    """

    name: str
    value: Any
    span: Span
    name_span: Span


@dataclass(frozen=True)
class TensorDef:
    """A tensor: a value with a unique identity, even when its name is shadowed."""

    id: str  # unique within the model: "h", "h_1", "h_2", ...
    name: str  # as the user wrote it
    span: Span  # where it is bound
    producer: str  # node id
    index: int  # which output of the producer


@dataclass(frozen=True)
class InputNode:
    name: str
    tensor: str
    domain: Domain
    shape: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class Scope:
    """A `repeat` statement or a block call that nodes were written in (for diagrams).

    `key` is unique per instance (every iteration of one `repeat` shares it; each call of a
    block has its own); `label` is what a diagram prints; `count` the repeat count (1 for calls);
    `line` the line of the `repeat` statement or of the block call.
    """

    kind: str  # "repeat" | "block"
    label: str
    key: str
    count: int = 1
    line: int = 0


@dataclass(frozen=True)
class ContextNode:
    """`context c: TYPE`: a tensor the model reads (`context=c`) but never models."""

    name: str
    tensor: str
    domain: Domain
    shape: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class OpNode:
    op: str
    callee_span: Span
    kwargs: tuple[KwArg, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    span: Span
    repeat: tuple[tuple[int, int], ...] = ()  # (line of the `repeat`, iteration) outermost first
    input_spans: tuple[Span, ...] = ()  # where each tensor argument is written
    resolved: bool = True  # False if a tensor argument was not found (already an E202/E209)
    failed: bool = False  # a block call that could not be inlined (reported): a placeholder
    scope: tuple[Scope, ...] = ()  # the `repeat`s and block calls it was written in, outermost first

    def kwarg(self, name: str) -> KwArg | None:
        return next((k for k in self.kwargs if k.name == name), None)

    @property
    def context(self) -> str | None:
        """The tensor read by `context=`, if any."""
        return _context_of(self.kwargs)


@dataclass(frozen=True)
class DistNode:
    dist: str
    callee_span: Span
    kwargs: tuple[KwArg, ...]
    input: str
    span: Span
    repeat: tuple[tuple[int, int], ...] = ()
    input_span: Span | None = None  # the tensor's name before `~`
    scope: tuple[Scope, ...] = ()

    def kwarg(self, name: str) -> KwArg | None:
        return next((k for k in self.kwargs if k.name == name), None)

    @property
    def context(self) -> str | None:
        return _context_of(self.kwargs)


def _context_of(kwargs: tuple[KwArg, ...]) -> str | None:
    read = next((k.value for k in kwargs if isinstance(k.value, TensorRef)), None)
    return read.tensor if read is not None else None


Payload = InputNode | ContextNode | OpNode | DistNode


@dataclass
class ModelIR:
    """A lowered model: its graph and its tensors, in source order."""

    name: str
    span: Span
    doc: str | None
    graph: nx.MultiDiGraph[str]
    tensors: dict[str, TensorDef] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # input node ids, declaration order
    contexts: list[str] = field(default_factory=list)  # context node ids, declaration order
    user_ops: dict[str, Any] = field(default_factory=dict)  # the file's `transform`s: name → OpEntry
    user_nets: dict[str, Any] = field(default_factory=dict)  # the file's `net`s: name → NetEntry

    def payload(self, node: str) -> Payload:
        payload: Payload = self.graph.nodes[node]["ir"]  # networkx's node attributes are untyped
        return payload

    def call(self, node: str) -> OpNode | DistNode:
        """The payload of `node`, which is an op or a `~` statement."""
        payload = self.payload(node)
        assert isinstance(payload, (OpNode, DistNode)), payload
        return payload

    def input_nodes(self) -> list[InputNode]:
        """The inputs' payloads, in declaration order."""
        return [_declared(self.payload(n), InputNode) for n in self.inputs]

    def context_nodes(self) -> list[ContextNode]:
        """The contexts' payloads, in declaration order."""
        return [_declared(self.payload(n), ContextNode) for n in self.contexts]

    def consumers(self, tensor: str) -> list[tuple[str, int]]:
        """(consumer node, position) for every use of `tensor`, in source order."""
        producer = self.tensors[tensor].producer
        uses = [
            (v, d["position"])
            for _, v, d in self.graph.out_edges(producer, data=True)
            if d["tensor"] == tensor and d["kind"] is EdgeKind.FLOW
        ]
        order = self._node_order()
        return sorted(uses, key=lambda use: (order[use[0]], use[1]))

    def context_side(self) -> frozenset[str]:
        """Node ids of the ops computed from contexts alone (docs/language.md, Conditioning).

        A tensor is context-side when a `context` declaration makes it, or an op that may map
        contexts (`OpEntry.runs_on_contexts`: structural ops, `embed`) makes it from
        context-side tensors only. Such ops run before the flow in both directions; their
        outputs are never modelled, never consumed and may be read any number of times.
        An op that mixes them with flow tensors, or a density-bearing op on them, is not
        context-side (the density check refuses it). Cached like `_node_order`."""
        cached: tuple[int, frozenset[str]] | None = self.__dict__.get("_context_side_cache")
        if cached is None or cached[0] != self.graph.number_of_nodes():
            cached = (self.graph.number_of_nodes(), self._find_context_side())
            self.__dict__["_context_side_cache"] = cached
        return cached[1]

    def context_tensors(self) -> frozenset[str]:
        """Ids of the context-side tensors: the contexts and what `context_side` ops make."""
        side = self.context_side() | set(self.contexts)
        return frozenset(t for t, d in self.tensors.items() if d.producer in side)

    def _find_context_side(self) -> frozenset[str]:
        side: set[str] = set()
        made: set[str] = {c.tensor for c in self.context_nodes()}
        for node in self.graph.nodes:  # insertion order is topological
            payload = self.payload(node)
            if not isinstance(payload, OpNode) or not payload.inputs or payload.failed or not payload.resolved:
                continue
            entry = OP_TABLE.get(payload.op)
            if entry is None or payload.op in self.user_ops or not entry.runs_on_contexts:
                continue
            if all(t in made for t in payload.inputs):
                side.add(node)
                made.update(payload.outputs)
        return frozenset(side)

    def _node_order(self) -> dict[str, int]:
        """Node id → its index in source order. Cached: rebuilding it for every tensor made
        density checking quadratic in the number of ops. Nodes are only ever added, so the
        cache is current while the node count is unchanged."""
        cached: dict[str, int] | None = self.__dict__.get("_order_cache")
        if cached is None or len(cached) != self.graph.number_of_nodes():
            cached = {n: i for i, n in enumerate(self.graph.nodes)}
            self.__dict__["_order_cache"] = cached
        return cached


_Declared = TypeVar("_Declared", InputNode, ContextNode)


def _declared(payload: Payload, kind: type[_Declared]) -> _Declared:
    """`payload`, which the lowering made an input or a context node."""
    assert isinstance(payload, kind), payload
    return payload
