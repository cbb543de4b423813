"""Every example model and every zoo model under 4 million parameters, `log_prob` and `sample`,
to `.pt2` and ONNX: the program (traced once, batch symbolic) run by `torch.export.load`'s module
and by onnxruntime at batch sizes 1 and 7 matches the eager model on the same inputs, noise
included. The large zoo models are exported as narrower variants of the same architecture.

Tolerances, on |exported − eager| / max(1, |eager|): `.pt2` runs torch's kernels, decomposed,
within 1e-5 (1.3e-6 seen: the spline inverse); onnxruntime within 1e-5 for `log_prob` and 1e-4
for `sample` (3e-5 seen: an untrained flow's draws reach 1e33 through `sorted_to_real`'s exp,
which amplifies float32 rounding); integer outputs (draws of `int<K>` data) equal. ONNX cannot
express the programs of `ONNX_REFUSED`: the error names the op and its line instead.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch

from survae_dsl.compiler.drivers.api import compile_source
from survae_dsl.export import ExportError
from survae_dsl.export.compare import difference
from survae_dsl.export.core import trace
from survae_dsl.export.onnx_format import onnx_bytes, onnx_runner
from survae_dsl.export.program import Program, Signature, What, signature_of
from survae_dsl.export.pt2_format import pt2_bytes, pt2_runner
from survae_dsl.nn import Model

from .helpers import EXAMPLES, SMALL_FILES, SMALL_ZOO_FILES, all_models, traced

pytestmark = pytest.mark.slow  # about 70 models × 2 methods traced, each converted twice: many minutes

PT2_TOLERANCE = 1e-5
ONNX_TOLERANCE = {"log_prob": 1e-5, "sample": 1e-4}
BATCHES = (1, 7)

# ONNX has no inverse normal CDF: sampling a truncated normal (max_pool's gaps here) is refused.
ONNX_REFUSED = {
    ("paper/digits_maxpool.survae", "MaxPoolFlow", "sample"): (
        "cannot convert `max_pool` (digits_maxpool.survae:24) to ONNX: torch's ONNX exporter has no translation "
        "of prims.ndtri.default"
    ),
}

# The zoo's architectures are the same ops in bigger graphs: 5 to 40 s each to trace and convert
# here, so `make test` runs the example models (every op of the catalogue among them) and
# `make test-exhaustive` the zoo's too.
CASES = [
    pytest.param(r, n, w, id=f"{r}:{n}:{w}", marks=[pytest.mark.exhaustive] if r.startswith("zoo/") else [])
    for r, n in all_models(SMALL_FILES + SMALL_ZOO_FILES)
    for w in ("log_prob", "sample")
]


def _outputs(value: object) -> list[torch.Tensor]:
    return list(value) if isinstance(value, (tuple, list)) else [value]  # type: ignore[list-item]


def _check(model: Model, signature: Signature, run: object, tolerance: float) -> None:
    program = Program(model, signature)
    for batch in BATCHES:
        inputs = signature.example_inputs(batch, seed=10 + batch)
        with torch.no_grad():
            eager = _outputs(program(*inputs))
        got = run(inputs)  # type: ignore[operator]
        assert [tuple(g.shape) for g in got] == [tuple(e.shape) for e in eager]
        if signature.what == "log_prob":  # a finite density, so that the comparison means something
            assert torch.isfinite(eager[0]).all()
        found = difference(got, eager)
        assert found.within(tolerance), f"batch {batch}: {found}"


@pytest.mark.parametrize(("relative", "name", "what"), CASES)
def test_pt2_matches_eager(relative: str, name: str, what: What) -> None:
    model, signature, program = traced(relative, name, what)
    _check(model, signature, pt2_runner(pt2_bytes(program, signature)), PT2_TOLERANCE)


@pytest.mark.parametrize(("relative", "name", "what"), CASES)
def test_onnx_matches_eager(relative: str, name: str, what: What) -> None:
    model, signature, program = traced(relative, name, what)
    refused = ONNX_REFUSED.get((relative, name, what))
    if refused is not None:
        with pytest.raises(ExportError) as caught:
            onnx_bytes(program, signature)
        assert str(caught.value) == refused
        return
    _check(model, signature, onnx_runner(onnx_bytes(program, signature), signature), ONNX_TOLERANCE[what])


# The large zoo models, narrowed: widths to 8 and each `repeat` to 2, the architecture kept.
LARGE_ZOO = [
    "zoo/glow_cifar10.survae",
    "zoo/cond_glow_mnist.survae",
    "zoo/realnvp_cifar10.survae",
    "zoo/flowpp_cifar10.survae",
    "zoo/cifar10_maxpool_flow.survae",
    "zoo/cifar10_slice_flow.survae",
    "zoo/cifar10_maxpool_flowdeq.survae",
    "zoo/cifar10_slice_flowdeq.survae",
]


def narrowed(text: str) -> str:
    """The model with every width (`hidden`, `growth`, a HIDDEN constant) 8 and every repeat 2."""
    text = re.sub(r"hidden=\[[\d, ]+\]", "hidden=[8, 8]", text)
    text = re.sub(r"\b(hidden|growth)=\d+", r"\1=8", text)
    text = re.sub(r"const HIDDEN = \d+", "const HIDDEN = 8", text)
    return re.sub(r"repeat \d+", "repeat 2", text)


def _main_model(relative: str) -> type[Model]:
    path = EXAMPLES / relative
    classes = compile_source(narrowed(path.read_text(encoding="utf-8")), filename=str(Path(relative).name))
    return list(classes.values())[-1]  # the file's last model uses the others


@pytest.mark.exhaustive
@pytest.mark.parametrize("relative", LARGE_ZOO)
def test_large_zoo_models_narrowed_export_to_both_formats(relative: str) -> None:
    cls = _main_model(relative)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cls().eval()
    signature = signature_of(model, "log_prob")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = trace(model, signature)
    _check(model, signature, pt2_runner(pt2_bytes(program, signature)), PT2_TOLERANCE)
    _check(model, signature, onnx_runner(onnx_bytes(program, signature), signature), ONNX_TOLERANCE["log_prob"])
