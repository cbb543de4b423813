"""`--info`: the checker's findings as JSON, for other tools to build on.

The shape of the document is the pydantic model `Info` below; `--info-schema` prints its JSON
schema. Field names are stable: add fields, never rename or remove them (bump `version` if
that ever has to happen).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.diagnostics import Diagnostic
from ..core.domains import Fold, TensorType
from ..core.source import Span
from ..ir.checked import CheckedModel, Likelihood, ReasonKind
from ..ir.graph import ContextNode, InputNode
from .param_count import file_parameter_counts, total

INFO_VERSION: Final = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Position(_Strict):
    file: str
    line: int = Field(ge=1)
    column: int = Field(ge=1)
    end_line: int = Field(ge=1)
    end_column: int = Field(ge=1)


class Note(_Strict):
    message: str
    position: Position


class DiagnosticInfo(_Strict):
    code: str = Field(pattern=r"^[EW]\d{3}$")
    severity: Literal["error", "warning"]
    message: str
    hint: str | None
    position: Position
    notes: list[Note] = Field(description="related places, including the block calls that led here")


class FoldInfo(_Strict):
    region: str = Field(description="`positive`, `ordered`, an interval, ...")
    surjection: str
    line: int
    chain: list[str] = Field(
        description="the block calls and `repeat` iterations that made this copy of the surjection"
    )
    axis: int | None = Field(description="ordered folds: the axis the values are sorted along")
    entries: list[int] | None = Field(
        description="ordered folds: [start, stop, length]: this part holds entries start..stop-1 of a run of length"
    )
    broken: str | None = Field(description="ordered folds: why the values are no longer in order, if they are not")


class PartInfo(_Strict):
    start: int = Field(description="first index along the tensor's part axis")
    stop: int = Field(description="one past the last index along the part axis")
    domain: str
    fills: bool
    folds: list[FoldInfo]


class TensorInfo(_Strict):
    id: str = Field(description="unique in the model: `h`, `h_1`, ... for a shadowed name")
    name: str = Field(description="as written in the file")
    role: Literal["input", "context", "tensor"]
    line: int
    domain: str
    shape: list[int]
    fills: bool = Field(description="whether its values fill its domain (docs/language.md, What the checker enforces)")
    fold: FoldInfo | None = Field(description="the first fold of its first part with one (see `parts` for all)")
    part_axis: int = Field(description="the axis its parts cut (version 2)")
    parts: list[PartInfo] = Field(
        description="ranges of entries along `part_axis`, each with its own domain, fill and folds (version 2)"
    )


class ReasonInfo(_Strict):
    kind: ReasonKind = Field(description="a non-exact op, a fold leak, a used model")
    op: str
    line: int
    column: int
    message: str


class LayerInfo(_Strict):
    name: str = Field(description="the attribute of the generated class, e.g. `affine_coupling_1`")
    op: str
    kind: str = Field(description="bijective, inference_surjective, ..., or distribution")
    line: int
    parameters: int | None = Field(description="scalar parameters; null for user transforms")


class ModelInfo(_Strict):
    name: str
    likelihood: Likelihood
    doc: str | None
    inputs: list[str]
    contexts: list[str]
    reasons: list[ReasonInfo]
    tensors: list[TensorInfo]
    layers: list[LayerInfo]
    parameters: int | None = Field(description="all layers; null if a user transform's is unknown")
    imports: list[str] = Field(description="`module:Class` of each user transform the model runs")


class Info(_Strict):
    version: Literal[2] = INFO_VERSION
    file: str
    ok: bool = Field(description="false if the file has errors (then `models` is empty)")
    models: list[ModelInfo]
    diagnostics: list[DiagnosticInfo]


def position(span: Span) -> Position:
    return Position(
        file=span.filename,
        line=span.line,
        column=span.column,
        end_line=max(span.end_line, span.line),
        end_column=max(span.end_column, 1),
    )


def diagnostic_info(d: Diagnostic) -> DiagnosticInfo:
    notes = [Note(message=f"in block `{block}`", position=position(call)) for block, call in d.span.via]
    notes += [Note(message=text, position=position(span)) for span, text in d.notes]
    return DiagnosticInfo(
        code=d.code, severity=d.severity.value, message=d.message, hint=d.hint, position=position(d.span), notes=notes
    )


def build_info(filename: str, models: list[CheckedModel], diagnostics: list[Diagnostic], ok: bool) -> Info:
    counts = file_parameter_counts(models) if ok else {}
    return Info(
        file=filename,
        ok=ok,
        models=[model_info(m, counts.get(m.name, [])) for m in models] if ok else [],
        diagnostics=[diagnostic_info(d) for d in sorted(diagnostics, key=Diagnostic.sort_key)],
    )


def model_info(model: CheckedModel, counts: list[tuple[str, int | None]]) -> ModelInfo:
    """One model's findings (`counts`: its layers' parameter counts, from `file_parameter_counts`)."""
    ir = model.ir
    return ModelInfo(
        name=model.name,
        likelihood=model.likelihood,
        doc=ir.doc,
        inputs=[p.name for p in ir.input_nodes()],
        contexts=[p.name for p in ir.context_nodes()],
        reasons=[
            ReasonInfo(kind=r.kind, op=r.op, line=r.span.line, column=r.span.column, message=r.message)
            for r in model.reasons
        ],
        tensors=[_tensor(model, tensor) for tensor in ir.tensors],
        layers=_layers(model, counts),
        parameters=total(counts),
        imports=sorted({user.path for call in model.bound.values() for _what, _name, user in call.user_impls()}),
    )


def _tensor(model: CheckedModel, tensor: str) -> TensorInfo:
    definition = model.ir.tensors[tensor]
    t = model.types[tensor]
    producer = model.ir.payload(definition.producer)
    role: Literal["input", "context", "tensor"]
    role = "input" if isinstance(producer, InputNode) else "context" if isinstance(producer, ContextNode) else "tensor"
    fold = _fold(t.fold) if t.fold else None
    return TensorInfo(
        id=tensor,
        name=definition.name,
        role=role,
        line=definition.span.line,
        domain=str(t.domain),
        shape=list(t.shape),
        fills=t.fills,
        fold=fold,
        part_axis=t.axis,
        parts=_parts(t),
    )


def _fold(fold: Fold) -> FoldInfo:
    return FoldInfo(
        region=str(fold.region),
        surjection=fold.source,
        line=fold.line,
        chain=list(fold.origin.chain),
        axis=fold.axis if fold.ordered else None,
        entries=[fold.start, fold.stop, fold.length] if fold.ordered else None,
        broken=fold.broken,
    )


def _parts(t: TensorType) -> list[PartInfo]:
    out, start = [], 0
    for part in t.parts:
        out.append(
            PartInfo(
                start=start,
                stop=start + part.size,
                domain=str(part.domain),
                fills=part.fills,
                folds=[_fold(f) for f in part.folds],
            )
        )
        start += part.size
    return out


def _layers(model: CheckedModel, counts: list[tuple[str, int | None]]) -> list[LayerInfo]:
    """The layers in `__init__` order (bound nodes in inference order), with their counts."""
    nodes = [n for n in model.inference_order if n in model.bound]
    layers = []
    for node, (attr, count) in zip(nodes, counts, strict=True):
        entry = model.bound[node].entry
        kind = entry.kind.value if hasattr(entry, "kind") else "distribution"
        layers.append(
            LayerInfo(name=attr, op=entry.name, kind=kind, line=model.ir.payload(node).span.line, parameters=count)
        )
    return layers
