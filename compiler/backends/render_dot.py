"""Checked models → Graphviz diagrams (one node per op, styled by kind; tensors on edges)."""

from __future__ import annotations

import shutil

import graphviz

from ..catalogue import KIND_STYLES, OpEntry, Style
from ..ir.checked import CheckedModel
from ..ir.graph import ContextNode, DistNode, EdgeKind, InputNode, OpNode, Scope
from .report import CLASS_WORDS

Scopes = dict[str, tuple[Scope, ...]]  # node → the scopes it was written in, outermost first
Culprits = set[tuple[int, int]]  # (line, column) of the ops that make a model a lower bound

FORMATS = ("svg", "png", "pdf", "dot")
_BOUND_COLOR = "#cc0000"


class RenderError(Exception):
    """A diagram cannot be produced (e.g. Graphviz's `dot` is missing); the message says how to fix it."""


DIRECTIONS = ("inference", "generative")


def build_graph(
    models: list[CheckedModel], collapse: bool = False, direction: str = "inference", lines: bool = False
) -> graphviz.Digraph:
    """One digraph; each model a cluster when there are several.

    `repeat`s and block calls are drawn as labelled clusters, or with `collapse` as one node
    each (with the repeat count), so a deep multi-scale model fits on a screen. `direction`
    "generative" draws the sampling direction: arrows from the distributions to the data.
    `lines` tags each node with the source lines it stands for, as SVG classes (the
    playground links nodes and lines with them): `sv-at-L` the line that wrote it, `sv-line-L`
    every line it comes from (that line, and the lines of the block calls and `repeat`s it was
    written in).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    top = graphviz.Digraph("survae", graph_attr={"rankdir": "TB", "fontname": "Helvetica", "labelloc": "t"})
    top.attr("node", fontname="Helvetica", fontsize="11", style="filled")
    top.attr("edge", fontname="Helvetica", fontsize="9")
    style = _Drawing(collapse, direction == "generative", lines)
    for model in models:
        if len(models) == 1:
            top.attr(label=_title(model, style.generative))
            style.draw(top, model, prefix="")
        else:
            with top.subgraph(name=f"cluster.{model.name}") as sub:
                sub.attr(label=_title(model, style.generative))
                style.draw(sub, model, prefix=f"{model.name}.")
    _legend(top, models, collapse)
    return top


def _title(model: CheckedModel, generative: bool = False) -> str:
    lines = [f"{model.name}: {CLASS_WORDS[model.likelihood]}" + (" (sampling direction)" if generative else "")]
    lines += [f"{r.op} (line {r.span.line}): {'fold leak' if r.kind == 'leak' else 'not exact'}" for r in model.reasons]
    return "\\n".join(_escape(line) for line in lines)


def _escape(text: str) -> str:
    """Graphviz label text: backslashes and quotes escaped, newlines as label breaks."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _kind(model: CheckedModel, node: str) -> str:
    payload = model.ir.payload(node)
    if isinstance(payload, InputNode):
        return "input"
    if isinstance(payload, ContextNode):
        return "context"
    if isinstance(payload, DistNode):
        return "distribution"
    if node in model.ir.context_side():  # computed from contexts alone, before the flow
        return "context_side"
    entry = model.bound[node].entry
    assert isinstance(entry, OpEntry)
    return entry.kind.value


class _Drawing:
    """How one diagram is drawn: clusters or collapsed groups, and which way the arrows point."""

    def __init__(self, collapse: bool, generative: bool, lines: bool = False) -> None:
        self.collapse = collapse
        self.generative = generative
        self.lines = lines

    def _tags(self, model: CheckedModel, nodes: list[str]) -> dict[str, str]:
        """The `class` attribute naming the source lines of `nodes` (drawn as one), if asked:
        a collapsed group is at the line of its outermost `repeat` or block call."""
        if not self.lines:
            return {}
        payloads = [model.ir.payload(n) for n in nodes]
        scopes = [sc for p in payloads for sc in getattr(p, "scope", ())]
        at = scopes[0].line if len(nodes) > 1 and scopes else payloads[0].span.line
        every = {p.span.line for p in payloads} | {call.line for p in payloads for _block, call in p.span.via}
        every |= {sc.line for sc in scopes}
        return {"class": " ".join(["sv-node", f"sv-at-{at}", *(f"sv-line-{n}" for n in sorted(every))])}

    def draw(self, graph: graphviz.Digraph, model: CheckedModel, prefix: str) -> None:
        culprits = {(r.span.line, r.span.column) for r in model.reasons}
        nodes = list(model.inference_order)
        scopes: Scopes = {n: getattr(model.ir.payload(n), "scope", ()) for n in nodes}
        if self.collapse:
            self._draw_groups(graph, model, prefix, nodes, scopes, culprits)
        else:
            self._draw_clusters(graph, model, prefix, nodes, scopes, culprits, depth=0)
        self._draw_edges(graph, model, prefix, scopes)

    def _node(self, graph: graphviz.Digraph, model: CheckedModel, node: str, prefix: str, culprits: Culprits) -> None:
        payload = model.ir.payload(node)
        attrs = _node_attrs(KIND_STYLES[_kind(model, node)])
        if (payload.span.line, payload.span.column) in culprits:
            attrs.update(color=_BOUND_COLOR, penwidth="2.5", fontcolor=_BOUND_COLOR)
        attrs.update(self._tags(model, [node]))
        graph.node(_dot_id(prefix, node), label=_escape(_label(model, node)), **attrs)

    def _draw_clusters(
        self,
        graph: graphviz.Digraph,
        model: CheckedModel,
        prefix: str,
        nodes: list[str],
        scopes: Scopes,
        culprits: Culprits,
        depth: int,
    ) -> None:
        """`nodes`, all written inside the same `depth` scopes: those directly there, then one
        labelled cluster per scope one level deeper, holding its own nodes (each node is
        looked at once per level, so a deep multi-scale model draws in linear time)."""
        inner: dict[str, list[str]] = {}
        for node in nodes:
            within = scopes[node]
            if len(within) == depth:
                self._node(graph, model, node, prefix, culprits)
            else:
                inner.setdefault(within[depth].key, []).append(node)
        for key, members in inner.items():
            scope = scopes[members[0]][depth]
            with graph.subgraph(name=_dot_id(f"cluster.{prefix}", key)) as sub:
                kind = "repeat" if scope.kind == "repeat" else "block"
                sub.attr(label=_escape(scope.label), style="rounded,dashed", color=_GROUP_COLORS[kind], fontsize="10")
                self._draw_clusters(sub, model, prefix, members, scopes, culprits, depth + 1)

    def _draw_groups(
        self,
        graph: graphviz.Digraph,
        model: CheckedModel,
        prefix: str,
        nodes: list[str],
        scopes: Scopes,
        culprits: Culprits,
    ) -> None:
        """Each outermost `repeat` or block call as one node listing what it holds."""
        members: dict[str, list[str]] = {}
        for node in nodes:
            if scopes[node]:
                members.setdefault(scopes[node][0].key, []).append(node)
            else:
                self._node(graph, model, node, prefix, culprits)
        for key, group in members.items():
            scope = scopes[group[0]][0]
            ops = list(dict.fromkeys(_short(model, n) for n in group))
            per_pass = len(group) // max(scope.count, 1) if scope.kind == "repeat" else len(group)
            label = f"{scope.label}\n{len(group)} layers" + (
                f" ({scope.count} × {per_pass})" if scope.kind == "repeat" else ""
            )
            label += "\n" + ", ".join(ops[:4]) + (", ..." if len(ops) > 4 else "")
            attrs = {"shape": "box3d", "fillcolor": "#e8e8f8", "fontcolor": "black"}
            if any((model.ir.payload(n).span.line, model.ir.payload(n).span.column) in culprits for n in group):
                attrs.update(color=_BOUND_COLOR, penwidth="2.5")
            attrs.update(self._tags(model, group))
            graph.node(_dot_id(prefix, "group" + key), label=_escape(label), **attrs)

    def _draw_edges(self, graph: graphviz.Digraph, model: CheckedModel, prefix: str, scopes: Scopes) -> None:
        drawn: set[tuple[str, str, str]] = set()
        for source, target, data in model.ir.graph.edges(data=True):
            ends = [self._shown(n, scopes) for n in (source, target)]
            if ends[0] == ends[1]:
                continue  # inside one collapsed group
            tensor = data["tensor"]
            if (ends[0], ends[1], tensor) in drawn:
                continue
            drawn.add((ends[0], ends[1], tensor))
            label = f"{tensor}\n{model.types[tensor]}"
            read = data["kind"] is EdgeKind.READ
            # A context-side tensor is given in both directions, never consumed: drawn like a read.
            read = read or tensor in model.ir.context_tensors()
            first, second = (ends[1], ends[0]) if self.generative and not read else (ends[0], ends[1])
            style = {"style": "dashed"} if read else {}  # a read, not a consumption
            graph.edge(_dot_id(prefix, first), _dot_id(prefix, second), label=_escape(label), **style)

    def _shown(self, node: str, scopes: Scopes) -> str:
        """The drawn node standing for `node`: itself, or its collapsed group."""
        if self.collapse and scopes.get(node):
            return "group" + scopes[node][0].key
        return node


_GROUP_COLORS = {"repeat": "#3d85c6", "block": "#6aa84f"}


def _short(model: CheckedModel, node: str) -> str:
    payload = model.ir.call(node)
    return f"~ {payload.dist}" if isinstance(payload, DistNode) else payload.op


def _dot_id(prefix: str, node: str) -> str:
    """Graphviz reads `a:b` as node `a`, port `b`: keep colons out of node ids.

    A dot is the separator because no name can hold one: with `_`, model `M`'s input `op1` and
    model `M_input`'s first op would both be `M_input_op1`, one node in the drawing.
    """
    return (prefix + node).replace(":", ".")


def _node_attrs(style: Style) -> dict[str, str]:
    return {"shape": style.shape, "fillcolor": style.fillcolor, "fontcolor": style.fontcolor}


def _label(model: CheckedModel, node: str) -> str:
    payload = model.ir.payload(node)
    if isinstance(payload, InputNode):
        return f"input {payload.name}\n{model.types[payload.tensor]}"
    if isinstance(payload, ContextNode):
        return f"context {payload.name}\n{model.types[payload.tensor]}"
    if isinstance(payload, DistNode):
        return f"~ {payload.dist}\nline {payload.span.line}"
    assert isinstance(payload, OpNode)
    return f"{payload.op}\nline {payload.span.line}"


def _legend(graph: graphviz.Digraph, models: list[CheckedModel], collapse: bool = False) -> None:
    kinds = sorted({_kind(m, n) for m in models for n in m.inference_order})
    grouped = any(getattr(m.ir.payload(n), "scope", ()) for m in models for n in m.inference_order)
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="legend", fontsize="10", style="dashed")
        for kind in kinds:
            legend.node(f"legend_{kind}", label=kind.replace("_", "-"), fontsize="9", **_node_attrs(KIND_STYLES[kind]))
        if grouped and collapse:
            legend.node("legend_group", label="repeat or block", fontsize="9", shape="box3d", fillcolor="#e8e8f8")


def render(
    models: list[CheckedModel], fmt: str, collapse: bool = False, direction: str = "inference", lines: bool = False
) -> bytes:
    """The diagram in `fmt` (svg, png, pdf or dot); `lines` as in `build_graph`."""
    graph = build_graph(models, collapse, direction, lines)
    source: str = graph.source  # graphviz is untyped
    return source.encode("utf-8") if fmt == "dot" else layout(source, fmt)


def layout(source: str, fmt: str) -> bytes:
    """Graphviz's `dot` run on DOT `source`, giving `fmt` (svg, png or pdf); RenderError if it
    is missing or fails."""
    if shutil.which("dot") is None:
        raise RenderError(
            f"rendering to .{fmt} needs Graphviz's `dot` program, which is not installed; "
            "install it (Debian/Ubuntu: `apt-get install graphviz`, macOS: `brew install graphviz`) "
            "or render to a .dot file instead"
        )
    try:
        image: bytes = graphviz.pipe("dot", fmt, source.encode("utf-8"))  # graphviz is untyped
        return image
    except graphviz.ExecutableNotFound as exc:  # dot vanished between the check and the call
        raise RenderError(str(exc)) from None
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"Graphviz failed: {exc.stderr.decode(errors='replace') if exc.stderr else exc}") from None
