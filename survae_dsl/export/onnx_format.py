"""ONNX: the traced program converted by torch's exporter (onnxscript), checked in onnxruntime.

``onnx``, ``onnxscript`` and ``onnxruntime`` are the ``export`` extra, imported only here.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.export import ExportedProgram

from .errors import ExportError
from .locate import Site
from .program import Signature

__all__ = ["onnx_bytes", "onnx_runner", "onnx_translations"]

_EXTRA = "pip install 'survae-dsl[export]'"
# The lowest opset with every op the translations below use (TopK with `largest`/`sorted`).
OPSET = 18


def _require(module: str) -> Any:
    """Import an optional dependency of ONNX export, or say how to install it."""
    try:
        return __import__(module)
    except ImportError:
        raise ExportError(f"ONNX export needs the package `{module}`: {_EXTRA}") from None


def onnx_translations() -> dict[Any, Callable[..., Any]]:
    """The ops torch's ONNX exporter cannot translate by itself, with their translations
    (``custom_translation_table`` of ``torch.onnx.export``)."""
    return {torch.ops.aten.sort.stable: _sort_translation()}


def _sort_translation() -> Callable[..., Any]:
    """``aten.sort.stable`` as ONNX TopK over the whole axis.

    torch's converter has no translation of the stable sort that ``sort`` (``torch.argsort(...,
    stable=True)``) traces to. TopK with k = the axis length is a full sort, and the ONNX
    specification breaks its ties by index (the element with the lower index first), which is
    exactly a stable sort: equal keys keep their order, ascending and descending alike.
    """
    from onnxscript import opset18 as op

    def sort_stable(self: Any, *, stable: bool | None = None, dim: int = -1, descending: bool = False) -> Any:
        # onnxscript's stubs type Gather's index as a tensor; a Python int is what its tracer takes.
        length = op.Reshape(op.Gather(op.Shape(self), dim, axis=0), op.Constant(value_ints=[1]))  # type: ignore[type-var,arg-type]
        values, indices = op.TopK(self, length, axis=dim, largest=int(descending), sorted=1)
        return values, indices

    return sort_stable


def onnx_bytes(program: ExportedProgram, signature: Signature) -> bytes:
    """The serialized ONNX model of ``program``: named inputs and outputs, the batch axis
    symbolic, and the signature in its metadata (``survae.signature``, JSON)."""
    for module in ("onnx", "onnxscript"):
        _require(module)
    try:
        # The converter prints its progress on stdout whatever `verbose` says; keep it quiet.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx_program = torch.onnx.export(
                program,
                f=None,
                input_names=list(signature.input_names),
                output_names=list(signature.outputs),
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                custom_translation_table=onnx_translations(),
                verbose=False,
            )
    except Exception as exc:  # the converter's failures name an aten op; say which layer has it
        raise ExportError(_conversion_message(signature, exc)) from None
    if onnx_program is None:  # only the legacy exporter (dynamo=False) returns None
        raise ExportError("torch.onnx.export returned no program")
    proto = onnx_program.model_proto
    proto.doc_string = f"{signature.model_name}.{signature.what}, exported by survae-export"
    entry = proto.metadata_props.add()
    entry.key, entry.value = "survae.signature", json.dumps(signature.to_json())
    data: bytes = proto.SerializeToString()
    return data


# How the converter names the op it has no translation for: "No ONNX function found for
# <OpOverload(op='prims.ndtri', overload='default')>", or a node "target=torch.ops.aten.sort.stable".
_OVERLOAD = re.compile(r"op='(?P<space>\w+)\.(?P<name>\w+)', overload='(?P<overload>\w+)'")
_TARGET = re.compile(r"target=torch\.ops\.(?P<space>\w+)\.(?P<name>\w+)\.(?P<overload>\w+)")


def _conversion_message(signature: Signature, exc: BaseException) -> str:
    """`cannot convert `max_pool` (model.survae:24) to ONNX: torch's ONNX exporter has no
    translation of prims.ndtri.default`, from the converter's error and the dry run's op sites."""
    text = "\n".join(str(e) for e in _chain(exc))
    match = _OVERLOAD.search(text) or _TARGET.search(text)
    if match is None:
        lines = [line for line in text.splitlines() if line.strip()]
        return f"cannot convert the program to ONNX: {lines[0] if lines else type(exc).__name__}"
    op_name = f"{match['space']}.{match['name']}.{match['overload']}"
    site = _site_of_op(signature, op_name)
    where = site.describe() if site is not None else f"`{signature.model_name}`.{signature.what}"
    return f"cannot convert {where} to ONNX: torch's ONNX exporter has no translation of {op_name}"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _site_of_op(signature: Signature, op_name: str) -> Site | None:
    """The layer that runs ``op_name`` in the dry run; for an op that the converter's
    decompositions made, the layer of an op named like it (``prims.ndtri`` comes from
    ``aten.special_ndtri``)."""
    site = signature.site_of_op(op_name)
    if site is not None:
        return site
    bare = op_name.split(".")[1]
    for name, candidate in signature.op_sites:
        traced = name.split(".")[1] if name.count(".") >= 1 else name
        if traced == bare or traced.endswith(f"_{bare}"):
            return candidate
    return None


def onnx_runner(
    model_bytes: bytes, signature: Signature, threads: int | None = None
) -> Callable[[Sequence[Tensor]], list[Tensor]]:
    """An onnxruntime (CPU) session of the model, on ``threads`` intra-op threads (default:
    onnxruntime's choice); the returned function runs it on inputs (data then noise, named as
    ``signature`` says) and returns its outputs."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # No busy-waiting between runs: spinning threads would take the cores from torch's own,
    # which runs next to the session in the check (and in bench/bench_export.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads is not None:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])

    def run(inputs: Sequence[Tensor]) -> list[Tensor]:
        names = signature.input_names
        feed = {name: value.detach().cpu().numpy() for name, value in zip(names, inputs, strict=True)}
        return [torch.from_numpy(out) for out in session.run(None, feed)]

    return run
