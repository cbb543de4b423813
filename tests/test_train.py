"""`survae-train` (the package survae_dsl/train/), run in-process on tiny models and data.

Each run takes a fraction of a second to a few seconds on 2 CPU cores: the models are one- or
two-coupling flows written inline, the data a built-in toy set capped with --max-steps or a
small .npy file.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from survae_dsl import train as survae_train
from survae_dsl.train import TrainConfig, fit, loop

pytestmark = pytest.mark.slow  # trains models, runs `survae-train` in processes: about 45 s

FLOW = """
model Flow {
    input x: real[2]
    h = affine_coupling(x, net=mlp(hidden=[16]))
    h = reverse(h)
    h = affine_coupling(h, net=mlp(hidden=[16]))
    h ~ normal()
}
"""

DEQUANTIZED = """
model Counts {
    input x: int<5>[4]
    h = dequantize(x) |> logit()
    h = affine_coupling(h, net=mlp(hidden=[8]))
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

CLOUDS = """
model Clouds {
    input x: real[6, 2]
    h = flatten(x)
    h = affine_coupling(h, net=mlp(hidden=[8]))
    h ~ normal()
}
"""

CONDITIONAL = """
model Cond {
    context c: real[3]
    input x: real[2]
    h = affine_coupling(x, net=mlp(hidden=[8]), context=c)
    h ~ normal()
}
"""

# Values that vary from run to run even with the same seed.
TIMINGS = ("seconds", "examples_per_second")
# The trained-model bundle, written beside every checkpoint.
BUNDLE = ("info.json", "model.survae", "weights.safetensors")
CHECKPOINT_AND_BUNDLE = sorted(["checkpoint.pt", *BUNDLE])


@dataclass(frozen=True)
class Run:
    status: int
    out: str
    err: str
    folder: Path

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads((self.folder / "metrics.json").read_text())


@pytest.fixture
def train(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Callable[..., Run]:
    """`train(model_text, *args, out="run")`: survae-train in-process, writing under tmp_path."""

    def run(model_text: str, *args: str | Path, out: str = "run") -> Run:
        model = tmp_path / "model.survae"
        model.write_text(model_text)
        capsys.readouterr()
        status = survae_train.main([str(model), "--out", str(tmp_path / out), *map(str, args)])
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err, tmp_path / out)

    return run


def npy(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    path = tmp_path / name
    np.save(path, array)
    return path


@pytest.fixture
def counts(tmp_path: Path) -> Path:
    """200 examples of int<5>[4]: 180 to train on, 20 held out."""
    rng = np.random.default_rng(0)
    return npy(tmp_path, "counts.npy", np.minimum(rng.poisson(1.5, size=(200, 4)), 4))


@pytest.fixture
def points(tmp_path: Path) -> Path:
    """200 2-D points of two blobs."""
    rng = np.random.default_rng(1)
    centres = np.array([[-2.0, 0.0], [2.0, 0.0]])[rng.integers(0, 2, 200)]
    return npy(tmp_path, "points.npy", (centres + 0.3 * rng.standard_normal((200, 2))).astype(np.float32))


def without_timings(metrics: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metrics.items() if key not in TIMINGS}


def finite_numbers(value: Any) -> list[float]:
    """Every number in a JSON value (flattened)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in finite_numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in finite_numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def test_corners_metrics_checkpoint_and_plots(train: Callable[..., Run]) -> None:
    run = train(FLOW, "--data", "corners", "--max-steps", "30")
    assert run.status == 0, run.err
    metrics = run.metrics
    for key in (
        "model",
        "likelihood",
        "data",
        "epochs",
        "steps",
        "seconds",
        "train",
        "test",
        "parameters",
        "seed",
        "torch",
        "machine",
        "history",
        "plots",
    ):
        assert key in metrics, key
    assert (metrics["model"], metrics["likelihood"], metrics["steps"]) == ("Flow", "exact", 30)
    assert metrics["data"]["name"] == "corners" and metrics["data"]["test"] == "corners test split"
    assert metrics["parameters"] == sum(p.numel() for p in survae_load(run).parameters())
    for split in ("train", "test"):
        assert set(metrics[split]) >= {"log_prob_nats", "bits_per_dim", "examples"}
        assert math.isclose(metrics[split]["bits_per_dim"], -metrics[split]["log_prob_nats"] / (2 * math.log(2)))
    assert "true_log_prob_nats" in metrics["test"]  # corners has a closed-form density
    assert "iw" not in metrics["test"]  # exact: the IW bound would equal log_prob
    assert set(metrics["machine"]) >= {"processor", "cpu_count"}
    assert all(math.isfinite(n) for n in finite_numbers(metrics))
    for plot in ("density.png", "samples.png"):
        assert (run.folder / plot).read_bytes().startswith(b"\x89PNG"), plot
    assert metrics["plots"] == ["density.png", "samples.png"]
    checkpoint = torch.load(run.folder / "checkpoint.pt", weights_only=True)
    assert set(checkpoint) >= {"model", "optimizer", "rng", "state", "config"}
    assert checkpoint["state"]["step"] == 30 and checkpoint["state"]["epoch"] == 0  # 40 steps per epoch
    assert "test log_prob" in run.out


def survae_load(run: Run) -> torch.nn.Module:
    import survae_dsl

    return survae_dsl.load(run.folder.parent / "model.survae")()


def test_same_seed_same_metrics_lower_bound(train: Callable[..., Run], counts: Path) -> None:
    args = ("--data", counts, "--epochs", "2", "--batch-size", "64", "--iw-k", "4")
    first, second = train(DEQUANTIZED, *args, out="a"), train(DEQUANTIZED, *args, out="b")
    other = train(DEQUANTIZED, *args, "--seed", "1", out="c")
    assert first.status == second.status == other.status == 0, first.err
    metrics = first.metrics
    assert metrics["likelihood"] == "lower_bound"
    assert metrics["data"]["train_examples"] == 180 and metrics["data"]["test_examples"] == 20
    assert metrics["steps"] == 6 and metrics["epochs_completed"] == 2 and len(metrics["history"]) == 2
    iw = metrics["test"]["iw"]
    assert iw["k"] == 4 and iw["examples"] == 20
    assert iw["log_prob_nats"] >= iw["elbo_nats"] - 1e-3  # the IW bound is the tighter one
    assert all(math.isfinite(n) for n in finite_numbers(metrics))
    assert without_timings(metrics) == without_timings(second.metrics)
    assert metrics["test"] != other.metrics["test"]


def test_fit_returns_what_the_command_line_writes(train: Callable[..., Run], points: Path, tmp_path: Path) -> None:
    """`fit(TrainConfig(...))`, the Python API, trains as `survae-train` with the same options does:
    the report it returns is the command's metrics.json (same seed, so same figures)."""
    cli = train(FLOW, "--data", points, "--epochs", "1", "--batch-size", "64", "--seed", "2", out="cli")
    assert cli.status == 0, cli.err
    config = TrainConfig(tmp_path / "model.survae", data=points, epochs=1, batch_size=64, seed=2, out=tmp_path / "api")
    report = fit(config)
    expected = cli.metrics
    for key in ("model", "likelihood", "parameters", "steps", "epochs_completed", "data", "plots"):
        assert report[key] == expected[key], key
    for split in ("train", "test"):
        assert report[split]["log_prob_nats"] == expected[split]["log_prob_nats"], split
    assert report["history"] == expected["history"]
    assert without_timings(json.loads(json.dumps(report))) == without_timings(expected)
    assert without_timings(json.loads((tmp_path / "api" / "metrics.json").read_text())) == without_timings(expected)
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig("model.survae", data="corners", epochs=0)


def test_resume_reaches_the_same_result(train: Callable[..., Run], counts: Path) -> None:
    args = ("--data", counts, "--epochs", "3", "--batch-size", "64", "--iw-k", "4")
    whole = train(DEQUANTIZED, *args, out="whole")
    part = train(DEQUANTIZED, *args, "--max-steps", "4", out="split")  # stops inside epoch 2
    assert whole.status == part.status == 0, part.err
    assert part.metrics["steps"] == 4 and part.metrics["epochs_completed"] == 1
    resumed = train(DEQUANTIZED, *args, "--resume", out="split")
    assert resumed.status == 0, resumed.err
    assert "resuming" in resumed.err
    expected, got = without_timings(whole.metrics), without_timings(resumed.metrics)
    assert got["steps"] == 9 and got == expected


def test_resume_refuses_other_options_or_no_checkpoint(train: Callable[..., Run], counts: Path) -> None:
    missing = train(DEQUANTIZED, "--data", counts, "--resume", out="none")
    assert missing.status == 1 and "no checkpoint" in missing.err
    assert train(DEQUANTIZED, "--data", counts, "--max-steps", "1", out="r").status == 0
    other = train(DEQUANTIZED, "--data", counts, "--lr", "0.01", "--resume", out="r")
    assert other.status == 1 and "lr" in other.err and "Traceback" not in other.err
    edited = train(DEQUANTIZED.replace("hidden=[8]", "hidden=[9]"), "--data", counts, "--resume", out="r")
    assert edited.status == 1 and "does not fit the model" in edited.err


def test_compile_trains_the_same_model(train: Callable[..., Run], points: Path) -> None:
    """--compile runs the same steps through torch.compile: on a flow without noise the metrics
    agree with the eager run's up to float32 rounding of the fused kernels."""
    args = ("--data", points, "--epochs", "2", "--batch-size", "64", "--seed", "3")
    eager = train(FLOW, *args, out="eager")
    compiled = train(FLOW, *args, "--compile", out="compiled")
    assert eager.status == compiled.status == 0, compiled.err
    assert compiled.metrics["compile"] is True and eager.metrics["compile"] is False
    assert compiled.metrics["steps"] == eager.metrics["steps"] == 6
    for split in ("train", "test"):
        a, b = eager.metrics[split]["log_prob_nats"], compiled.metrics[split]["log_prob_nats"]
        assert abs(a - b) <= 1e-4 * max(1.0, abs(a)), (split, a, b)
    losses = [[epoch["train_loss_nats"] for epoch in run.metrics["history"]] for run in (eager, compiled)]
    assert losses[0][0] != losses[0][1]  # it trained
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)


def test_compile_failure_is_one_clear_line(
    train: Callable[..., Run], points: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_compiler(fn: Callable[..., Any], **_: Any) -> Callable[..., Any]:
        def compiled(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")

        return compiled

    monkeypatch.setattr(torch, "compile", no_compiler)
    run = train(FLOW, "--data", points, "--epochs", "1", "--compile")
    assert run.status == 1
    assert run.err.strip().splitlines()[-1] == (
        "survae-train: error: torch.compile could not compile the training step "
        "(RuntimeError: InvalidCxxCompiler: No working C++ compiler found); run without --compile"
    )
    assert "Traceback" not in run.err


def test_resume_needs_the_same_compile_option(train: Callable[..., Run], points: Path) -> None:
    args = ("--data", points, "--epochs", "2", "--batch-size", "64")
    assert train(FLOW, *args, "--max-steps", "2", out="r").status == 0
    other = train(FLOW, *args, "--compile", "--resume", out="r")
    assert other.status == 1 and "Traceback" not in other.err
    assert "was made with compile = False, not True" in other.err
    # A checkpoint written before the option existed counts as made without it.
    path = other.folder / "checkpoint.pt"
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["config"]["compile"]
    torch.save(checkpoint, path)
    resumed = train(FLOW, *args, "--resume", out="r")
    assert resumed.status == 0, resumed.err
    assert resumed.metrics["steps"] == 6


@pytest.mark.parametrize(
    ("model", "array", "message"),
    [
        (FLOW, np.zeros((50, 3), dtype=np.float32), "shape (50, 3)"),
        (DEQUANTIZED, np.full((50, 4), 5), "0..4"),
        (FLOW, np.where(np.arange(100).reshape(50, 2) == 7, np.nan, 0.0).astype(np.float32), "NaN"),
    ],
    ids=["wrong-shape", "value-outside-int-K", "nan"],
)
def test_bad_data_is_refused_before_training(
    train: Callable[..., Run], tmp_path: Path, model: str, array: np.ndarray, message: str
) -> None:
    run = train(model, "--data", npy(tmp_path, "bad.npy", array))
    assert run.status == 1
    assert run.err.startswith("survae-train: error: ") and run.err.count("\n") == 1, run.err
    assert message in run.err
    assert not (run.folder / "checkpoint.pt").exists()


def test_bad_test_file_and_unknown_data_set(train: Callable[..., Run], points: Path, tmp_path: Path) -> None:
    bad_test = train(FLOW, "--data", points, "--test", npy(tmp_path, "t.npy", np.zeros((5, 2, 1))))
    assert bad_test.status == 1 and "held-out data" in bad_test.err
    unknown = train(FLOW, "--data", "cornerz")
    assert unknown.status == 1 and "unknown data set 'cornerz'" in unknown.err and "corners" in unknown.err


def test_conditional_or_broken_model_is_refused(train: Callable[..., Run], points: Path) -> None:
    run = train(CONDITIONAL, "--data", points)
    assert run.status == 1 and "conditioned on `c`" in run.err and "Traceback" not in run.err
    broken = train(FLOW.replace("normal()", "nromal()"), "--data", points)
    assert broken.status == 1 and "E201" in broken.err and "does not compile (1 error)" in broken.err
    several = train(FLOW + CLOUDS, "--data", points)
    assert several.status == 1 and "several models" in several.err and "pass --model NAME" in several.err


def test_non_finite_loss_stops_naming_step_and_layer(
    train: Callable[..., Run], points: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the 5th training step on, every coupling outputs NaN: the run stops at step 5
    (epoch 2: 3 steps per epoch) and names the first coupling and its line."""
    from survae_dsl.nn import AffineCoupling

    original = AffineCoupling.forward
    training_calls = [0]

    def forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        z, ldj = original(self, x, *args, **kwargs)
        if torch.is_grad_enabled():
            training_calls[0] += 1
        if training_calls[0] > 8:  # two couplings per step
            z = z * float("nan")
        return z, ldj

    monkeypatch.setattr(AffineCoupling, "forward", forward)
    run = train(FLOW, "--data", points, "--epochs", "3", "--batch-size", "64")
    assert run.status == 1
    assert run.err.count("survae-train: error: ") == 1 and "Traceback" not in run.err
    assert "at step 5 (epoch 2, batch 2)" in run.err
    assert "layer `affine_coupling_1` (" in run.err and "model.survae:4)" in run.err
    assert "is left as it was" in run.err
    checkpoint = torch.load(run.folder / "checkpoint.pt", weights_only=True)
    assert (checkpoint["state"]["epoch"], checkpoint["state"]["step"]) == (1, 3)
    assert not (run.folder / "metrics.json").exists()


def test_interrupted_checkpoint_write_leaves_the_previous_one(
    train: Callable[..., Run], points: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second checkpoint's rename is interrupted: the first stays whole, no temp file is left."""
    import survae_dsl.compiler.core.files as files

    real_replace = files.os.replace
    calls = [0]

    def replace(source: Any, target: Any) -> None:
        calls[0] += Path(target).name == "checkpoint.pt"
        if calls[0] == 2:
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", replace)
    run = train(FLOW, "--data", points, "--epochs", "3", "--batch-size", "64")
    assert run.status == 130
    assert sorted(p.name for p in run.folder.iterdir()) == CHECKPOINT_AND_BUNDLE
    checkpoint = torch.load(run.folder / "checkpoint.pt", weights_only=True)
    assert checkpoint["state"]["epoch"] == 1


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_python() -> Iterator[None]:
    """Run every test with Python's own SIGINT handler: a test run started in the background
    (`make test &`, nohup) inherits SIGINT ignored, which survae-train rightly leaves alone, and
    the Ctrl-C tests would then see no Ctrl-C."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def signals_during_steps(monkeypatch: pytest.MonkeyPatch, signals: dict[int, int]) -> None:
    """Send the process ``signals[k]`` SIGINTs as training step k starts (as if Ctrl-C were pressed)."""
    real_step = loop.take_step

    def step(trainer: Any, batch: dict[str, torch.Tensor], *args: Any) -> tuple[float, int | None]:
        for _ in range(signals.get(trainer.state.step + 1, 0)):
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(trainer, batch, *args)

    monkeypatch.setattr(loop, "take_step", step)


def test_ctrl_c_finishes_the_step_writes_a_checkpoint_and_resumes(
    train: Callable[..., Run], counts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during step 5 (epoch 2, 3 steps per epoch): step 5 is finished and checkpointed,
    exit 130 with the command to continue, which reaches the uninterrupted result."""
    args = ("--data", counts, "--epochs", "3", "--batch-size", "64", "--iw-k", "4")
    whole = train(DEQUANTIZED, *args, out="whole")
    signals_during_steps(monkeypatch, {5: 1})
    stopped = train(DEQUANTIZED, *args, out="split")
    assert stopped.status == 130, stopped.err
    assert "Traceback" not in stopped.err
    assert "survae-train: stopped by Ctrl-C at step 5 (batch 2 of 3 in epoch 2)" in stopped.err
    assert stopped.err.rstrip().endswith(
        f"--out {stopped.folder} --data {counts} --epochs 3 --batch-size 64 --iw-k 4 --resume"
    )
    state = torch.load(stopped.folder / "checkpoint.pt", weights_only=True)["state"]
    assert (state["epoch"], state["step"], state["batch_in_epoch"]) == (1, 5, 2)
    assert sorted(p.name for p in stopped.folder.iterdir()) == CHECKPOINT_AND_BUNDLE
    monkeypatch.undo()
    resumed = train(DEQUANTIZED, *args, "--resume", out="split")
    assert resumed.status == 0, resumed.err
    assert without_timings(resumed.metrics) == without_timings(whole.metrics)


def test_second_ctrl_c_stops_at_once_keeping_the_last_checkpoint(
    train: Callable[..., Run], counts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signals_during_steps(monkeypatch, {5: 2})
    run = train(DEQUANTIZED, "--data", counts, "--epochs", "3", "--batch-size", "64")
    assert run.status == 130 and "Traceback" not in run.err
    assert f"survae-train: interrupted; {run.folder / 'checkpoint.pt'} and earlier outputs are left" in run.err
    assert "--resume)" in run.err
    state = torch.load(run.folder / "checkpoint.pt", weights_only=True)["state"]
    assert (state["epoch"], state["step"]) == (1, 3)  # the end of epoch 1: step 5 was not finished


def test_ctrl_c_ignored_by_the_parent_stays_ignored(
    train: Callable[..., Run], counts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started with SIGINT ignored (`cmd &` in a shell script), survae-train does not take it over."""
    signals_during_steps(monkeypatch, {2: 1})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run = train(DEQUANTIZED, "--data", counts, "--epochs", "2", "--batch-size", "64", "--iw-k", "2")
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert run.status == 0, run.err
    assert run.metrics["steps"] == 6


@pytest.mark.parametrize(
    ("model", "array"),
    [
        (IMAGES, np.random.default_rng(2).integers(0, 5, size=(40, 1, 4, 4))),
        (CLOUDS, np.random.default_rng(3).standard_normal((40, 6, 2)).astype(np.float32)),
    ],
    ids=["images", "point-clouds"],
)
def test_sample_plots_of_images_and_point_clouds(
    train: Callable[..., Run], tmp_path: Path, model: str, array: np.ndarray
) -> None:
    run = train(model, "--data", npy(tmp_path, "d.npy", array), "--epochs", "1", "--iw-k", "2")
    assert run.status == 0, run.err
    assert run.metrics["plots"] == ["samples.png"]
    assert (run.folder / "samples.png").read_bytes().startswith(b"\x89PNG")


# ------------------------------------------------------------------ killed and interrupted runs
#
# survae-train as a separate process (`python -m survae_dsl.train`, what the `survae-train` script
# runs), stopped as soon as its first checkpoint (the end of epoch 1 of 5) appears: SIGKILL loses
# the epoch in progress, Ctrl-C and SIGTERM stop after the step in progress. An epoch is 62 steps
# (a few tenths of a second), so the signal lands during training unless the test process is
# starved for about a second (it looks every 5 ms). The data are 3-D, so that no plots are drawn
# (they take longer than the training). The runs use one thread, so that they compare.

FLOW_3D = """
model Flow3 {
    input x: real[3]
    h = affine_coupling(x, net=mlp(hidden=[16]))
    h = reverse(h)
    h = affine_coupling(h, net=mlp(hidden=[16]))
    h ~ normal()
}
"""
KILL_OPTIONS = ("--epochs", "5", "--batch-size", "64", "--seed", "3")
KILL_EPOCHS, KILL_PER_EPOCH = 5, 62  # 3,960 training examples (4,400 less 10% held out)


@dataclass
class Uninterrupted:
    """The model and data the kill tests train, and a run of them that nobody stops."""

    model: Path
    data: Path
    folder: Path
    process: subprocess.Popen[str] | None = None

    def arguments(self, out: Path) -> list[str]:
        return [str(self.model), "--data", str(self.data), "--out", str(out), *KILL_OPTIONS]

    def start(self, out: Path, *more: str) -> subprocess.Popen[str]:
        """survae-train in a process of its own, with Ctrl-C delivered as in a terminal (a shell
        script's `cmd &` would start it with SIGINT ignored, and survae-train leaves that so)."""
        return subprocess.Popen(
            [sys.executable, "-m", "survae_dsl.train", *self.arguments(out), *more],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    @functools.cached_property
    def metrics(self) -> dict[str, Any]:
        assert self.process is not None
        _, err = finish(self.process)
        assert self.process.returncode == 0, err
        return json.loads((self.folder / "metrics.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uninterrupted]:
    """Started at once, the uninterrupted run goes on alongside the first test that needs it;
    `.metrics` waits for it."""
    folder = tmp_path_factory.mktemp("kill")
    model = folder / "model.survae"
    model.write_text(FLOW_3D)
    rng = np.random.default_rng(4)
    data = npy(folder, "data.npy", (rng.standard_normal((4_400, 3)) * [1.0, 2.0, 0.5]).astype(np.float32))
    run = Uninterrupted(model, data, folder / "whole")
    run.process = run.start(run.folder)
    yield run
    if run.process.poll() is None:
        run.process.kill()
        run.process.communicate()


def finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"survae-train did not finish in 120 s:\n{err}")


def wait_for_checkpoint(process: subprocess.Popen[str], path: Path) -> None:
    """Return as soon as ``path`` exists (written by rename, so whole); fail if the process ends first."""
    deadline = time.monotonic() + 60
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"survae-train ended ({process.returncode}) before its first checkpoint:\n{finish(process)[1]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no checkpoint after 60 s:\n{finish(process)[1]}")
        time.sleep(0.005)


def test_killed_run_keeps_its_files_and_resumes_to_the_same_result(
    uninterrupted: Uninterrupted, tmp_path: Path
) -> None:
    """SIGKILL once the first checkpoint is written: the checkpoint is a whole one (an epoch's end),
    the outputs an earlier run left in the folder are untouched, a temporary file a kill during a
    write would leave is removed, and --resume replays the lost epoch to the uninterrupted result."""
    out = tmp_path / "run"
    out.mkdir()
    earlier = {"metrics.json": b'{"from": "an earlier run"}\n', "density.png": b"\x89PNG", "samples.png": b"\x89PNG"}
    for name, content in earlier.items():
        (out / name).write_bytes(content)
    process = uninterrupted.start(out)
    wait_for_checkpoint(process, out / "checkpoint.pt")
    process.kill()
    _, err = finish(process)
    assert process.returncode == -signal.SIGKILL, err

    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    state = checkpoint["state"]
    assert 1 <= state["epoch"] < KILL_EPOCHS, f"killed after training ended (the machine stalled?):\n{err}"
    assert (state["step"], state["batch_in_epoch"]) == (state["epoch"] * KILL_PER_EPOCH, 0)
    assert [h["epoch"] for h in state["history"]] == list(range(1, state["epoch"] + 1))
    assert set(checkpoint) >= {"model", "optimizer", "rng", "config"}
    for name, content in earlier.items():
        assert (out / name).read_bytes() == content, name
    others = {p.name for p in out.iterdir()} - {"checkpoint.pt", *BUNDLE, *earlier}
    written = "|".join(re.escape(name) for name in ("checkpoint.pt", *BUNDLE))
    assert all(re.fullmatch(rf"\.({written})\.\w+\.tmp", name) for name in others), others

    # What a kill in the middle of writing the next checkpoint leaves: a truncated temporary file.
    (out / ".checkpoint.pt.k1ll3d_x.tmp").write_bytes((out / "checkpoint.pt").read_bytes()[:1000])
    resumed = uninterrupted.start(out, "--resume")
    _, err = finish(resumed)
    assert resumed.returncode == 0, err
    assert f"resuming from {out / 'checkpoint.pt'}: epoch {state['epoch']}, step {state['step']}" in err
    assert ".checkpoint.pt.k1ll3d_x.tmp" in err and "left by an interrupted run" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["checkpoint.pt", *BUNDLE, "density.png", "metrics.json", "samples.png"]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["epochs_completed"], metrics["steps"]) == (KILL_EPOCHS, KILL_EPOCHS * KILL_PER_EPOCH)
    assert all(math.isfinite(n) for n in finite_numbers(metrics))
    assert without_timings(metrics) == without_timings(uninterrupted.metrics)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_at_a_step_with_a_checkpoint_and_says_how_to_resume(
    uninterrupted: Uninterrupted, tmp_path: Path, signum: int
) -> None:
    """Ctrl-C (or SIGTERM) during epoch 2: the step in progress finishes, the checkpoint is written
    there (mid-epoch), the exit status is 130 (143), no traceback; the printed command resumes and
    reaches the uninterrupted result."""
    out = tmp_path / "run"
    process = uninterrupted.start(out)
    wait_for_checkpoint(process, out / "checkpoint.pt")
    process.send_signal(signum)
    _, err = finish(process)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err

    state = torch.load(out / "checkpoint.pt", weights_only=True)["state"]
    assert KILL_PER_EPOCH <= state["step"] < KILL_EPOCHS * KILL_PER_EPOCH, f"stopped after training ended:\n{err}"
    assert state["step"] == state["epoch"] * KILL_PER_EPOCH + state["batch_in_epoch"]
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert f"survae-train: stopped by {name} at step {state['step']} (" in err, err
    assert sorted(p.name for p in out.iterdir()) == CHECKPOINT_AND_BUNDLE  # no metrics.json, no temporary file

    hint = [line for line in err.splitlines() if line.startswith("survae-train: to continue: ")]
    assert len(hint) == 1, err
    command = shlex.split(hint[0].removeprefix("survae-train: to continue: "))
    assert command == ["survae-train", *uninterrupted.arguments(out), "--resume"]
    resumed = subprocess.run(
        [sys.executable, "-m", "survae_dsl.train", *command[1:]],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {out / 'checkpoint.pt'}: epoch {state['epoch']}, step {state['step']}" in resumed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["epochs_completed"], metrics["steps"]) == (KILL_EPOCHS, KILL_EPOCHS * KILL_PER_EPOCH)
    assert all(math.isfinite(n) for n in finite_numbers(metrics))
    assert without_timings(metrics) == without_timings(uninterrupted.metrics)
