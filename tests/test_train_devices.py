"""`survae-train`'s devices, precision, learning-rate schedule, clipping and TensorBoard log.

In-process runs of tiny models, as in tests/test_train.py; the CUDA tests skip without a GPU.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from survae_dsl.train import TrainConfig, TrainError, fit
from survae_dsl.train.schedule import Schedule

pytestmark = pytest.mark.slow  # trains models: about 30 s

FLOW = """
model Flow {
    input x: real[3]
    h = actnorm(x)
    h = affine_coupling(h, net=mlp(hidden=[16]))
    h = reverse(h)
    h = affine_coupling(h, net=mlp(hidden=[16]))
    h ~ normal()
}
"""

IMAGES = """
model Tiny {
    input x: int<5>[1, 4, 4]
    h = dequantize(x) |> logit()
    h = flatten(h)
    h = affine_coupling(h, net=mlp(hidden=[8]))
    h ~ normal()
}
"""

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.survae"
    path.write_text(FLOW)
    return path


@pytest.fixture
def points(tmp_path: Path) -> Path:
    """300 3-D points (3-D: no plots to draw), 270 to train on."""
    path = tmp_path / "points.npy"
    rng = np.random.default_rng(1)
    np.save(path, (rng.standard_normal((300, 3)) * [2.0, 0.5, 1.0] + [1.0, -1.0, 0.0]).astype(np.float32))
    return path


def config(model: Path, data: Path, out: Path, **options: Any) -> TrainConfig:
    return TrainConfig(model, data=data, out=out, batch_size=64, iw_k=2, **{"epochs": 2, **options})


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    from survae_dsl.train import main

    capsys.readouterr()
    status = main([str(a) for a in args])
    return status, capsys.readouterr().err


# ------------------------------------------------------------------ devices


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line_and_keeps_the_checkpoint(
    flow: Path, points: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run_cli(capsys, flow, "--data", points, "--out", out, "--max-steps", "2")[0] == 0
    before = (out / "checkpoint.pt").read_bytes()
    for device in ("cuda", "cuda:1"):
        status, err = run_cli(capsys, flow, "--data", points, "--out", out, "--device", device, "--resume")
        assert status == 1 and err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(f"survae-train: error: --device {device}: CUDA is not available here")
    assert (out / "checkpoint.pt").read_bytes() == before
    with pytest.raises(SystemExit):  # bad usage: argparse's exit 2
        run_cli(capsys, flow, "--data", points, "--device", "gpu")


def test_auto_is_the_cpu_here_and_metrics_say_where(flow: Path, points: Path, tmp_path: Path) -> None:
    report = fit(config(flow, points, tmp_path / "run", max_steps=3))
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert report["device"].startswith(expected)
    assert (report["world_size"], report["precision"], report["dtype"]) == (1, "fp32", "float32")


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_trains_and_matches_the_cpu_start(flow: Path, points: Path, tmp_path: Path, precision: str) -> None:
    """On the GPU: the same initial loss as on the CPU (same weights, same first batch), a finite
    run, its checkpoint loadable on the CPU; resume continues on the other device."""
    on_gpu = fit(config(flow, points, tmp_path / "gpu", device="cuda", precision=precision, epochs=1))
    on_cpu = fit(config(flow, points, tmp_path / "cpu", device="cpu", precision=precision, epochs=1))
    assert on_gpu["device"].startswith("cuda:0")
    gpu_loss, cpu_loss = on_gpu["history"][0]["train_loss_nats"], on_cpu["history"][0]["train_loss_nats"]
    assert math.isfinite(gpu_loss) and abs(gpu_loss - cpu_loss) < (0.05 if precision == "bf16" else 1e-3)
    torch.load(tmp_path / "gpu" / "checkpoint.pt", map_location="cpu", weights_only=True)
    resumed = fit(config(flow, points, tmp_path / "gpu", device="cpu", precision=precision, epochs=2, resume=True))
    assert resumed["epochs_completed"] == 2


# ------------------------------------------------------------------ precision


def test_bf16_runs_the_nets_in_bf16_and_sums_densities_in_float32() -> None:
    """Under NetAutocast the nets' linear layers compute in bfloat16, while every layer's
    log-determinant, the prior's log-density and log_prob itself are float32."""
    import survae_dsl
    from survae_dsl.nn import Transform
    from survae_dsl.nn.precision import NetAutocast, nets_of

    torch.manual_seed(0)
    model = survae_dsl.compile_source(FLOW)["Flow"]()
    x = torch.randn(32, 3)
    model.initialize(x)
    seen: dict[str, torch.dtype] = {}

    def record(name: str) -> Callable[..., None]:
        def hook(_module: torch.nn.Module, _args: Any, output: Any) -> None:
            seen[name] = output[1].dtype if isinstance(output, tuple) else output.dtype

        return hook

    for name, module in model.named_modules():
        if isinstance(module, Transform) or isinstance(module, torch.nn.Linear):
            module.register_forward_hook(record(name))
    autocast = NetAutocast(model, "cpu")
    assert len(nets_of(model)) == 2
    with autocast.guard():
        log_p = model.log_prob(x)
    linears = {name: dtype for name, dtype in seen.items() if ".net." in name}
    ldjs = {name: dtype for name, dtype in seen.items() if ".net" not in name}
    assert linears and set(linears.values()) == {torch.bfloat16}, linears
    assert len(ldjs) == 4 and set(ldjs.values()) == {torch.float32}, ldjs
    assert log_p.dtype == torch.float32 and bool(log_p.isfinite().all())
    reference = model.log_prob(x)  # the hooks still on: the same computation
    autocast.remove()
    plain = model.log_prob(x)
    assert torch.equal(reference, log_p)
    assert (plain - log_p).abs().max() < 0.05 * plain.abs().max()  # bf16 nets: close, not equal
    assert not torch.is_autocast_enabled("cpu")


def test_bf16_trains_with_a_finite_loss(flow: Path, points: Path, tmp_path: Path) -> None:
    report = fit(config(flow, points, tmp_path / "run", precision="bf16"))
    assert report["precision"] == "bf16" and report["steps"] == 10
    losses = [h["train_loss_nats"] for h in report["history"]]
    assert all(math.isfinite(v) for v in losses) and losses[1] < losses[0]
    assert math.isfinite(report["test"]["log_prob_nats"])
    with pytest.raises(TrainError, match="made with precision = 'bf16', not 'fp32'"):
        fit(config(flow, points, tmp_path / "run", resume=True))


# ------------------------------------------------------------------ schedule and clipping


def test_schedule_warmup_exponential_and_cosine() -> None:
    warm = Schedule(base=1.0, warmup=4, decay="none", gamma=1.0, total_steps=100)
    assert [warm.lr(step, 0) for step in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    exponential = Schedule(base=2.0, warmup=0, decay="exponential", gamma=0.5, total_steps=100)
    assert [exponential.lr(step, epoch) for step, epoch in ((0, 0), (9, 0), (10, 1), (25, 3))] == [2.0, 2.0, 1.0, 0.25]
    cosine = Schedule(base=1.0, warmup=2, decay="cosine", gamma=1.0, total_steps=12)
    rates = [cosine.lr(step, 0) for step in range(12)]
    assert rates[:3] == [0.5, 1.0, 1.0]  # warm-up, then the top of the cosine
    assert rates[7] == pytest.approx(0.5)  # half-way through the 10 steps after the warm-up
    assert cosine.lr(12, 0) == 0.0 and all(a > b for a, b in zip(rates[2:], rates[3:], strict=False))


def test_schedule_and_clipping_resume_exactly(flow: Path, points: Path, tmp_path: Path) -> None:
    """The rate is a function of (step, epoch): a run stopped mid-epoch and resumed follows it to
    the step, and reaches the uninterrupted run's figures exactly; the history records it."""
    options = {"epochs": 3, "warmup": 3, "decay": "cosine", "clip_grad": 0.5, "lr": 0.01}
    whole = fit(config(flow, points, tmp_path / "whole", **options))
    fit(config(flow, points, tmp_path / "split", max_steps=7, **options))
    resumed = fit(config(flow, points, tmp_path / "split", resume=True, **options))
    drop = ("seconds", "examples_per_second")
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in whole.items() if k not in drop}
    schedule = Schedule(0.01, 3, "cosine", 1.0, 15)
    assert [h["lr"] for h in whole["history"]] == [schedule.lr(h["step"] - 1, h["epoch"] - 1) for h in whole["history"]]
    assert whole["schedule"] == {"warmup": 3, "decay": "cosine", "gamma": 1.0, "total_steps": 15}
    assert all(h["grad_norm"] > 0 for h in whole["history"]) and whole["clip_grad"] == 0.5
    unclipped = fit(config(flow, points, tmp_path / "free", **{**options, "clip_grad": None}))
    assert unclipped["history"][-1]["train_loss_nats"] != whole["history"][-1]["train_loss_nats"]
    with pytest.raises(TrainError, match="warmup = 3, not 0"):
        fit(config(flow, points, tmp_path / "split", resume=True, **{**options, "warmup": 0}))


def test_data_loader_workers_give_the_same_run(flow: Path, points: Path, tmp_path: Path) -> None:
    inline = fit(config(flow, points, tmp_path / "w0", epochs=1))
    workers = fit(config(flow, points, tmp_path / "w1", epochs=1, workers=1))
    assert workers["history"] == inline["history"] and workers["workers"] == 1


# ------------------------------------------------------------------ TensorBoard


def test_tensorboard_writes_scalars_per_step_and_a_sample_grid(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = tmp_path / "images.survae"
    model.write_text(IMAGES)
    data = tmp_path / "images.npy"
    np.save(data, np.random.default_rng(2).integers(0, 5, size=(140, 1, 4, 4)))
    logs = tmp_path / "tb"
    report = fit(config(model, data, tmp_path / "run", tensorboard=logs))
    assert report["steps"] == 4
    events = EventAccumulator(str(logs), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    per_step = ("train/loss_nats", "train/bits_per_dim", "train/lr", "train/grad_norm")
    assert set(tags["scalars"]) >= {*per_step, "test/bits_per_dim"}
    for tag in per_step:
        assert [event.step for event in events.Scalars(tag)] == [1, 2, 3, 4], tag
    bits = [event.value for event in events.Scalars("train/bits_per_dim")]
    nats = [event.value for event in events.Scalars("train/loss_nats")]
    assert bits == pytest.approx([v / (16 * math.log(2)) for v in nats], rel=1e-6)
    assert [event.value for event in events.Scalars("train/lr")] == pytest.approx([1e-3] * 4)
    test_bits = [event.value for event in events.Scalars("test/bits_per_dim")]
    assert test_bits == pytest.approx([h["test_bits_per_dim"] for h in report["history"]], rel=1e-6)
    assert "samples" in tags["images"] and len(events.Images("samples")) == 2  # one grid per epoch


def test_tensorboard_missing_is_one_line(
    flow: Path, points: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails as if absent
    status, err = run_cli(capsys, flow, "--data", points, "--out", tmp_path / "run", "--tensorboard", tmp_path / "tb")
    assert status == 1 and err.count("\n") == 1
    assert err.strip() == (
        "survae-train: error: --tensorboard needs the tensorboard package: pip install 'survae-dsl[tensorboard]'"
    )
    assert not (tmp_path / "run").exists()
