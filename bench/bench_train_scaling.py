"""Data-parallel scaling of `survae-train`: examples/s of 1 process against 2 (torchrun, gloo, CPU).

The model (a coupling flow on 16-D data with 256-wide nets: 288,864 parameters) is big enough
that a step's compute outweighs the gradient all-reduce. Each configuration is a real
`survae-train` run in fresh processes (``python -m torch.distributed.run --standalone`` for 2),
with one torch thread per process, and the figure is its metrics.json ``examples_per_second``
(training time only; the global batch is the same, 256, in every configuration), the median of
ROUNDS runs taken in turns. One process
with two threads is shown too: on a machine of two cores, it is what two processes compete with.
On a lent GPU, ``--device cuda`` adds one GPU process (rerun with ``--cuda``).

No target: the ratio depends on the machine (cores, memory bandwidth, other load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import ROOT, Row, machine_lines, print_summary

MODEL = """
model Scaling {
    input x: real[16]
    h = x
    repeat 4 {
        h = affine_coupling(h, net=mlp(hidden=[256, 256]))
        h = reverse(h)
    }
    h ~ normal()
}
"""
EXAMPLES, BATCH, STEPS = 40_000, 256, 120
ROUNDS = 3  # each configuration this many times, taking turns; the median is reported


def train(folder: Path, processes: int, threads: int, device: str = "cpu") -> float:
    """examples/s of one run: ``processes`` processes of ``threads`` torch threads each."""
    out = folder / f"run-{processes}x{threads}-{device}"
    options = ["--data", str(folder / "data.npy"), "--out", str(out), "--batch-size", str(BATCH)]
    options += ["--max-steps", str(STEPS), "--epochs", "1", "--device", device, "--iw-k", "0"]
    program = ["-m", "survae_dsl.train", str(folder / "model.survae"), *options]
    if processes > 1:
        program = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", *program]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, *program], env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"survae-train failed ({processes} processes):\n{done.stderr[-2000:]}")
    rate: float = json.loads((out / "metrics.json").read_text())["examples_per_second"]
    return rate


def run(rows: list[Row], cuda: bool = False) -> None:
    print("\n== data-parallel training: 1 vs 2 processes (torchrun, gloo, CPU) ==", flush=True)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "model.survae").write_text(MODEL)
        rng = np.random.default_rng(0)
        np.save(folder / "data.npy", rng.standard_normal((EXAMPLES, 16)).astype(np.float32))
        configurations = {"one": (1, 1), "two": (2, 1), "threads": (1, 2)}
        rates: dict[str, list[float]] = {name: [] for name in configurations}
        for round_ in range(ROUNDS):  # taking turns: a change of load hits every configuration alike
            names = list(configurations) if round_ % 2 == 0 else list(reversed(configurations))
            for name in names:
                rates[name].append(train(folder, *configurations[name]))
        one, two, threads = (statistics.median(rates[name]) for name in ("one", "two", "threads"))
        print(f"{'configuration':<34}{'examples/s':>12}{'vs 1 process':>14}")
        for label, rate in (
            ("1 process x 1 thread", one),
            ("2 processes x 1 thread (torchrun)", two),
            ("1 process x 2 threads", threads),
        ):
            print(f"{label:<34}{rate:>12,.0f}{rate / one:>13.2f}x")
        rows.append(Row("train: 2 processes / 1 (gloo, CPU)", f"{two / one:.2f}x ({one:,.0f} -> {two:,.0f} ex/s)"))
        if cuda:
            gpu = train(folder, 1, 1, device="cuda")
            print(f"{'1 process on the GPU':<34}{gpu:>12,.0f}{gpu / one:>13.2f}x")
            rows.append(Row("train: 1 GPU process / 1 CPU process", f"{gpu / one:.2f}x ({gpu:,.0f} ex/s)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", action="store_true", help="also train on the GPU (needs CUDA)")
    args = parser.parse_args()
    print("\n".join(machine_lines()))
    rows: list[Row] = []
    run(rows, cuda=args.cuda)
    print()
    print_summary(rows)


if __name__ == "__main__":
    main()
