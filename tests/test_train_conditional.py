"""Conditional models in training: the shipped class-conditional example, evaluation and plots
given contexts (survae_dsl/train/evaluation.py, plots.py), and runs of `fit` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import survae_dsl
from survae_dsl import data as datasets
from survae_dsl.train import TrainConfig, fit, main
from survae_dsl.train.data_loading import Data, load_data
from survae_dsl.train.evaluation import evaluate, mean_log_prob
from survae_dsl.train.examples import ExampleSet, TensorColumn
from survae_dsl.train.model_input import model_io
from survae_dsl.train.plots import plot, sample_grid

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "training" / "class_conditional_digits.survae"

DEQUANTIZED = """
model Deq {
    context label: int<3>[1]
    input x: int<5>[4]
    h = dequantize(x) |> logit()
    h = affine_coupling(h, net=mlp(hidden=[8]), context=label)
    h ~ normal(context=label, net=mlp(hidden=[8]))
}
"""
POINTS = """
model Points {
    context c: real[2]
    input x: real[2]
    h = affine_coupling(x, net=mlp(hidden=[16]), context=c)
    h = reverse(h)
    h ~ normal(context=c, net=mlp(hidden=[16]))
}
"""


def compiled(source: str) -> type[Any]:
    return next(iter(survae_dsl.compile_source(source).values()))


def example_set(**columns: Tensor) -> ExampleSet:
    return ExampleSet({name: TensorColumn(values) for name, values in columns.items()})


def test_the_example_compiles_exact_and_is_class_conditional() -> None:
    cls = survae_dsl.load(EXAMPLE)
    assert cls.likelihood == "exact"
    io = model_io(cls)
    assert io.describe() == "x: int<17>[1, 8, 8] given label: int<10>[1]"
    assert io.class_context == ("label", 10)
    assert str(io.input_type) == datasets.describe("digits_labels").input_type
    assert {name: str(t) for name, t in io.contexts.items()} == dict(datasets.describe("digits_labels").contexts)


def test_mean_log_prob_passes_each_example_its_context() -> None:
    torch.manual_seed(0)
    cls = compiled(DEQUANTIZED)
    model = cls().eval()
    with torch.no_grad():
        for p in model.parameters():  # a model whose density depends on the label
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randint(0, 5, (2_100, 4))
    label = torch.randint(0, 3, (2_100, 1))
    examples = example_set(x=x, label=label)
    io = model_io(cls)
    got = mean_log_prob(model, examples, io, seed=7, device="cpu")  # three chunks of EVAL_BATCH
    torch.manual_seed(7)
    with torch.no_grad():
        expected = torch.cat(
            [model.log_prob(a, label=b) for a, b in zip(x.split(1024), label.split(1024), strict=True)]
        )
    assert math.isclose(got, expected.double().mean().item(), rel_tol=1e-6)
    swapped = example_set(x=x, label=(label + 1) % 3)
    assert abs(mean_log_prob(model, swapped, io, seed=7, device="cpu") - got) > 1e-3  # the context matters


def test_evaluate_a_conditional_lower_bound_with_its_iw_bound() -> None:
    torch.manual_seed(1)
    cls = compiled(DEQUANTIZED)
    model = cls().eval()
    x, label = torch.randint(0, 5, (60, 4)), torch.randint(0, 3, (60, 1))
    data = Data(example_set(x=x, label=label), example_set(x=x[:20], label=label[:20]), "d", "t", None)
    result = evaluate(model, data, model_io(cls), seed=0, iw_k=8, device="cpu")
    assert result["train"]["examples"] == 60 and result["test"]["examples"] == 20
    iw = result["test"]["iw"]
    assert iw["k"] == 8 and iw["examples"] == 20
    assert iw["log_prob_nats"] >= iw["elbo_nats"] - 0.05  # the IW bound is at least the one-sample bound, on average
    assert math.isclose(result["test"]["bits_per_dim"], -result["test"]["log_prob_nats"] / (4 * math.log(2)))


class LabelPainter(nn.Module):
    """A stand-in class-conditional image model: every pixel of a sample is its label."""

    likelihood = "exact"

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def sample(self, num_samples: int | None = None, *, generator: Any = None, label: Tensor) -> Tensor:
        return label.reshape(-1, 1, 1, 1).expand(-1, 1, 3, 2).clone()


def test_sample_grid_has_one_row_per_class() -> None:
    io = model_io(compiled("model M {\n context label: int<5>[1]\n input x: int<5>[1, 3, 2]\n x ~ categorical()\n}\n"))
    data = Data(example_set(x=torch.zeros(1, 1, 3, 2).long(), label=torch.zeros(1, 1).long()), *[None] * 4)  # type: ignore[arg-type]
    grid = sample_grid(LabelPainter(), io, data, seed=0, device="cpu")  # type: ignore[arg-type]
    assert grid is not None and grid.shape == (3, 5 * 4, 8 * 3)  # 5 classes × 8 samples, a line after each
    for row in range(5):
        cells = grid[:, row * 4 : row * 4 + 3].reshape(3, 3, 8, 3)[..., :2]  # drop the white lines
        assert torch.allclose(cells, torch.full_like(cells, row / 4))  # int<5>: value / (K − 1)


def test_sample_grid_is_none_without_images() -> None:
    cls = compiled(POINTS)
    data = Data(
        example_set(x=torch.zeros(3, 2), c=torch.zeros(3, 2)),
        example_set(x=torch.zeros(3, 2), c=torch.zeros(3, 2)),
        "d",
        "t",
        None,
    )
    assert sample_grid(cls(), model_io(cls), data, seed=0, device="cpu") is None


def test_plots_of_conditional_models(tmp_path: Path) -> None:
    cls = survae_dsl.load(EXAMPLE)
    io = model_io(cls)
    digits = load_data(TrainConfig(EXAMPLE, data="digits_labels"), io)
    written = plot(cls().eval(), digits, io, tmp_path, seed=0, device="cpu")
    assert written == ["samples.png"] and (tmp_path / "samples.png").stat().st_size > 1_000
    points = compiled(POINTS)
    rng = torch.Generator().manual_seed(0)
    xy = example_set(x=torch.randn(200, 2, generator=rng), c=torch.randn(200, 2, generator=rng))
    (tmp_path / "p").mkdir()
    written = plot(
        points().eval(), Data(xy, xy, "p", "p", None), model_io(points), tmp_path / "p", seed=0, device="cpu"
    )
    assert written == ["samples.png"]  # no density plot: it would need one context


# ------------------------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_fit_trains_the_class_conditional_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = fit(TrainConfig(EXAMPLE, data="digits_labels", max_steps=6, batch_size=64, lr=1e-2, out=tmp_path / "run"))
    assert report["steps"] == 6 and report["data"]["name"] == "digits_labels"
    assert report["test"]["examples"] == 300
    first = -report["test"]["log_prob_nats"]
    assert first < 64 * math.log(17)  # better than the uniform start after 6 steps
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["test"]["log_prob_nats"] == pytest.approx(report["test"]["log_prob_nats"])
    assert (tmp_path / "run" / "samples.png").is_file()


@pytest.mark.slow
def test_fit_with_an_npy_and_its_context_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "points.survae"
    model.write_text(POINTS)
    rng = np.random.default_rng(0)
    context = rng.normal(size=(400, 2)).astype(np.float32)
    x = (context + 0.1 * rng.normal(size=(400, 2))).astype(np.float32)  # x follows its context
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "c.npy", context)
    report = fit(
        TrainConfig(
            model,
            data=tmp_path / "x.npy",
            context=tmp_path / "c.npy",
            epochs=3,
            batch_size=50,
            lr=1e-2,
            out=tmp_path / "run",
        )
    )
    assert report["data"]["train_examples"] == 360 and report["data"]["test_examples"] == 40
    assert report["test"]["log_prob_nats"] > -2 * (0.5 * math.log(2 * math.pi) + 0.5)  # beats N(0, 1) on x
    capsys.readouterr()
    status = main([str(model), "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert err.startswith("survae-train: error: model `Points` is conditioned on `c`: pass --context FILE.npy")
    assert not (tmp_path / "bad").exists()
