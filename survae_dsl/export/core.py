"""`export_model`: a compiled model's ``log_prob`` or ``sample`` as a ``.pt2`` or ONNX file,
checked against eager before it is written."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor
from torch.export import Dim, ExportedProgram

from ..compiler.core.files import write_atomic
from ..nn.model import Model
from .compare import Difference, difference, tolerance_for
from .errors import ExportError
from .locate import site_of_traceback
from .program import Program, Signature, What, signature_of
from .source import load_model

__all__ = ["CHECK_BATCHES", "ExportReport", "Format", "export_model", "trace"]

Format = Literal["onnx", "pt2"]
FORMATS: dict[str, Format] = {".onnx": "onnx", ".pt2": "pt2"}

# The batch the program is traced at: not 0 or 1, which torch.export would specialise on.
TRACE_BATCH = 3
# The batch sizes an export is checked at: the single example, and an odd size of its own.
CHECK_BATCHES = (1, 7)


@dataclass(frozen=True)
class ExportReport:
    """What was written: the file, its format, the program's signature, and the largest
    difference from eager over the batches checked (the same inputs, noise included)."""

    path: Path
    format: Format
    signature: Signature
    batches: tuple[int, ...]
    difference: Difference
    tolerance: float
    seconds: float
    size_bytes: int


def trace(model: Model, signature: Signature) -> ExportedProgram:
    """``torch.export`` of the program with a symbolic batch axis on every input."""
    program = Program(model, signature).eval()
    example = tuple(signature.example_inputs(TRACE_BATCH))
    batch = Dim("batch", min=1)
    shapes = tuple({0: batch} for _ in example)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # forward(*args): the dynamic shapes of the one variadic argument, a tuple.
            return torch.export.export(program, example, dynamic_shapes=(shapes,), strict=False)
    except ExportError:
        raise
    except Exception as exc:
        site = site_of_traceback(exc.__traceback__)
        text = str(exc).strip().splitlines()
        first = text[0] if text else type(exc).__name__
        where = site.describe() if site.layer is not None else f"`{signature.model_name}`.{signature.what}"
        raise ExportError(f"torch.export cannot trace {where}: {first}") from None


def _outputs(value: Any) -> list[Tensor]:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def check(
    model: Model, signature: Signature, run: Any, batches: Sequence[int], seed: int = 0
) -> tuple[Difference, tuple[int, ...]]:
    """Run the exported program (``run(inputs) -> outputs``) and the eager model on the same
    inputs, noise included, at each batch size; the largest difference over all of them."""
    program = Program(model, signature).eval()
    worst = Difference(0.0, 0.0, 0)
    for batch in batches:
        inputs = signature.example_inputs(batch, seed=seed + batch)
        with torch.no_grad():
            eager = _outputs(program(*inputs))
        got = run(inputs)
        found = difference(got, eager)
        worst = Difference(
            max(worst.absolute, found.absolute),
            max(worst.scaled, found.scaled),
            worst.integers_differing + found.integers_differing,
        )
    return worst, tuple(batches)


def _export_and_check(
    model: Model, signature: Signature, chosen: Format, batches: Sequence[int], seed: int
) -> tuple[bytes, Difference, tuple[int, ...]]:
    """The file's bytes in format ``chosen``, and how far the program they hold is from eager."""
    program = trace(model, signature)
    if chosen == "onnx":
        from .onnx_format import onnx_bytes, onnx_runner

        data = onnx_bytes(program, signature)
        return (data, *check(model, signature, onnx_runner(data, signature), batches, seed))
    from .pt2_format import pt2_bytes, pt2_runner

    data = pt2_bytes(program, signature)
    return (data, *check(model, signature, pt2_runner(data), batches, seed))


def export_model(
    model: Model | str | Path,
    output: str | Path,
    *,
    format: Format | None = None,
    what: What = "log_prob",
    model_name: str | None = None,
    temperature: float = 1.0,
    batches: Sequence[int] = CHECK_BATCHES,
    tolerance: float | None = None,
    seed: int = 0,
) -> ExportReport:
    """Export ``model``'s ``log_prob`` (or ``sample``) to ``output`` and check it.

    ``model`` is a compiled model instance, a ``.survae`` file (fresh weights from ``seed``;
    ``model_name`` picks one of several models) or a trained run folder (``load_trained``).
    ``format`` defaults from the suffix (``.onnx``, ``.pt2``). The program's inputs are the
    data (for ``sample``: the contexts), then one input per random draw (see
    ``Signature.describe``); the batch axis is symbolic. Before writing, the program runs
    (onnxruntime, or ``torch.export.load``) at each of ``batches`` next to the eager model on
    the same inputs; a scaled difference above ``tolerance`` (default: ``tolerance_for`` the
    model's dtype) is an ExportError and nothing is written. The file is written atomically.
    """
    started = time.perf_counter()
    path = Path(output)
    chosen = format or FORMATS.get(path.suffix.lower())
    if chosen not in ("onnx", "pt2"):
        raise ExportError(f"cannot tell the format of {path}: name it .onnx or .pt2, or pass --format onnx|pt2")
    if what not in ("log_prob", "sample"):
        raise ExportError(f"--what must be log_prob or sample, got {what!r}")
    instance = model if isinstance(model, Model) else load_model(model, model_name, seed)
    training = instance.training
    instance.eval()  # batch_norm's running statistics, no dropout; the caller's mode is restored
    try:
        signature = signature_of(instance, what, temperature)
        data, difference_found, checked = _export_and_check(instance, signature, chosen, batches, seed)
    finally:
        instance.train(training)
    limit = tolerance_for(signature.dtype) if tolerance is None else tolerance
    if not difference_found.within(limit):
        raise ExportError(
            f"the exported program disagrees with eager {what} (largest difference {difference_found.absolute:.3g}, "
            f"scaled {difference_found.scaled:.3g} > {limit:g}; {difference_found.integers_differing} integer entries "
            f"differ): {path} not written"
        )
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    seconds = time.perf_counter() - started
    return ExportReport(path, chosen, signature, checked, difference_found, limit, seconds, len(data))
