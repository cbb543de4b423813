"""`survae-train` under torchrun: two CPU processes (gloo) train the model one process trains.

Real processes, started as a user starts them (`python -m torch.distributed.run --standalone
--nproc-per-node 2 -m survae_dsl.train ...`), on a tiny exact flow in float64 with an actnorm
(whose data-dependent initialisation must see the whole global batch) and 3-D data (no plots).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # about 10 processes of a few seconds each

FLOW = """
model Flow3 {
    input x: real[3]
    h = actnorm(x)
    h = affine_coupling(h, net=mlp(hidden=[16]))
    h = reverse(h)
    h = affine_coupling(h, net=mlp(hidden=[16]))
    h ~ normal()
}
"""
# 200 examples: 180 to train on, 20 held out. Global batches of 179 and 1 (two steps per epoch):
# 90 and 89 examples in the two processes, then 1 and none (process 1 takes part with weight 0).
OPTIONS = ("--epochs", "3", "--batch-size", "179", "--seed", "5", "--dtype", "float64", "--lr", "0.01")
OPTIONS += ("--warmup", "2", "--decay", "cosine", "--clip-grad", "50")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ddp")
    model = folder / "model.survae"
    model.write_text(FLOW)
    rng = np.random.default_rng(7)
    data = folder / "data.npy"
    np.save(data, rng.standard_normal((200, 3)) * [1.0, 3.0, 0.5] + [0.0, 2.0, -1.0])
    return model, data


def command(processes: int, model: Path, data: Path, out: Path, *more: str) -> list[str]:
    """survae-train in one plain process, or under torchrun with ``processes`` processes."""
    train = ["-m", "survae_dsl.train", str(model), "--data", str(data), "--out", str(out), *OPTIONS, *more]
    if processes == 1:
        return [sys.executable, *train]
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    return [sys.executable, *launcher, *train]


def run(processes: int, model: Path, data: Path, out: Path, *more: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command(processes, model, data, out, *more), env=ENV, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def metrics(out: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return result


def assert_same_curve(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """The same loss curve and final figures, to float64 rounding: sums over processes round
    differently from one sum, and Adam's division by √v̂ magnifies that for gradient entries
    near 0 (after a few steps the figures agree to about 1e-9 relative)."""
    assert [h["step"] for h in got["history"]] == [h["step"] for h in expected["history"]]
    for mine, theirs in zip(got["history"], expected["history"], strict=True):
        for key in ("train_loss_nats", "test_log_prob_nats", "grad_norm", "lr"):
            assert math.isclose(mine[key], theirs[key], rel_tol=1e-7, abs_tol=1e-12), (key, mine, theirs)
    for split in ("train", "test"):
        assert math.isclose(got[split]["log_prob_nats"], expected[split]["log_prob_nats"], rel_tol=1e-7)


@pytest.fixture(scope="module")
def one_process(files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The run of one plain process: its stdout and metrics."""
    model, data = files
    out = tmp_path_factory.mktemp("one")
    done = run(1, model, data, out)
    return done.stdout, metrics(out)


def test_two_processes_give_the_curve_of_one(
    files: tuple[Path, Path], one_process: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Same global batches, each process on its share, gradients averaged by DDP: the loss curve,
    gradient norms and final figures of one process, to float64 rounding; rank 0 alone writes."""
    model, data = files
    two = run(2, model, data, tmp_path / "two")
    (one_stdout, single), double = one_process, metrics(tmp_path / "two")
    assert (single["world_size"], double["world_size"]) == (1, 2)
    assert double["steps"] == single["steps"] == 6 and double["dtype"] == "float64"
    assert double["schedule"] == {"warmup": 2, "decay": "cosine", "gamma": 1.0, "total_steps": 6}
    assert_same_curve(double, single)
    assert single["history"][0]["train_loss_nats"] != single["history"][-1]["train_loss_nats"]  # it trained
    # One summary, from rank 0; the other process printed nothing of its own.
    assert two.stdout.count("test log_prob") == 1 and one_stdout.count("test log_prob") == 1
    checkpoint = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    assert checkpoint["config"]["world_size"] == 2 and checkpoint["state"]["step"] == 6
    names = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert names == ["checkpoint.pt", "info.json", "metrics.json", "model.survae", "weights.safetensors"]


def test_resume_with_another_number_of_processes(
    files: tuple[Path, Path], one_process: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Two processes stop inside epoch 2 (--max-steps 3); one process continues from their
    checkpoint and reaches what one process reaches without a stop (the batch order does not
    depend on the number of processes; the noise-free model makes the rest equal)."""
    model, data = files
    run(2, model, data, tmp_path / "split", "--max-steps", "3")
    assert metrics(tmp_path / "split")["steps"] == 3
    resumed = run(1, model, data, tmp_path / "split", "--resume")
    assert "resuming from" in resumed.stderr and "written by 2 processes, continued by 1" in resumed.stderr
    got, expected = metrics(tmp_path / "split"), one_process[1]
    assert got["world_size"] == 1 and got["steps"] == 6
    assert_same_curve(got, expected)


def worker_pids(launcher: int) -> dict[int, int]:
    """RANK → pid of the workers that torchrun (process ``launcher``) started."""
    found: dict[int, int] = {}
    for task in Path(f"/proc/{launcher}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            ranks = [entry[5:] for entry in environ if entry.startswith(b"RANK=")]
            if ranks:
                found[int(ranks[0])] = int(child)
    return found


def test_killing_one_process_stops_the_run_keeping_the_checkpoint(files: tuple[Path, Path], tmp_path: Path) -> None:
    """SIGKILL of rank 1 once the first checkpoint exists: rank 0 stops with one line (exit 1,
    torchrun non-zero), the checkpoint on disk is a whole one, and it resumes in one process."""
    model, data = files
    rng = np.random.default_rng(8)
    big = tmp_path / "big.npy"
    np.save(big, rng.standard_normal((4_000, 3)))
    out = tmp_path / "run"
    many = ("--epochs", "200", "--batch-size", "16")  # 225 steps an epoch: far from done when killed
    process = subprocess.Popen(
        command(2, model, big, out, *many), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.pt").exists():
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        os.kill(worker_pids(process.pid)[1], signal.SIGKILL)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    errors = [line for line in err.splitlines() if line.startswith("survae-train: error: ")]
    assert len(errors) == 1 and "process 0 of 2: another process of the run stopped" in errors[0], err[-3000:]
    assert errors[0].endswith(f"the checkpoint {out / 'checkpoint.pt'} is left as it was")
    assert "[rank0]: Traceback" not in err
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    state = checkpoint["state"]
    assert state["epoch"] >= 1 and state["step"] == state["epoch"] * 225 + state["batch_in_epoch"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    resumed = run(1, model, big, out, *many, "--resume", "--max-steps", str(state["step"] + 3))
    assert f"resuming from {out / 'checkpoint.pt'}: epoch {state['epoch']}, step {state['step']}" in resumed.stderr
    assert metrics(out)["steps"] == state["step"] + 3


def test_ctrl_c_stops_every_process_at_one_step(files: tuple[Path, Path], tmp_path: Path) -> None:
    """Ctrl-C to torchrun (which forwards it to its workers): both processes stop after the same
    step, rank 0 writes the checkpoint there and says so once, and the hint runs torchrun again."""
    model, data = files
    out = tmp_path / "run"
    process = subprocess.Popen(
        command(2, model, data, out, "--epochs", "400"),
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.pt").exists():
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        workers = worker_pids(process.pid)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert len(workers) == 2
    state = torch.load(out / "checkpoint.pt", weights_only=True)["state"]
    assert 2 <= state["step"] < 400 * 2 and state["step"] == 2 * state["epoch"] + state["batch_in_epoch"]
    stopped = [line for line in err.splitlines() if line.startswith("survae-train: stopped by Ctrl-C")]
    assert len(stopped) == 1 and f"at step {state['step']} (" in stopped[0], err[-3000:]
    assert "survae-train: to continue: torchrun --nproc-per-node 2 $(which survae-train) " in err
    # torchrun reports its own SIGINT with a traceback of its own; the workers print none.
    assert "[rank0]: Traceback" not in err and "[rank1]: Traceback" not in err
