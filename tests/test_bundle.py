"""Trained-model bundles: `write_bundle` → `load_trained` round trips, packing, and each way a
bundle can fail to load (one clear `BundleError`)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load, load_file, save_file

import survae_dsl
from survae_dsl.compiler.backends.info import Info
from survae_dsl.compiler.core.diagnostics import CompileError
from survae_dsl.train.bundle import pack, weights_bytes, write_bundle
from survae_dsl.trained import BUNDLE_VERSION, BundleError, load_trained

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def randomised(path: Path, model_name: str, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """The compiled model with every parameter moved off its (often zero) initial value."""
    cls = survae_dsl.compile_source(path.read_text(), filename=str(path), model=model_name)[model_name]
    torch.manual_seed(seed)
    model = cls().to(dtype)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model.eval()


def bundle(out: Path, path: Path, model_name: str, **kwargs) -> torch.nn.Module:
    """Write the bundle of a randomised model of `path` to `out`; returns the model."""
    model = randomised(path, model_name, **kwargs)
    out.mkdir(parents=True, exist_ok=True)
    write_bundle(
        out,
        source_text=path.read_text(),
        source_name=str(path),
        model_name=model_name,
        model=model,
        extra_info={"step": 7, "out": out, "loss": float("nan")},
    )
    return model


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize(("file", "name"), [("abs_flow.survae", "AbsFlow"), ("coupling_flow.survae", "CouplingFlow")])
def test_round_trip_gives_the_same_model(tmp_path, file, name):
    model = bundle(tmp_path / "run", EXAMPLES / file, name)
    loaded = load_trained(tmp_path / "run")
    assert type(loaded).model_name == name
    assert not loaded.training
    assert_same_state(model, loaded)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(model.log_prob(x), loaded.log_prob(x))


def test_round_trip_of_a_conditional_model(tmp_path):
    path = EXAMPLES / "language" / "conditional.survae"
    model = bundle(tmp_path / "run", path, "ClassConditional")
    loaded = load_trained(tmp_path / "run", model="ClassConditional")
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(32, 2, generator=generator)
    label = torch.randint(0, 4, (32, 1), generator=generator)
    assert torch.equal(model.log_prob(x, label=label), loaded.log_prob(x, label=label))
    assert_same_state(model, loaded)


def test_a_float64_model_loads_as_float64(tmp_path):
    model = bundle(tmp_path / "run", EXAMPLES / "abs_flow.survae", "AbsFlow", dtype=torch.float64)
    assert json.loads((tmp_path / "run" / "info.json").read_text())["dtype"] == "float64"
    loaded = load_trained(tmp_path / "run")
    assert {p.dtype for p in loaded.parameters()} == {torch.float64}
    x = torch.randn(16, 2, dtype=torch.float64)
    assert torch.equal(model.log_prob(x), loaded.log_prob(x))


def test_the_bundle_holds_the_text_not_the_path(tmp_path):
    source = tmp_path / "src" / "abs_flow.survae"
    source.parent.mkdir()
    shutil.copy(EXAMPLES / "abs_flow.survae", source)
    original = source.read_text()
    model = bundle(tmp_path / "run", source, "AbsFlow")
    source.write_text("model AbsFlow { this no longer parses")
    x = torch.randn(8, 2)
    assert torch.equal(load_trained(tmp_path / "run").log_prob(x), model.log_prob(x))
    source.unlink()
    assert torch.equal(load_trained(tmp_path / "run").log_prob(x), model.log_prob(x))
    assert (tmp_path / "run" / "model.survae").read_text() == original


def test_info_json_holds_the_info_document_versions_and_training(tmp_path):
    bundle(tmp_path / "run", EXAMPLES / "abs_flow.survae", "AbsFlow")
    info = json.loads((tmp_path / "run" / "info.json").read_text())
    assert info["format"] == "survae-bundle"
    assert info["version"] == BUNDLE_VERSION
    assert info["model"] == "AbsFlow"
    assert info["survae_dsl"] == survae_dsl.__version__
    assert info["torch"] == str(torch.__version__)
    assert info["dtype"] == "float32"
    document = Info.model_validate(info["info"])  # the survae-compile --info document, as it is
    assert [m.name for m in document.models] == ["AbsFlow"]
    assert document.models[0].parameters == sum(
        p.numel() for p in randomised(EXAMPLES / "abs_flow.survae", "AbsFlow").parameters()
    )
    # extra_info is JSON: a path as its text, a NaN as null
    assert info["training"] == {"step": 7, "out": str(tmp_path / "run"), "loss": None}


def test_rewriting_a_bundle_replaces_it_and_leaves_no_temporaries(tmp_path):
    bundle(tmp_path / "run", EXAMPLES / "abs_flow.survae", "AbsFlow", seed=0)
    second = bundle(tmp_path / "run", EXAMPLES / "abs_flow.survae", "AbsFlow", seed=1)
    assert_same_state(second, load_trained(tmp_path / "run"))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["info.json", "model.survae", "weights.safetensors"]


def test_a_text_that_does_not_compile_writes_nothing(tmp_path):
    model = bundle(tmp_path / "run", EXAMPLES / "abs_flow.survae", "AbsFlow")
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(CompileError):
        write_bundle(
            tmp_path / "run",
            source_text="model X {",
            source_name="x.survae",
            model_name="X",
            model=model,
            extra_info={},
        )
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_weights_of_shared_and_strided_tensors_are_saved_whole():
    module = torch.nn.Module()
    base = torch.arange(12.0).reshape(3, 4)
    module.register_buffer("full", base)
    module.register_buffer("column", base[:, 1])  # shares base's storage, not contiguous
    module.register_buffer("same", base)  # the same tensor under a second name
    tensors = load(weights_bytes(module, {}))
    assert torch.equal(tensors["full"], base)
    assert torch.equal(tensors["column"], base[:, 1])
    assert torch.equal(tensors["same"], base)


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(torch.nn.DataParallel, id="DataParallel"),  # a `.module` wrapper, as DDP
        # an OptimizedModule, whose state_dict keys start with `_orig_mod.` (importing dynamo takes seconds)
        pytest.param(torch.compile, id="compile", marks=pytest.mark.slow),
    ],
)
def test_wrappers_are_unwrapped(tmp_path, wrap):
    model = randomised(EXAMPLES / "abs_flow.survae", "AbsFlow")
    (tmp_path / "run").mkdir()
    text = (EXAMPLES / "abs_flow.survae").read_text()
    write_bundle(
        tmp_path / "run",
        source_text=text,
        source_name="abs_flow.survae",
        model_name="AbsFlow",
        model=wrap(model),
        extra_info={},
    )
    assert_same_state(model, load_trained(tmp_path / "run"))


def test_user_transform_modules_travel_with_the_bundle(tmp_path):
    source_dir = tmp_path / "src"
    shutil.copytree(EXAMPLES / "user_transform", source_dir)
    model = bundle(tmp_path / "run", source_dir / "soft_clip.survae", "SoftClipFlow")
    assert (tmp_path / "run" / "mylayers.py").read_text() == (source_dir / "mylayers.py").read_text()
    assert json.loads((tmp_path / "run" / "info.json").read_text())["modules"] == ["mylayers.py"]
    shutil.rmtree(source_dir)
    x = torch.randn(8, 2)
    assert torch.equal(load_trained(tmp_path / "run").log_prob(x), model.log_prob(x))
    packed = pack(tmp_path / "run", tmp_path / "model.zip")
    shutil.rmtree(tmp_path / "run")
    assert torch.equal(load_trained(packed).log_prob(x), model.log_prob(x))


def test_pack_makes_one_file_that_loads_the_same(tmp_path):
    model = bundle(tmp_path / "run", EXAMPLES / "abs_flow.survae", "AbsFlow")
    (tmp_path / "run" / "metrics.json").write_text("{}")
    packed = pack(tmp_path / "run", tmp_path / "abs.zip")
    with zipfile.ZipFile(packed) as archive:
        assert sorted(archive.namelist()) == ["info.json", "metrics.json", "model.survae", "weights.safetensors"]
    assert_same_state(model, load_trained(packed))


def test_pack_refuses_a_folder_that_is_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="has no model.survae and no weights.safetensors and no info.json"):
        pack(tmp_path, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


# --------------------------------------------------------------------------------------------
# Errors: each one line, naming the file and what is wrong


@pytest.fixture
def run(tmp_path) -> Path:
    bundle(tmp_path / "run", EXAMPLES / "abs_flow.survae", "AbsFlow")
    return tmp_path / "run"


def one_line(exc_info: pytest.ExceptionInfo[BundleError]) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def test_a_missing_path(tmp_path):
    with pytest.raises(BundleError) as exc_info:
        load_trained(tmp_path / "nothing")
    assert (
        one_line(exc_info)
        == f"{tmp_path / 'nothing'} does not exist (a bundle is a survae-train output folder or a packed .zip)"
    )


def test_a_missing_file_is_named(run):
    (run / "weights.safetensors").unlink()
    with pytest.raises(BundleError) as exc_info:
        load_trained(run)
    assert one_line(exc_info) == f"{run} is not a trained-model bundle: it has no weights.safetensors"


def test_a_file_that_is_not_an_archive(tmp_path):
    (tmp_path / "model.txt").write_text("hello")
    with pytest.raises(BundleError, match="neither a folder nor a .zip archive"):
        load_trained(tmp_path / "model.txt")


def test_a_source_that_no_longer_compiles(run):
    text = (run / "model.survae").read_text()
    (run / "model.survae").write_text(text.replace("h = softplus_inv(h)", "h = softplus_inverse(h)"))
    with pytest.raises(BundleError) as exc_info:
        load_trained(run)
    message = one_line(exc_info)
    assert message.startswith(f"the bundle's model no longer compiles: {run / 'model.survae'}:8:")
    assert "error[E2" in message and "softplus_inverse" in message


def test_a_model_name_missing_from_the_source(run):
    text = (run / "model.survae").read_text()
    (run / "model.survae").write_text(text.replace("model AbsFlow", "model Renamed"))
    with pytest.raises(BundleError) as exc_info:
        load_trained(run)
    assert (
        one_line(exc_info) == f"{run / 'model.survae'} has no model `AbsFlow`, which info.json names as the trained one"
    )


def test_another_model_than_expected(run):
    with pytest.raises(BundleError) as exc_info:
        load_trained(run, model="CouplingFlow")
    assert one_line(exc_info) == f"{run} holds a trained `AbsFlow`, not `CouplingFlow`"


def test_weights_of_another_shape(run):
    text = (run / "model.survae").read_text()
    (run / "model.survae").write_text(text.replace("hidden=[200, 100]", "hidden=[50, 100]"))
    with pytest.raises(BundleError) as exc_info:
        load_trained(run)
    message = one_line(exc_info)
    assert message.startswith("the weights do not fit the model: `")
    assert "is [200, 1] in weights.safetensors but `AbsFlow` has [50, 1]" in message
    assert message.endswith("; model.survae was changed after these weights were written")


def test_a_missing_tensor(run):
    tensors = load_file(run / "weights.safetensors")
    removed = sorted(tensors)[0]
    shape = list(tensors.pop(removed).shape)
    save_file(tensors, run / "weights.safetensors")
    with pytest.raises(BundleError) as exc_info:
        load_trained(run)
    assert one_line(exc_info) == (
        f"the weights do not fit the model: `AbsFlow` needs `{removed}` {shape}, which weights.safetensors lacks"
    )


def test_an_unexpected_tensor(run):
    tensors = load_file(run / "weights.safetensors")
    tensors["stray.weight"] = torch.zeros(3)
    save_file(tensors, run / "weights.safetensors")
    with pytest.raises(BundleError) as exc_info:
        load_trained(run)
    assert one_line(exc_info) == (
        "the weights do not fit the model: weights.safetensors holds `stray.weight`, which `AbsFlow` has no place for"
    )


def test_a_bundle_from_a_newer_format(run):
    info = json.loads((run / "info.json").read_text())
    info["version"] = BUNDLE_VERSION + 1
    info["survae_dsl"] = "9.0.0"
    (run / "info.json").write_text(json.dumps(info))
    with pytest.raises(BundleError) as exc_info:
        load_trained(run)
    assert one_line(exc_info) == (
        f"{run} is a version {BUNDLE_VERSION + 1} bundle (written by survae-dsl 9.0.0); this survae-dsl reads "
        f"versions up to {BUNDLE_VERSION}: upgrade survae-dsl"
    )


def test_an_info_json_that_is_not_json(run):
    (run / "info.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"info.json is not JSON \(Expecting property name"):
        load_trained(run)


def test_a_weights_file_that_is_not_safetensors(run):
    (run / "weights.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(BundleError, match="weights.safetensors is not a readable safetensors file"):
        load_trained(run)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without CUDA")
def test_cuda_without_cuda(run):
    with pytest.raises(BundleError) as exc_info:
        load_trained(run, device="cuda")
    assert one_line(exc_info) == "device 'cuda' asked for, but this PyTorch sees no CUDA device"


def test_load_trained_is_exported_lazily():
    assert survae_dsl.load_trained is load_trained


@pytest.mark.slow
def test_a_training_run_leaves_a_bundle_of_its_last_checkpoint(tmp_path):
    from survae_dsl.train import TrainConfig, fit

    out = tmp_path / "run"
    config = TrainConfig(
        EXAMPLES / "abs_flow.survae",
        data="corners",
        epochs=1,
        max_steps=3,
        batch_size=64,
        out=out,
        iw_k=0,
        device="cpu",
    )
    fit(config)
    loaded = load_trained(out, model="AbsFlow")
    trained = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    assert loaded.state_dict().keys() == trained.keys()
    assert all(torch.equal(loaded.state_dict()[k], trained[k]) for k in trained)
    info = json.loads((out / "info.json").read_text())
    assert info["training"]["state"]["step"] == 3
    assert (out / "model.survae").read_text() == (EXAMPLES / "abs_flow.survae").read_text()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_model_on_cuda_bundles_and_loads_on_either_device(tmp_path):
    model = randomised(EXAMPLES / "abs_flow.survae", "AbsFlow").to("cuda")
    (tmp_path / "run").mkdir()
    text = (EXAMPLES / "abs_flow.survae").read_text()
    write_bundle(
        tmp_path / "run", source_text=text, source_name="abs.survae", model_name="AbsFlow", model=model, extra_info={}
    )
    on_cpu = load_trained(tmp_path / "run")
    on_gpu = load_trained(tmp_path / "run", device="auto")
    assert next(on_gpu.parameters()).device.type == "cuda"
    assert_same_state(model.cpu(), on_cpu)
    x = torch.randn(256, 2)
    torch.testing.assert_close(on_gpu.log_prob(x.cuda()).cpu(), on_cpu.log_prob(x), rtol=1e-4, atol=1e-4)
