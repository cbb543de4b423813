"""`--emit ast|ir|python`: each phase of the pipeline, printed for a reader.

The AST is printed as an indented tree of its dataclasses without source positions; the IR
as each model's nodes in inference order with the tensors they consume, read and produce,
followed by the sampling order; `python` is the generated module itself.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from ..core.source import Span
from ..frontend import syntax as ast
from ..ir.checked import CheckedModel
from ..ir.graph import ContextNode, DistNode, InputNode, OpNode


def dump_ast(module: ast.Module) -> str:
    """The AST as an indented tree, one field per line, spans left out."""
    lines: list[str] = []
    _dump(module, 0, lines, label="")
    return "\n".join(lines) + "\n"


def _dump(node: Any, depth: int, out: list[str], label: str) -> None:
    pad = "  " * depth + (f"{label}: " if label else "")
    if isinstance(node, tuple):
        if not node:
            out.append(pad + "[]")
            return
        out.append(pad + "[")
        for item in node:
            _dump(item, depth + 1, out, label="")
        out.append("  " * depth + "]")
    elif is_dataclass(node) and not isinstance(node, type):
        shown = [f for f in fields(node) if not isinstance(getattr(node, f.name), Span) and f.name != "items"]
        simple = all(not _nested(getattr(node, f.name)) for f in shown)
        if simple:
            inner = ", ".join(f"{f.name}={getattr(node, f.name)!r}" for f in shown)
            out.append(pad + f"{type(node).__name__}({inner})")
            return
        out.append(pad + type(node).__name__)
        for f in shown:
            _dump(getattr(node, f.name), depth + 1, out, label=f.name)
    else:
        out.append(pad + repr(node))


def _nested(value: Any) -> bool:
    return isinstance(value, tuple) or (is_dataclass(value) and not isinstance(value, type))


def dump_ir(models: list[CheckedModel]) -> str:
    """Each model's graph: nodes in inference order, then the sampling order."""
    out: list[str] = []
    for model in models:
        out.append(f"model {model.name} ({model.likelihood})")
        for node in model.inference_order:
            out.append(f"  {node}: {_describe(model, node)}")
        order = ", ".join(model.sampling_order)
        out.append(f"  sampling order: {order}")
        out.append("")
    return "\n".join(out)


def _describe(model: CheckedModel, node: str) -> str:
    payload = model.ir.payload(node)
    line = f"line {payload.span.line}"
    if isinstance(payload, InputNode):
        return f"input {payload.name} -> {payload.tensor}: {model.types[payload.tensor]}  ({line})"
    if isinstance(payload, ContextNode):
        return f"context {payload.name} -> {payload.tensor}: {model.types[payload.tensor]}  ({line})"
    reads = f" reads {payload.context}" if payload.context else ""
    if isinstance(payload, DistNode):
        return f"~ {payload.dist}({payload.input}){reads}  ({line})"
    assert isinstance(payload, OpNode)
    outs = ", ".join(f"{t}: {model.types[t]}" for t in payload.outputs)
    return f"{payload.op}({', '.join(payload.inputs)}){reads} -> {outs}  ({line})"
