"""The `survae-train` command line: options → `TrainConfig`, `fit`, and exit statuses 0/1/2/130/143."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from dataclasses import fields
from typing import Any

from .config import DECAYS, DEVICE, DTYPES, PRECISIONS, TrainConfig
from .errors import Interrupted, Stopped, TrainError
from .evaluation import IW_EXAMPLES
from .fit import fit


def build_parser() -> argparse.ArgumentParser:
    """The command line of `survae-train`; its defaults are `TrainConfig`'s."""
    parser = argparse.ArgumentParser(
        prog="survae-train",
        description="Train a .survae model by maximum likelihood, evaluate it on held-out data and plot it.",
        epilog=(
            "Ctrl-C (or SIGTERM) stops training after the current step, writes OUT/checkpoint.pt there, "
            "prints the command to continue and exits with 130 (143 for SIGTERM); a second Ctrl-C stops at once. "
            "A killed run keeps its last checkpoint (written after every epoch) and any earlier outputs whole: "
            "every file is written to a temporary file and renamed. Run the same command with --resume to "
            "continue; it reaches the same result as a run that was never stopped."
        ),
    )
    default = {field.name: field.default for field in fields(TrainConfig)}
    parser.add_argument("model_file", metavar="MODEL.survae", help="the model file")
    parser.add_argument(
        "--data",
        required=True,
        metavar="NAME|FILE",
        help="a bundled data set, a .npy array (memory-mapped), a .npz of one array per input and context name, "
        "or a folder of images",
    )
    parser.add_argument("--model", metavar="NAME", help="the model to train when the file holds several")
    parser.add_argument(
        "--epochs", type=_positive(int), default=default["epochs"], help="passes over the training data (default 20)"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive(int),
        default=default["batch_size"],
        help="examples per step, all processes together: under torchrun each of N takes about 1/N (default 256)",
    )
    parser.add_argument(
        "--lr", type=_positive(float), default=default["lr"], help="Adam's learning rate (default 1e-3)"
    )
    parser.add_argument("--seed", type=int, default=default["seed"], help="weights, batch order and noise (default 0)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default out/train/MODEL-DATA)")
    parser.add_argument(
        "--iw-k",
        type=_non_negative_int,
        default=default["iw_k"],
        help=f"importance samples of the IW bound for lower-bound models, on {IW_EXAMPLES} test examples; 0 skips it",
    )
    parser.add_argument(
        "--test", metavar="FILE", help="held-out data (default: the test split, or 10%% of the --data file)"
    )
    parser.add_argument(
        "--context", metavar="FILE.npy", help="the context of a one-context model, when --data is not an .npz"
    )
    parser.add_argument("--test-context", metavar="FILE.npy", help="the context of the --test examples")
    parser.add_argument("--max-steps", type=_positive(int), help="stop after this many steps in all")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the training step with torch.compile (inductor; needs a C++ compiler): "
        "faster steps after a first one that takes seconds to a minute to compile",
    )
    parser.add_argument(
        "--device",
        type=_device,
        default=default["device"],
        help="auto (CUDA when available), cpu, cuda or cuda:N; under torchrun, cuda is each process's own GPU",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=default["precision"],
        help="bf16 runs the nets under autocast; log-determinants and densities stay float32 (default fp32)",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default=default["dtype"],
        help="the float dtype of the parameters and densities (default float32)",
    )
    parser.add_argument(
        "--workers", type=_non_negative_int, default=default["workers"], help="data-loading processes (default 0)"
    )
    parser.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="write TensorBoard event files there: loss, bits/dim, learning rate, gradient norm, sample grids",
    )
    parser.add_argument(
        "--warmup", type=_non_negative_int, default=default["warmup"], help="linear warm-up steps (default 0)"
    )
    parser.add_argument(
        "--decay",
        choices=DECAYS,
        default=default["decay"],
        help="after the warm-up: exponential (×gamma per epoch), cosine (to 0 at the last epoch's end), or none",
    )
    parser.add_argument(
        "--gamma", type=_fraction, default=default["gamma"], help="exponential decay's factor per epoch (default 1)"
    )
    parser.add_argument(
        "--clip-grad", type=_positive(float), metavar="NORM", help="clip the gradient's global norm to NORM"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt (after Ctrl-C, a kill or --max-steps); the other options must match",
    )
    return parser


def parse_config(argv: list[str]) -> TrainConfig:
    """The `TrainConfig` of a command line (argparse exits with 2 on bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return TrainConfig(**{field.name: getattr(args, field.name) for field in fields(TrainConfig)})
    except ValueError as exc:  # a combination of options (each one parsed)
        parser.error(str(exc).replace("TrainConfig.", "--").replace("_", "-"))


def main(argv: list[str] | None = None) -> int:
    """Run `survae-train`; returns the exit status (argparse exits with 2 on bad usage)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    config = parse_config(argv)
    rank = _rank()
    # Under torchrun every process speaks; the others than rank 0 say which they are.
    prog = "survae-train" if rank == 0 else f"survae-train (process {rank})"
    try:
        fit(config)
    except TrainError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except Stopped as stopped:
        if rank == 0:
            print(f"survae-train: {stopped}", file=sys.stderr)
            print(f"survae-train: to continue: {resume_command(argv)}", file=sys.stderr)
        return 128 + stopped.signum
    except KeyboardInterrupt as interrupt:  # outside training, or a second Ctrl-C: stopped at once
        checkpoint = interrupt.checkpoint if isinstance(interrupt, Interrupted) else None
        if checkpoint is not None and checkpoint.is_file():
            print(
                f"survae-train: interrupted; {checkpoint} and earlier outputs are left as they were "
                f"(to continue: {resume_command(argv)})",
                file=sys.stderr,
            )
        else:
            print("survae-train: interrupted before the first checkpoint", file=sys.stderr)
        return 130
    return 0


def resume_command(argv: list[str]) -> str:
    """The command line that continues this run: the same arguments with --resume. Under
    torchrun on one machine, torchrun with as many processes; on several machines torchrun's
    options are not known here, and the line says to repeat them."""
    command = shlex.join(["survae-train", *argv, *([] if "--resume" in argv else ["--resume"])])
    world, local = os.environ.get("WORLD_SIZE", "1"), os.environ.get("LOCAL_WORLD_SIZE")
    if world == "1" or local is None:
        return command
    if local == world:
        return f"torchrun --nproc-per-node {local} $(which survae-train) {command.removeprefix('survae-train ')}"
    return f"torchrun (with this run's options) $(which survae-train) {command.removeprefix('survae-train ')}"


def _rank() -> int:
    """This process's RANK under torchrun, else 0."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _device(text: str) -> str:
    """An argparse type: auto, cpu, cuda or cuda:N."""
    if not DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def _fraction(text: str) -> float:
    """An argparse type: a float in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _positive(kind: type) -> Any:
    """An argparse type: ``kind`` (int or float) > 0."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _non_negative_int(text: str) -> int:
    """An argparse type: an int ≥ 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value
