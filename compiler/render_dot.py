"""Checked models → Graphviz diagrams (one node per op, styled by kind; tensors on edges)."""

from __future__ import annotations

import shutil

import graphviz

from .catalogue import KIND_STYLES, OpEntry, Style
from .check import CheckedModel
from .ir import ContextNode, DistNode, InputNode, OpNode
from .report import CLASS_WORDS

FORMATS = ("svg", "png", "pdf", "dot")
_BOUND_COLOR = "#cc0000"


class RenderError(Exception):
    """A diagram cannot be produced (e.g. Graphviz's `dot` is missing); the message says how to fix it."""


def build_graph(models: list[CheckedModel]) -> graphviz.Digraph:
    """One digraph; each model a cluster when there are several."""
    top = graphviz.Digraph("survae", graph_attr={"rankdir": "TB", "fontname": "Helvetica", "labelloc": "t"})
    top.attr("node", fontname="Helvetica", fontsize="11", style="filled")
    top.attr("edge", fontname="Helvetica", fontsize="9")
    for model in models:
        if len(models) == 1:
            top.attr(label=_title(model))
            _draw_model(top, model, prefix="")
        else:
            with top.subgraph(name=f"cluster.{model.name}") as sub:
                sub.attr(label=_title(model))
                _draw_model(sub, model, prefix=f"{model.name}.")
    _legend(top, models)
    return top


def _title(model: CheckedModel) -> str:
    lines = [f"{model.name}: {CLASS_WORDS[model.likelihood]}"]
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
    entry = model.bound[node].entry
    assert isinstance(entry, OpEntry)
    return entry.kind.value


def _draw_model(graph: graphviz.Digraph, model: CheckedModel, prefix: str) -> None:
    culprits = {(r.span.line, r.span.column) for r in model.reasons}
    for node in model.inference_order:
        payload = model.ir.payload(node)
        style = KIND_STYLES[_kind(model, node)]
        attrs = _node_attrs(style)
        if (payload.span.line, payload.span.column) in culprits:
            attrs.update(color=_BOUND_COLOR, penwidth="2.5", fontcolor=_BOUND_COLOR)
        graph.node(_dot_id(prefix, node), label=_escape(_label(model, node)), **attrs)
    for source, target, data in model.ir.graph.edges(data=True):
        tensor = data["tensor"]
        label = f"{tensor}\n{model.types[tensor]}"
        style = {"style": "dashed"} if data["kind"] == "context" else {}  # a read, not a consumption
        graph.edge(_dot_id(prefix, source), _dot_id(prefix, target), label=_escape(label), **style)


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


def _legend(graph: graphviz.Digraph, models: list[CheckedModel]) -> None:
    kinds = sorted({_kind(m, n) for m in models for n in m.inference_order})
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="legend", fontsize="10", style="dashed")
        for kind in kinds:
            legend.node(f"legend_{kind}", label=kind.replace("_", "-"), fontsize="9", **_node_attrs(KIND_STYLES[kind]))


def render(models: list[CheckedModel], fmt: str) -> bytes:
    """The diagram in `fmt` (svg, png, pdf or dot)."""
    graph = build_graph(models)
    if fmt == "dot":
        return graph.source.encode("utf-8")
    if shutil.which("dot") is None:
        raise RenderError(
            f"rendering to .{fmt} needs Graphviz's `dot` program, which is not installed; "
            "install it (Debian/Ubuntu: `apt-get install graphviz`, macOS: `brew install graphviz`) "
            "or render to a .dot file instead"
        )
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:  # dot vanished between the check and the call
        raise RenderError(str(exc)) from None
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"Graphviz failed: {exc.stderr.decode(errors='replace') if exc.stderr else exc}") from None
