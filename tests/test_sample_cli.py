"""`survae-sample`: draws from bundles written by `write_bundle` into .npy arrays and .png pictures;
contexts, temperature, seeds, and one clear line (exit 1) for each user error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import survae_dsl
from survae_dsl.train.bundle import pack, write_bundle
from survae_dsl.train.sample_cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# A vector model whose samples are square pictures (16 → 4×4) in the unit interval.
SQUARE = """
model Square {
    input x: unit[16]
    h = logit(x)
    h = affine_coupling(h, net=mlp(hidden=[8]))
    h ~ normal()
}
"""


def write(out: Path, text: str, source_name: str, model_name: str) -> Path:
    """The bundle of a compiled model with randomised weights, in `out`."""
    cls = survae_dsl.compile_source(text, filename=source_name, model=model_name)[model_name]
    torch.manual_seed(0)
    model = cls()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    out.mkdir(parents=True)
    write_bundle(out, source_text=text, source_name=source_name, model_name=model_name, model=model, extra_info={})
    return out


def example(tmp_path: Path, file: str, model_name: str) -> Path:
    path = EXAMPLES / file
    return write(tmp_path / model_name, path.read_text(), str(path), model_name)


@pytest.fixture
def abs_flow(tmp_path) -> Path:
    return example(tmp_path, "abs_flow.survae", "AbsFlow")


@pytest.fixture
def conditional(tmp_path) -> Path:
    return example(tmp_path, "language/conditional.survae", "ClassConditional")


def sample(*argv: object) -> int:
    return main([str(a) for a in argv])


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("survae-sample: error: ")
    return err.removeprefix("survae-sample: error: ").rstrip("\n")


def test_npy_of_an_unconditional_model(abs_flow, tmp_path, capsys):
    out = tmp_path / "s.npy"
    assert sample(abs_flow, "-n", 10, "-o", out) == 0
    array = np.load(out)
    assert array.shape == (10, 2) and array.dtype == np.float32
    assert np.isfinite(array).all()
    assert capsys.readouterr().out == f"survae-sample: wrote 10 samples of `AbsFlow` (real[2]) to {out}\n"


def test_the_same_seed_gives_the_same_samples_and_another_seed_others(abs_flow, tmp_path):
    paths = [tmp_path / f"{i}.npy" for i in range(3)]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        assert sample(abs_flow, "-n", 20, "--seed", seed, "-o", path) == 0
    first, again, other = (np.load(p) for p in paths)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_the_samples_are_the_models_draws(abs_flow, tmp_path):
    """What survae-sample writes is model.sample with a generator seeded by --seed."""
    assert sample(abs_flow, "-n", 7, "--seed", 3, "--temperature", 0.5, "-o", tmp_path / "s.npy") == 0
    model = survae_dsl.load_trained(abs_flow)
    with torch.no_grad():
        expected = model.sample(7, temperature=0.5, generator=torch.Generator().manual_seed(3))
    assert np.array_equal(np.load(tmp_path / "s.npy"), expected.numpy())


def test_temperature_zero_draws_the_image_of_the_base_mode(tmp_path):
    # CouplingFlow is a bijection of a standard normal: at T = 0 every sample is the image of 0.
    run = example(tmp_path, "coupling_flow.survae", "CouplingFlow")
    assert sample(run, "-n", 5, "--temperature", 0, "-o", tmp_path / "s.npy") == 0
    array = np.load(tmp_path / "s.npy")
    # (to float32 rounding: the batch's rows go through the matrix products in different tiles)
    np.testing.assert_allclose(array, np.repeat(array[:1], 5, axis=0), rtol=1e-5, atol=1e-6)
    assert sample(run, "-n", 5, "--temperature", 1, "-o", tmp_path / "t.npy") == 0
    spread = np.load(tmp_path / "t.npy")
    assert np.abs(spread - spread[:1]).max() > 0.1


def test_png_of_2d_data_is_a_scatter_plot(abs_flow, tmp_path):
    out = tmp_path / "s.png"
    assert sample(abs_flow, "-n", 50, "-o", out) == 0
    with Image.open(out) as picture:
        assert picture.format == "PNG"
        assert picture.width > 100 and picture.height > 100


def test_png_of_images_is_a_grid(tmp_path):
    run = example(tmp_path, "catalogue/images.survae", "ImageFlow")  # int<16>[1, 4, 4]
    out = tmp_path / "s.png"
    assert sample(run, "-n", 8, "-o", out) == 0
    # 8 images in 3 columns and 3 rows; each 4×4 image scaled ×8, one white pixel between
    with Image.open(out) as picture:
        assert picture.mode == "L"
        assert picture.size == (3 * 33 + 1, 3 * 33 + 1)
        pixels = np.asarray(picture)
    assert sample(run, "-n", 8, "-o", tmp_path / "s.npy") == 0
    samples = np.load(tmp_path / "s.npy")
    assert samples.dtype == np.int64 and samples.shape == (8, 1, 4, 4)
    # the second image, top-left pixel: its value over K - 1 = 15, as a grey level
    assert pixels[1, 1 + 33] == round(samples[1, 0, 0, 0] / 15 * 255)
    assert (pixels[0, :] == 255).all() and (pixels[:, 33] == 255).all()
    assert (pixels[1 + 2 * 33 :, 1 + 2 * 33 :] == 255).all()  # the ninth cell is empty


def test_png_of_square_vectors_is_a_grid_of_squares(tmp_path):
    run = write(tmp_path / "square", SQUARE, "square.survae", "Square")
    assert sample(run, "-n", 4, "-o", tmp_path / "s.png") == 0
    with Image.open(tmp_path / "s.png") as picture:
        assert picture.size == (2 * 33 + 1, 2 * 33 + 1)  # 4×4 scaled ×8


def test_png_of_point_clouds_is_one_plot_per_cloud(tmp_path):
    run = example(tmp_path, "catalogue/sets.survae", "PermuteFlow")  # real[6, 2]
    assert sample(run, "-n", 4, "-o", tmp_path / "s.png") == 0
    with Image.open(tmp_path / "s.png") as picture:
        assert picture.format == "PNG"
        assert picture.width > 100 and picture.height > 100
    assert sample(run, "-n", 4, "-o", tmp_path / "s.npy") == 0
    assert np.load(tmp_path / "s.npy").shape == (4, 6, 2)


def test_a_class_label_context(conditional, tmp_path, capsys):
    assert sample(conditional, "-n", 12, "--context", "label=2", "-o", tmp_path / "two.npy") == 0
    assert sample(conditional, "-n", 12, "--context", "label=3", "-o", tmp_path / "three.npy") == 0
    two, three = np.load(tmp_path / "two.npy"), np.load(tmp_path / "three.npy")
    assert two.shape == (12, 2)
    assert not np.array_equal(two, three)  # the same noise, another class: other samples
    model = survae_dsl.load_trained(conditional)
    with torch.no_grad():
        label = torch.full((12, 1), 2, dtype=torch.int64)
        expected = model.sample(12, label=label, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(two, expected.numpy())
    assert sample(conditional, "-n", 12, "--context", "label=2", "-o", tmp_path / "two.png") == 0


def test_a_context_array_with_rows_sets_the_number_of_samples(conditional, tmp_path):
    labels = np.array([[0], [1], [2], [3], [2]])
    np.save(tmp_path / "labels.npy", labels)
    assert sample(conditional, "--context", tmp_path / "labels.npy", "-o", tmp_path / "a.npy") == 0
    assert sample(conditional, "--context", f"label={tmp_path / 'labels.npy'}", "-o", tmp_path / "b.npy") == 0
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (5, 2) and np.array_equal(a, b)
    model = survae_dsl.load_trained(conditional)
    with torch.no_grad():
        expected = model.sample(5, label=torch.from_numpy(labels), generator=torch.Generator().manual_seed(0))
    assert np.array_equal(a, expected.numpy())


def test_a_real_vector_context(tmp_path):
    run = example(tmp_path, "language/conditional.survae", "ConditionalFlow")  # context c: real[2]
    assert sample(run, "-n", 3, "--context", "c=0.5,-1", "-o", tmp_path / "s.npy") == 0
    model = survae_dsl.load_trained(run)
    with torch.no_grad():
        c = torch.tensor([[0.5, -1.0]]).expand(3, 2)
        expected = model.sample(3, c=c, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(np.load(tmp_path / "s.npy"), expected.numpy())


def test_a_packed_bundle(abs_flow, tmp_path):
    packed = pack(abs_flow, tmp_path / "abs.zip")
    assert sample(packed, "-n", 4, "-o", tmp_path / "a.npy") == 0
    assert sample(abs_flow, "-n", 4, "-o", tmp_path / "b.npy") == 0
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_runs_as_a_module(abs_flow, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "survae_dsl.train.sample_cli", str(abs_flow), "-n", "3", "-o", str(tmp_path / "s.npy")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert np.load(tmp_path / "s.npy").shape == (3, 2)


# --------------------------------------------------------------------------------------------
# User errors: one line, exit 1, the output left as it was


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-o", "s.jpg"], "-o s.jpg: the output must end in .npy (the array) or .png (a picture)"),
        (["-n", "0", "-o", "s.npy"], "-n must be a positive number of samples, got 0"),
        (["--temperature", "-1", "-o", "s.npy"], "--temperature must be a finite number ≥ 0, got -1.0"),
        (["--context", "label=1", "-o", "s.npy"], "`AbsFlow` has no context; drop --context"),
        (["--device", "gpu", "-o", "s.npy"], "unknown device 'gpu': use cpu, cuda, cuda:N or auto"),
    ],
)
def test_errors_of_an_unconditional_model(abs_flow, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    Path("s.npy").write_bytes(b"kept")
    assert sample(abs_flow, *argv) == 1
    assert error_line(capsys) == message
    assert Path("s.npy").read_bytes() == b"kept"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "`ClassConditional` is conditioned on `label`: pass --context label=VALUE"),
        (["--context", "colour=1"], "`ClassConditional` has no context `colour` (its contexts: label)"),
        (["--context", "label=4"], "the context `label` is int<4>[1]: its values must be whole numbers 0..3"),
        (["--context", "label=1.5"], "the context `label` is int<4>[1]: its values must be whole numbers 0..3"),
        (["--context", "label=1,2"], "the context `label` is int<4>[1]: give one number, got 2"),
        (["--context", "label=two"], "--context label=two: not a number or a comma-separated list of numbers"),
        (["--context", "label=1", "--context", "label=2"], "--context label is given twice"),
        (["--context", "label"], "--context label: write NAME=VALUE or FILE.npy"),
    ],
)
def test_context_errors(conditional, tmp_path, capsys, argv, message):
    assert sample(conditional, *argv, "-o", tmp_path / "s.npy") == 1
    assert error_line(capsys) == message
    assert not (tmp_path / "s.npy").exists()


def test_context_rows_that_disagree_with_n(conditional, tmp_path, capsys):
    np.save(tmp_path / "labels.npy", np.zeros((3, 1), dtype=np.int64))
    assert sample(conditional, "-n", 4, "--context", tmp_path / "labels.npy", "-o", tmp_path / "s.npy") == 1
    assert error_line(capsys) == "the context `label` holds 3 rows but 4 samples are asked for"


def test_a_context_array_of_the_wrong_shape(conditional, tmp_path, capsys):
    np.save(tmp_path / "labels.npy", np.zeros((3, 2), dtype=np.int64))
    assert sample(conditional, "--context", tmp_path / "labels.npy", "-o", tmp_path / "s.npy") == 1
    assert error_line(capsys) == "the context `label` is int<4>[1]: its array must be [1] or [n, 1], got [3, 2]"


def test_not_a_bundle(tmp_path, capsys):
    assert sample(tmp_path, "-o", tmp_path / "s.npy") == 1
    assert error_line(capsys) == (
        f"{tmp_path} is not a trained-model bundle: it has no model.survae and no weights.safetensors and no info.json"
    )


def test_an_output_folder_that_does_not_exist(abs_flow, tmp_path, capsys):
    assert sample(abs_flow, "-o", tmp_path / "missing" / "s.npy") == 1
    assert error_line(capsys).startswith(f"cannot write {tmp_path / 'missing' / 's.npy'}: ")


def test_usage_errors_exit_2(abs_flow, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc_info:
        sample(abs_flow, "-n", "many", "-o", tmp_path / "s.npy")
    assert exc_info.value.code == 2
    with pytest.raises(SystemExit) as exc_info:
        sample(abs_flow)  # no -o
    assert exc_info.value.code == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sampling_on_cuda_is_deterministic(conditional, tmp_path):
    for name in ("a", "b"):
        argv = ["--device", "cuda", "-n", 16, "--context", "label=1", "--seed", 4, "-o", tmp_path / f"{name}.npy"]
        assert sample(conditional, *argv) == 0
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (16, 2) and np.array_equal(a, b)
