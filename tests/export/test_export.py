"""survae-export on a few models, both formats: the written file runs (onnxruntime in a fresh
process without torch, `torch.export.load`) at batch sizes 1 and 7 and matches eager on the same
inputs, noise included; `sort` keeps eager's order of ties in ONNX; errors are one line.

Every example model is exported in test_export_examples.py (slow).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from survae_dsl.export import ExportError, export_model
from survae_dsl.export.cli import main
from survae_dsl.export.onnx_format import onnx_translations
from survae_dsl.export.program import Program
from survae_dsl.export.source import load_model
from survae_dsl.nn import Sort
from survae_dsl.nn.linear import unit_triangular_inverse

from .helpers import EXAMPLES, fresh

# onnxruntime against eager in float32: kernels round differently (about 1e-7 relative seen).
ONNX_TOLERANCE = 1e-5

# Run by a fresh interpreter: onnxruntime and numpy only, torch never imported.
_RUN_WITHOUT_TORCH = """
import json, sys
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
arrays = np.load(sys.argv[2])
names = [i.name for i in session.get_inputs()]
out = session.run(None, {name: arrays[name] for name in names})[0]
assert "torch" not in sys.modules
np.save(sys.argv[3], out)
print(json.dumps(names))
"""


@pytest.fixture(scope="module")
def abs_flow_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "abs_flow.onnx"
    assert main([str(EXAMPLES / "abs_flow.survae"), "-o", str(path)]) == 0
    return path


def test_the_command_writes_a_checked_onnx_file(abs_flow_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert abs_flow_onnx.stat().st_size > 0
    import onnx

    proto = onnx.load(str(abs_flow_onnx))
    signature = json.loads({p.key: p.value for p in proto.metadata_props}["survae.signature"])
    assert [i["name"] for i in signature["inputs"]] == ["x"]
    assert [o.name for o in proto.graph.output] == ["log_prob"]
    # The batch axis is symbolic, the event axis fixed.
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 2


@pytest.mark.slow  # a second interpreter importing onnxruntime: a few seconds
@pytest.mark.parametrize("batch", [1, 7])
def test_onnx_runs_in_a_process_without_torch(abs_flow_onnx: Path, tmp_path: Path, batch: int) -> None:
    # The command's weights: the .survae file's fresh ones from seed 0.
    model = load_model(EXAMPLES / "abs_flow.survae", seed=0).eval()
    x = torch.randn(batch, 2, generator=torch.Generator().manual_seed(batch))
    np.savez(tmp_path / "inputs.npz", x=x.numpy())
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _RUN_WITHOUT_TORCH,
            str(abs_flow_onnx),
            str(tmp_path / "inputs.npz"),
            str(tmp_path / "out.npy"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == ["x"]
    with torch.no_grad():
        eager = model.log_prob(x)
    got = torch.from_numpy(np.load(tmp_path / "out.npy"))
    assert got.shape == (batch,)
    torch.testing.assert_close(got, eager, rtol=ONNX_TOLERANCE, atol=ONNX_TOLERANCE)


def test_a_lower_bound_exports_to_pt2_with_its_noise_as_an_input(tmp_path: Path) -> None:
    model = fresh("catalogue/vectors.survae", "Dequantized")
    path = tmp_path / "dequantized.pt2"
    report = export_model(model, path)
    assert report.batches == (1, 7) and report.difference.absolute == 0.0
    signature = report.signature
    assert [n.name for n in signature.noise] == ["noise_0_dequantize_line70"]
    assert (signature.noise[0].kind, signature.noise[0].shape) == ("normal", (2,))  # the logit-normal encoder
    loaded = torch.export.load(str(path)).module()
    program = Program(model, signature)
    for batch in (1, 7):
        inputs = signature.example_inputs(batch, seed=100 + batch)
        with torch.no_grad():
            torch.testing.assert_close(loaded(*inputs), program(*inputs), rtol=0, atol=0)
    # Deterministic given its inputs: other noise, another bound; the same noise, the same bound.
    x, u = signature.example_inputs(7, seed=1)
    with torch.no_grad():
        assert torch.equal(loaded(x, u), loaded(x, u))
        assert not torch.equal(loaded(x, u), loaded(x, torch.rand_like(u)))


class _SortOnly(torch.nn.Module):
    def __init__(self, shape: tuple[int, ...], dim: int) -> None:
        super().__init__()
        self.sort = Sort(shape, dim=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sort(x)[0]


@pytest.mark.parametrize("shape", [(9,), (2, 9)], ids=["vector", "set"])
def test_onnx_sort_keeps_eagers_order_of_ties(shape: tuple[int, ...]) -> None:
    import onnxruntime as ort

    layer = _SortOnly(shape, dim=len(shape) - 1)
    generator = torch.Generator().manual_seed(0)
    # Keys from {0, 1, 2}: nine keys tie in threes at least. In a set, the second feature row is
    # distinct, so the output shows which of the tied columns came first.
    x = torch.randint(0, 3, (16, *shape), generator=generator).float()
    if len(shape) == 2:
        x[:, 1] = torch.randn(16, shape[1], generator=generator)
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(layer, (x,), dynamic_shapes=({0: batch},))
        onnx_program = torch.onnx.export(program, dynamo=True, custom_translation_table=onnx_translations())
    assert onnx_program is not None
    session = ort.InferenceSession(onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    assert torch.equal(got, layer(x))


def test_the_inverse_of_conv1x1_by_products_equals_the_solves() -> None:
    from survae_dsl.nn import Conv1x1

    layer = Conv1x1((5, 3, 3), seed=2).double()
    with torch.no_grad():
        layer.lu.add_(0.3 * torch.randn(layer.lu.shape, dtype=torch.float64))
    lower, upper = layer._factors()
    eye = torch.eye(5, dtype=torch.float64)
    torch.testing.assert_close(layer._lu_inverse() @ lower @ upper, eye, rtol=0, atol=1e-12)
    for size in (1, 2, 3, 4, 8, 9):
        strict = torch.tril(torch.randn(size, size, dtype=torch.float64), -1)
        identity = torch.eye(size, dtype=torch.float64)
        torch.testing.assert_close(unit_triangular_inverse(strict) @ (identity + strict), identity)


def test_a_format_that_is_not_known_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main([str(EXAMPLES / "abs_flow.survae"), "-o", str(tmp_path / "model.tflite")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.splitlines() == [
        f"survae-export: error: cannot tell the format of {tmp_path / 'model.tflite'}: name it .onnx or .pt2, "
        "or pass --format onnx|pt2"
    ]


def test_a_file_of_several_models_needs_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main([str(EXAMPLES / "catalogue" / "sets.survae"), "-o", str(tmp_path / "m.pt2")])
    err = capsys.readouterr().err
    assert status == 1 and len(err.splitlines()) == 1
    assert "`SortFlow`, `PermuteFlow`" in err and err.rstrip().endswith("pass --model NAME")


def test_a_missing_source_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main([str(tmp_path / "nothing.survae"), "-o", str(tmp_path / "m.onnx")])
    assert status == 1
    assert (
        capsys.readouterr().err == f"survae-export: error: {tmp_path / 'nothing.survae'}: no such file or run folder\n"
    )


UNSUPPORTED = """\
model Gaps {
    input x: real[1, 4]
    h = max_pool(x, kernel=2, decoder=truncated_normal())
    h ~ normal()
}
"""


def test_an_op_onnx_cannot_express_is_named_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "gaps.survae"
    source.write_text(UNSUPPORTED, encoding="utf-8")
    output = tmp_path / "gaps.onnx"
    output.write_bytes(b"an earlier export")
    status = main([str(source), "--what", "sample", "-o", str(output)])
    err = capsys.readouterr().err
    assert status == 1
    # The truncated normal's sampler inverts the normal CDF (ndtri), which ONNX lacks.
    assert err.splitlines() == [
        "survae-export: error: cannot convert `max_pool` (gaps.survae:3) to ONNX: torch's ONNX exporter has "
        "no translation of prims.ndtri.default"
    ]
    assert output.read_bytes() == b"an earlier export"
    # The same program as .pt2 is fine, and so is the model's log_prob in ONNX.
    assert main([str(source), "--what", "sample", "-o", str(tmp_path / "gaps.pt2")]) == 0
    assert main([str(source), "-o", str(output)]) == 0


def test_the_python_function_refuses_an_unknown_method(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="--what must be log_prob or sample"):
        export_model(EXAMPLES / "abs_flow.survae", tmp_path / "m.onnx", what="entropy")  # type: ignore[arg-type]


def test_a_trained_bundle_exports_with_its_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from survae_dsl.train.bundle import write_bundle

    source = EXAMPLES / "zoo" / "toy_abs_flow.survae"
    model = fresh("zoo/toy_abs_flow.survae", "AbsFlowSoftplus", seed=3)
    run = tmp_path / "run"
    run.mkdir()
    text = source.read_text(encoding="utf-8")
    write_bundle(
        run, source_text=text, source_name=str(source), model_name="AbsFlowSoftplus", model=model, extra_info={}
    )
    output = tmp_path / "trained.pt2"
    assert main([str(run), "-o", str(output)]) == 0
    assert "`AbsFlowSoftplus`.log_prob" in capsys.readouterr().out
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the trained weights, not fresh ones: the perturbed model's density
        torch.testing.assert_close(torch.export.load(str(output)).module()(x), model.log_prob(x), rtol=0, atol=0)


def test_a_folder_that_is_not_a_bundle_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "-o", str(tmp_path / "m.pt2")]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "is not a trained-model bundle" in err
