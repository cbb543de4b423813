"""`survae-train`: train a `.survae` model by maximum likelihood, evaluate it, plot it.

    survae-train MODEL.survae --data NAME|FILE.npy [--model NAME] [--epochs 20]
        [--batch-size 256] [--lr 1e-3] [--seed 0] [--out DIR] [--iw-k 100]
        [--test FILE.npy] [--max-steps N] [--compile] [--resume]

What it does, in order:

1. compiles the model (`survae_dsl.load`); a model with contexts or several inputs is refused;
2. loads the data (a set of `survae_dsl.data` or a `.npy` file) and the held-out data (the
   set's test split, `--test FILE.npy`, or 10% of FILE.npy picked by a fixed shuffle that
   does not depend on `--seed`), and refuses data that does not fit the model's input type
   (shape, values outside `int<K>`, NaN) before any training;
3. trains with Adam in float32 on the CPU, one tqdm bar per epoch on stderr, after
   `model.initialize(first batch)`; `--max-steps` caps the total number of steps; `--compile`
   compiles the step (the loss with its backward, and Adam's update) with `torch.compile`;
4. checkpoints atomically to OUT/checkpoint.pt after every epoch and wherever training stops
   (`--max-steps`, Ctrl-C, SIGTERM): model, optimizer, epoch, step, RNG states, metrics so far;
   `--resume` continues from it and reaches the same final metrics as an uninterrupted run;
5. evaluates on the train (at most `TRAIN_EVAL_EXAMPLES` examples) and held-out data: mean
   log_prob in nats and bits/dim; for lower-bound models also `iw_log_prob` with k=`--iw-k` on
   the first `IW_EXAMPLES` held-out examples; the true log-likelihood when the data set has a
   closed-form density;
6. writes OUT/metrics.json and plots (`density.png` and `samples.png` for 2-D data,
   `samples.png` for images and point clouds).

Determinism: `--seed` fixes the initial weights, the batch order (a `torch.Generator`) and every
noise draw during training; evaluation and plots draw from their own seeded streams. Two runs
with the same options give the same metrics (all but the timings).

A non-finite loss or gradient stops the run with the step and, where it can be found, the
first layer whose output (or parameter) is non-finite; the last checkpoint is left as it was.

Interruptions: Ctrl-C (SIGINT) or SIGTERM during training finishes the current step, writes the
checkpoint there (mid-epoch: the epoch's batch order, position and loss so far are in it), prints
the command that continues the run and exits with 130 (SIGINT) or 143 (SIGTERM), no traceback; a
second Ctrl-C stops at once, leaving the last checkpoint as it was. A run that is killed (SIGKILL,
a crash, a power cut) loses only the work since its last checkpoint: every file is written to a
temporary file and renamed, so checkpoint.pt, metrics.json and the plots are the previous complete
version or absent, never truncated; a temporary file a kill leaves behind is removed by the next
run in OUT. `--resume` with the same options then replays from the checkpoint exactly (same batch
order and noise), reaching the same metrics as a run that was never stopped.

Exit status: 0 success; 1 a problem with the model, the data, the files or the training
(one line on stderr: `survae-train: error: ...`); 2 bad command-line usage; 130 interrupted
(Ctrl-C); 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import io
import json
import logging
import math
import os
import platform
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["IW_EXAMPLES", "TRAIN_EVAL_EXAMPLES", "main"]

# `iw_log_prob` (k forward passes per example) runs on the first IW_EXAMPLES held-out examples.
IW_EXAMPLES = 500
# Train-set metrics are computed on at most this many training examples (the first ones).
TRAIN_EVAL_EXAMPLES = 20_000
# Examples per evaluation forward pass.
EVAL_BATCH = 1_024
# Fraction of FILE.npy held out for testing when neither a test split nor --test is given,
# chosen by a fixed shuffle (seed SPLIT_SEED) so that runs with different --seed share it.
HELD_OUT_FRACTION = 0.1
SPLIT_SEED = 0
CHECKPOINT = "checkpoint.pt"
# The files written in OUT (through `write_atomic`: a temporary `.NAME.XXXXXXXX.tmp`, then a rename).
OUTPUTS = (CHECKPOINT, "metrics.json", "density.png", "samples.png")
CHECKPOINT_VERSION = 1
# Options that must be the same to --resume a checkpoint (epochs, max-steps, iw-k may change).
# `compile` too: compiled kernels round differently and draw their noise from another stream.
_RESUME_KEYS = ("model", "data", "test", "batch_size", "lr", "seed", "compile")
# What a checkpoint written before an option existed is taken to have used.
_RESUME_DEFAULTS: dict[str, Any] = {"compile": False}


class TrainError(Exception):
    """A problem the user can fix (model, data, files, a diverged run): one line, exit 1."""


class _Stopped(Exception):
    """Training stopped on SIGINT/SIGTERM at a step boundary, its checkpoint written."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


@dataclass(frozen=True)
class InputType:
    """A parsed input type such as ``int<17>[1, 8, 8]``: domain, K for ``int<K>``, shape."""

    text: str
    domain: str
    num_classes: int | None
    shape: tuple[int, ...]

    @property
    def dims(self) -> int:
        """Entries per example (the D of bits/dim)."""
        return math.prod(self.shape)


@dataclass
class Data:
    """Train and held-out tensors with where they came from."""

    train: Tensor
    test: Tensor
    name: str
    test_source: str
    closed_form: str | None  # the data set whose `log_density` is known, if any


def build_parser() -> argparse.ArgumentParser:
    """The command line of `survae-train`."""
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
    parser.add_argument("model_file", metavar="MODEL.survae", help="the model file")
    parser.add_argument("--data", required=True, metavar="NAME|FILE.npy", help="a bundled data set or a .npy array")
    parser.add_argument("--model", metavar="NAME", help="the model to train when the file holds several")
    parser.add_argument("--epochs", type=_positive(int), default=20, help="passes over the training data (default 20)")
    parser.add_argument("--batch-size", type=_positive(int), default=256, help="examples per step (default 256)")
    parser.add_argument("--lr", type=_positive(float), default=1e-3, help="Adam's learning rate (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="weights, batch order and noise (default 0)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default out/train/MODEL-DATA)")
    parser.add_argument(
        "--iw-k",
        type=_non_negative_int,
        default=100,
        help=f"importance samples of the IW bound for lower-bound models, on {IW_EXAMPLES} test examples; 0 skips it",
    )
    parser.add_argument(
        "--test", metavar="FILE.npy", help="held-out data (default: the test split, or 10%% of FILE.npy)"
    )
    parser.add_argument("--max-steps", type=_positive(int), help="stop after this many steps in all")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the training step with torch.compile (inductor; needs a C++ compiler): "
        "faster steps after a first one that takes seconds to a minute to compile",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt (after Ctrl-C, a kill or --max-steps); the other options must match",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `survae-train`; returns the exit status (argparse exits with 2 on bad usage)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        _run(args)
    except TrainError as exc:
        print(f"survae-train: error: {exc}", file=sys.stderr)
        return 1
    except _Stopped as stopped:
        print(f"survae-train: {stopped}", file=sys.stderr)
        print(f"survae-train: to continue: {_resume_command(argv)}", file=sys.stderr)
        return 128 + stopped.signum
    except KeyboardInterrupt:  # outside training, or a second Ctrl-C: stopped at once
        checkpoint = getattr(args, "checkpoint_path", None)
        if checkpoint is not None and checkpoint.is_file():
            print(
                f"survae-train: interrupted; {checkpoint} and earlier outputs are left as they were "
                f"(to continue: {_resume_command(argv)})",
                file=sys.stderr,
            )
        else:
            print("survae-train: interrupted before the first checkpoint", file=sys.stderr)
        return 130
    return 0


def _resume_command(argv: list[str]) -> str:
    """The command line that continues this run: the same arguments with --resume."""
    return shlex.join(["survae-train", *argv, *([] if "--resume" in argv else ["--resume"])])


def _run(args: argparse.Namespace) -> None:
    """Compile, load and check the data, train (or resume), evaluate, write metrics and plots."""
    import survae_dsl
    from survae_dsl.compiler.diagnostics import CompileError

    missing = [name for name in ("tqdm", "matplotlib", "numpy") if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainError(f"survae-train needs {', '.join(missing)}: pip install 'survae-dsl[train]'")
    try:
        cls = survae_dsl.load(args.model_file, model=args.model)
    except CompileError as exc:
        several = next((d for d in exc.diagnostics if d.code == "E213"), None)
        if several is not None:  # load()'s hint names its keyword; ours is the option
            raise TrainError(f"{several.message}: pass --model NAME") from None
        print(exc.render(), file=sys.stderr)
        errors = sum(d.is_error for d in exc.diagnostics)
        raise TrainError(f"{args.model_file} does not compile ({errors} error{'s' * (errors != 1)})") from None
    except OSError as exc:
        raise TrainError(f"cannot read {args.model_file}: {exc.strerror or exc}") from None
    input_type = _single_input(cls)
    data = _load_data(args.data, args.test, input_type)

    name = cls.model_name
    out = Path(args.out) if args.out else Path("out") / "train" / f"{name}-{Path(data.name).stem}"
    checkpoint_path = args.checkpoint_path = out / CHECKPOINT  # for main's message on Ctrl-C
    config = {
        "model_file": str(Path(args.model_file).resolve()),
        "model": name,
        "data": data.name,
        "test": data.test_source,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "compile": args.compile,
    }
    checkpoint = _read_checkpoint(checkpoint_path, config) if args.resume else None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    _remove_temporaries(out)

    torch.manual_seed(args.seed)
    model = cls().float()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    state = _TrainState.fresh(args.seed) if checkpoint is None else _TrainState.restore(checkpoint, model, optimizer)
    if checkpoint is not None:
        print(f"resuming from {checkpoint_path}: epoch {state.epoch}, step {state.step}", file=sys.stderr)
    steps = _StepFunctions.build(model, optimizer, args.compile)
    with _stop_requests() as stop:
        _train(model, optimizer, steps, state, data, input_type, args, config, checkpoint_path, stop)
    if stop.signum is not None:
        per_epoch = math.ceil(data.train.shape[0] / args.batch_size)
        if state.batch_in_epoch:
            where = f"batch {state.batch_in_epoch} of {per_epoch} in epoch {state.epoch + 1}"
        else:
            where = f"the end of epoch {state.epoch}" if state.epoch else "before the first step"
        raise _Stopped(
            stop.signum,
            f"stopped by {_signal_name(stop.signum)} at step {state.step} ({where}); "
            f"the checkpoint {checkpoint_path} holds the run up to there",
        )

    model.eval()
    metrics = _evaluate(model, data, input_type, args)
    plots = _plot(model, data.train, input_type, out, args.seed)
    report = _metrics(cls, model, data, input_type, args, state, metrics, plots)
    _write_json(out / "metrics.json", report)
    _print_summary(report, out)


def _single_input(cls: type[Any]) -> InputType:
    """The model's one input type; models with contexts or several inputs are refused."""
    if cls.context_names:
        contexts = ", ".join(f"`{c}`" for c in cls.context_names)
        raise TrainError(
            f"model `{cls.model_name}` is conditioned on {contexts}: survae-train does not train conditional models yet"
        )
    if len(cls.input_names) != 1:
        inputs = ", ".join(f"`{i}`" for i in cls.input_names)
        raise TrainError(f"model `{cls.model_name}` has several inputs ({inputs}): survae-train takes one input only")
    return _parse_type(cls.input_types[cls.input_names[0]])


def _parse_type(text: str) -> InputType:
    """``int<17>[1, 8, 8]`` → InputType("int", 17, (1, 8, 8)); ``real[2]`` → ("real", None, (2,))."""
    from survae_dsl.data import parse_type

    try:
        domain, params, shape = parse_type(text)
    except ValueError as exc:
        raise TrainError(str(exc)) from None
    return InputType(text, domain, params if isinstance(params, int) else None, shape)


# ---------------------------------------------------------------------------------- data


def _load_data(spec: str, test_file: str | None, input_type: InputType) -> Data:
    """Train and held-out data for ``--data``/``--test``, each checked against the input type
    (a FILE.npy as a whole, before the held-out part is split off)."""
    from survae_dsl import data as datasets

    test: Tensor | None = None
    test_source = test_file
    if spec.endswith(".npy") or os.sep in spec or Path(spec).is_file():
        name, closed_form = spec, None
        train = _checked(_load_file(spec, datasets), f"{spec}", input_type)
        if test_file is None:
            train, test = _hold_out(train, spec)
            test_source = f"{HELD_OUT_FRACTION:.0%} of {spec} held out"
    elif spec in datasets.NAMES:
        name, closed_form = spec, (spec if datasets.has_log_density(spec) else None)
        try:
            train = _checked(datasets.load(spec, split="train"), f"{spec} (train split)", input_type)
            if test_file is None:
                test_source = f"{spec} test split"
                test = _checked(datasets.load(spec, split="test"), test_source, input_type)
        except ImportError as exc:
            raise TrainError(str(exc)) from None
    else:
        raise TrainError(f"unknown data set {spec!r}: expected a .npy file or one of {', '.join(datasets.NAMES)}")
    if test_file is not None:
        test = _checked(_load_file(test_file, datasets), f"held-out data {test_file}", input_type)
    assert test is not None and test_source is not None
    return Data(train, test, name, test_source, closed_form)


def _checked(x: Tensor, label: str, input_type: InputType) -> Tensor:
    """``x`` in the model's dtype (int64 for ``int<K>``, else float32) once `check_data` accepts it."""
    from survae_dsl.data import check_data

    try:
        check_data(x, input_type.text)
    except ValueError as exc:
        raise TrainError(f"{label}: {exc}") from None
    return x.long() if input_type.num_classes is not None else x.float()


def _load_file(path: str, datasets: Any) -> Tensor:
    """A ``.npy`` array as a tensor, with a one-line error for a missing or unreadable file."""
    try:
        return torch.as_tensor(datasets.load_array(path))
    except FileNotFoundError:
        raise TrainError(f"no such data file: {path}") from None
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot read {path}: {exc}") from None


def _hold_out(x: Tensor, path: str) -> tuple[Tensor, Tensor]:
    """Split ``x`` into (90%, 10%) by a shuffle with the fixed seed SPLIT_SEED."""
    if x.ndim == 0 or x.shape[0] < 2:
        raise TrainError(f"{path} holds fewer than 2 examples: nothing to hold out (pass --test FILE.npy)")
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = max(1, round(HELD_OUT_FRACTION * x.shape[0]))
    return x[order[n_test:]], x[order[:n_test]]


# ------------------------------------------------------------------------------ training


@dataclass
class _TrainState:
    """Where training stands: what a checkpoint holds besides the model and optimizer."""

    epoch: int  # completed epochs
    step: int  # completed steps, all epochs
    batch_in_epoch: int  # completed steps of the current (unfinished) epoch
    order_state: Tensor  # the batch-order generator's state at the start of the current epoch
    loss_sum: float  # sum of the current epoch's batch losses so far (for its mean)
    seconds: float  # training time so far
    examples: int  # examples seen so far, all epochs
    initialized: bool
    history: list[dict[str, Any]]

    @classmethod
    def fresh(cls, seed: int) -> _TrainState:
        """A run that has not started: the batch order is seeded by ``seed``."""
        order_state = torch.Generator().manual_seed(seed).get_state()
        return cls(0, 0, 0, order_state, 0.0, 0.0, 0, False, [])

    @classmethod
    def restore(cls, checkpoint: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer) -> _TrainState:
        """Load a checkpoint's weights, optimizer and RNG state; return its training state."""
        try:
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TrainError(
                f"--resume: the checkpoint does not fit the model (was it edited?): {first_line}"
            ) from None
        torch.set_rng_state(checkpoint["rng"]["torch"])
        return cls(**checkpoint["state"])

    def as_dict(self) -> dict[str, Any]:
        """The fields, for the checkpoint."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class _StopRequest:
    """The signal (SIGINT, SIGTERM) that asked training to stop, if any."""

    signum: int | None = None


@contextmanager
def _stop_requests() -> Iterator[_StopRequest]:
    """While training, SIGINT and SIGTERM ask it to stop at the next step boundary (a second one
    raises KeyboardInterrupt at once). A signal ignored by whoever started the process (SIGINT
    for ``cmd &`` in a shell script) stays ignored; off the main thread the handlers are left alone."""
    request = _StopRequest()

    def handler(signum: int, _frame: Any) -> None:
        if request.signum is not None:
            raise KeyboardInterrupt
        request.signum = signum
        note = f"\nsurvae-train: {_signal_name(signum)}: stopping after this step (Ctrl-C again to stop at once)\n"
        try:  # os.write, not print: a handler may run in the middle of a print to stderr
            os.write(2, note.encode())
        except OSError:
            pass

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            current = signal.getsignal(signum)
            if current is signal.SIG_IGN:
                continue
            signal.signal(signum, handler)
        except ValueError:  # not the main thread
            continue
        previous[signum] = current
    try:
        yield request
    finally:
        for signum, current in previous.items():
            signal.signal(signum, current if current is not None else signal.SIG_DFL)


def _signal_name(signum: int) -> str:
    """``Ctrl-C`` for SIGINT, else the signal's name."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


@dataclass(frozen=True)
class _StepFunctions:
    """What one training step calls: the loss of a batch (−mean log_prob, a scalar) and the
    optimizer's update, either as they are or compiled by `torch.compile`."""

    loss: Callable[[Tensor], Tensor]
    update: Callable[[], Any]
    compiled: bool

    @classmethod
    def build(cls, model: nn.Module, optimizer: torch.optim.Optimizer, use_compile: bool) -> _StepFunctions:
        def loss(batch: Tensor) -> Tensor:
            return -model.log_prob(batch).mean()

        if not use_compile:
            return cls(loss, optimizer.step, compiled=False)
        # Compiling the call of step fuses Adam's per-tensor loops (PyTorch's recipe for a
        # compiled optimizer). Dynamo notes once that it skips the profiler annotation in step.
        logging.getLogger("torch._dynamo.variables.ctx_manager").setLevel(logging.ERROR)
        return cls(torch.compile(loss), torch.compile(optimizer.step), compiled=True)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``; when compiled, a failure to compile (no C++ compiler, an op inductor
        cannot lower) becomes a TrainError that says to run without --compile."""
        if not self.compiled:
            return fn(*args)
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - torch.compile fails with many exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise TrainError(
                f"torch.compile could not compile the training step ({type(exc).__name__}: {first[:300]}); "
                "run without --compile"
            ) from None


def _train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    steps: _StepFunctions,
    state: _TrainState,
    data: Data,
    input_type: InputType,
    args: argparse.Namespace,
    config: dict[str, Any],
    checkpoint_path: Path,
    stop: _StopRequest,
) -> None:
    """Adam steps until ``args.epochs`` epochs or ``args.max_steps`` steps are done, or a signal
    asks to stop; the checkpoint is written at every epoch's end and wherever training stops."""
    x = data.train
    n = x.shape[0]
    per_epoch = math.ceil(n / args.batch_size)
    model.train()
    while state.epoch < args.epochs and not _capped(state, args) and stop.signum is None:
        order_gen = torch.Generator()
        order_gen.set_state(state.order_state)
        order = torch.randperm(n, generator=order_gen)
        if not state.initialized:
            model.initialize(x[order[: args.batch_size]])
            state.initialized = True
        with _progress(per_epoch, state, args) as bar:
            start = time.perf_counter()
            while state.batch_in_epoch < per_epoch and not _capped(state, args) and stop.signum is None:
                index = order[state.batch_in_epoch * args.batch_size : (state.batch_in_epoch + 1) * args.batch_size]
                loss = _step(model, steps, x[index], state, checkpoint_path)
                state.batch_in_epoch += 1
                state.step += 1
                state.examples += index.numel()
                state.loss_sum += loss
                seconds = state.seconds + time.perf_counter() - start
                _show(bar, state, input_type, seconds)
            state.seconds += time.perf_counter() - start
        if state.batch_in_epoch == per_epoch:
            _end_epoch(model, state, data, input_type, order_gen, per_epoch)
        _save_checkpoint(checkpoint_path, model, optimizer, state, config)


def _capped(state: _TrainState, args: argparse.Namespace) -> bool:
    """Whether ``--max-steps`` has been reached."""
    return args.max_steps is not None and state.step >= args.max_steps


def _step(model: nn.Module, steps: _StepFunctions, batch: Tensor, state: _TrainState, checkpoint: Path) -> float:
    """One Adam step on −mean log_prob; a non-finite loss or gradient stops the run (TrainError)."""
    rng = torch.get_rng_state()
    loss = steps.call(steps.loss, batch)
    value = loss.item()
    where = f"step {state.step + 1} (epoch {state.epoch + 1}, batch {state.batch_in_epoch + 1})"
    if not math.isfinite(value):
        raise TrainError(f"the loss is {value} at {where}{_diagnose(model, batch, rng)}; {_kept(checkpoint)}")
    model.zero_grad(set_to_none=True)
    steps.call(loss.backward)  # a compiled loss compiles its backward graph on this first call
    bad = next(
        (name for name, p in model.named_parameters() if p.grad is not None and not p.grad.isfinite().all()), None
    )
    if bad is not None:
        raise TrainError(
            f"the gradient of `{bad}` is not finite at {where}{_layer_line(model, bad)}; {_kept(checkpoint)}"
        )
    steps.call(steps.update)
    return value


def _kept(checkpoint: Path) -> str:
    """The end of a divergence message: what happened to the checkpoint."""
    if checkpoint.exists():
        return f"stopped; the checkpoint {checkpoint} is left as it was"
    return "stopped; no checkpoint was written"


def _diagnose(model: nn.Module, batch: Tensor, rng: Tensor) -> str:
    """Where a non-finite loss comes from: a non-finite parameter, or the first layer whose output
    is non-finite when the step's forward pass is replayed with the same noise."""
    for name, parameter in model.named_parameters():
        if not parameter.isfinite().all():
            return f"; the parameter `{name}` is not finite{_layer_line(model, name)}"
    found: list[str] = []
    names = {module: name for name, module in model.named_modules() if name}

    def hook(module: nn.Module, _args: Any, output: Any) -> None:
        if not found and _non_finite(output):
            found.append(names[module])

    handles = [module.register_forward_hook(hook) for module in names]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.set_rng_state(rng)
            model.log_prob(batch)
    except Exception:  # noqa: BLE001 - a diagnosis only; the loss already says what happened
        pass
    finally:
        for handle in handles:
            handle.remove()
    if found:
        return f"; the first non-finite output is of layer `{found[0]}`{_layer_line(model, found[0])}"
    return "; no layer's output is non-finite when the step is replayed: look at the distributions' log_prob"


def _non_finite(value: Any) -> bool:
    """Whether a module output (a tensor, or tuples/lists of them) holds NaN or ±inf."""
    if isinstance(value, Tensor):
        return value.is_floating_point() and not bool(value.isfinite().all())
    if isinstance(value, (tuple, list)):
        return any(_non_finite(v) for v in value)
    return False


def _layer_line(model: nn.Module, dotted: str) -> str:
    """`` (MODEL.survae:LINE)`` for the top-level layer of a dotted name, from the source
    comment the compiler writes after each layer's construction; empty if unknown."""
    layer = dotted.split(".")[0]
    try:
        source = inspect.getsource(type(model).__init__)
    except (OSError, TypeError):
        return ""
    match = re.search(rf"self\.{re.escape(layer)} = .*#\s*(\S+:\d+)\s*$", source, flags=re.MULTILINE)
    return f" ({match[1]})" if match else ""


@contextmanager
def _progress(total: int, state: _TrainState, args: argparse.Namespace) -> Iterator[Any]:
    """A tqdm bar for one epoch on stderr (off when stderr is not a terminal)."""
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        initial=state.batch_in_epoch,
        desc=f"epoch {state.epoch + 1}/{args.epochs}",
        file=sys.stderr,
        disable=None,
        leave=True,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    try:
        yield bar
    finally:
        bar.close()


def _show(bar: Any, state: _TrainState, input_type: InputType, seconds: float) -> None:
    """Advance the bar; its postfix shows the epoch's mean loss (bits/dim for int data) and speed."""
    bar.update(1)
    mean = state.loss_sum / state.batch_in_epoch
    value = f"{mean / (math.log(2) * input_type.dims):.3f} bpd" if input_type.num_classes else f"{mean:.3f} nats"
    rate = state.examples / seconds if seconds > 0 else 0.0
    bar.set_postfix_str(f"loss {value}, {rate:,.0f} ex/s", refresh=False)


def _end_epoch(
    model: nn.Module, state: _TrainState, data: Data, input_type: InputType, order_gen: torch.Generator, per_epoch: int
) -> None:
    """Record the finished epoch (mean train loss, held-out log_prob) and start the next."""
    model.eval()
    test_ll = _mean_log_prob(model, data.test, seed=state.epoch)
    model.train()
    train_nll = state.loss_sum / per_epoch
    state.history.append(
        {
            "epoch": state.epoch + 1,
            "step": state.step + 0,
            "train_loss_nats": train_nll,
            "test_log_prob_nats": test_ll,
            "test_bits_per_dim": -test_ll / (math.log(2) * input_type.dims),
        }
    )
    print(
        f"epoch {state.epoch + 1}: train loss {train_nll:.4f} nats, test log_prob {test_ll:.4f} nats "
        f"({state.history[-1]['test_bits_per_dim']:.4f} bits/dim)",
        file=sys.stderr,
    )
    state.epoch += 1
    state.batch_in_epoch = 0
    state.loss_sum = 0.0
    state.order_state = order_gen.get_state()


# --------------------------------------------------------------------------- checkpoints


def _save_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: _TrainState, config: dict[str, Any]
) -> None:
    """Write the checkpoint atomically: a temporary file in OUT, then os.replace."""
    from survae_dsl.compiler.files import write_atomic

    payload = {
        "version": CHECKPOINT_VERSION,
        "config": config,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": {"torch": torch.get_rng_state()},
        "state": state.as_dict(),
        "torch": str(torch.__version__),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        write_atomic(path, buffer.getvalue())
    except OSError as exc:
        raise TrainError(f"cannot write the checkpoint {path}: {exc.strerror or exc}") from None


def _remove_temporaries(out: Path) -> None:
    """Remove the temporary files (``.checkpoint.pt.XXXXXXXX.tmp`` and the like) that a run killed
    while writing leaves in OUT; the files they were to replace are whole and are kept."""
    pattern = re.compile("|".join(rf"\.{re.escape(name)}\.\w+\.tmp" for name in OUTPUTS))
    removed = []
    for path in sorted(out.iterdir()):
        if pattern.fullmatch(path.name) and path.is_file():
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path.name)
    if removed:
        print(f"survae-train: removed {', '.join(removed)} in {out}, left by an interrupted run", file=sys.stderr)


def _read_checkpoint(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint to resume from, refused if it was made with other options."""
    if not path.is_file():
        raise TrainError(f"--resume: there is no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise TrainError(f"--resume: cannot read the checkpoint {path}: {exc}") from None
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise TrainError(f"--resume: {path} was written by another version of survae-train")
    for key in _RESUME_KEYS:
        made_with = checkpoint["config"].get(key, _RESUME_DEFAULTS.get(key))
        if made_with != config[key]:
            raise TrainError(
                f"--resume: {path} was made with {key} = {made_with!r}, not {config[key]!r}; "
                "pass the same options, or start again without --resume"
            )
    return checkpoint


# ---------------------------------------------------------------------------- evaluation


@torch.no_grad()
def _mean_log_prob(model: nn.Module, x: Tensor, seed: int) -> float:
    """Mean log_prob in nats over ``x``, in chunks; noise drawn from its own seeded stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.cat([model.log_prob(chunk) for chunk in x.split(EVAL_BATCH)]).double().mean().item()


def _evaluate(model: nn.Module, data: Data, input_type: InputType, args: argparse.Namespace) -> dict[str, Any]:
    """Train and held-out metrics: log_prob, bits/dim, the IW bound and the true density."""
    from survae_dsl.nn import iw_log_prob

    bits = math.log(2) * input_type.dims
    train_x = data.train[:TRAIN_EVAL_EXAMPLES]
    train_ll = _mean_log_prob(model, train_x, seed=args.seed + 1)
    test_ll = _mean_log_prob(model, data.test, seed=args.seed + 2)
    result: dict[str, Any] = {
        "train": {"examples": train_x.shape[0], "log_prob_nats": train_ll, "bits_per_dim": -train_ll / bits},
        "test": {"examples": data.test.shape[0], "log_prob_nats": test_ll, "bits_per_dim": -test_ll / bits},
    }
    if model.likelihood == "lower_bound" and args.iw_k > 0:
        subset = data.test[:IW_EXAMPLES]
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed + 3)
            iw = torch.cat([iw_log_prob(model, chunk, k=args.iw_k) for chunk in subset.split(EVAL_BATCH)])
        iw_ll = iw.double().mean().item()
        result["test"]["iw"] = {
            "k": args.iw_k,
            "examples": subset.shape[0],
            "log_prob_nats": iw_ll,
            "bits_per_dim": -iw_ll / bits,
            # The one-sample bound on the same subset, to compare with.
            "elbo_nats": _mean_log_prob(model, subset, seed=args.seed + 4),
        }
    if data.closed_form is not None:
        from survae_dsl.data import log_density

        true_ll = log_density(data.closed_form, data.test.double()).mean().item()
        result["test"]["true_log_prob_nats"] = true_ll
        result["test"]["true_bits_per_dim"] = -true_ll / bits
    return result


def _metrics(
    cls: type[Any],
    model: nn.Module,
    data: Data,
    input_type: InputType,
    args: argparse.Namespace,
    state: _TrainState,
    evaluation: dict[str, Any],
    plots: list[str],
) -> dict[str, Any]:
    """The contents of metrics.json."""
    return {
        "model": cls.model_name,
        "model_file": str(args.model_file),
        "likelihood": cls.likelihood,
        "input_type": input_type.text,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {
            "name": data.name,
            "train_examples": data.train.shape[0],
            "test": data.test_source,
            "test_examples": data.test.shape[0],
        },
        "seed": args.seed,
        "epochs": args.epochs,
        "epochs_completed": state.epoch,
        "steps": state.step,
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "compile": args.compile,
        "seconds": state.seconds,
        "examples_per_second": state.examples / state.seconds if state.seconds > 0 else None,
        **evaluation,
        "history": state.history,
        "plots": plots,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
    }


def _write_json(path: Path, report: dict[str, Any]) -> None:
    """metrics.json, atomically; a non-finite number is written as null (with a warning)."""
    from survae_dsl.compiler.files import write_atomic

    def clean(value: Any, where: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            print(f"survae-train: warning: {where} is {value}; written as null", file=sys.stderr)
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{where}.{k}" if where else k) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    text = json.dumps(clean(report, ""), indent=2, allow_nan=False) + "\n"
    write_atomic(path, text.encode("utf-8"))


def _print_summary(report: dict[str, Any], out: Path) -> None:
    """A few lines on stdout: the held-out numbers and where the outputs are."""
    test = report["test"]
    print(
        f"{report['model']} ({report['likelihood']}) on {report['data']['name']}: "
        f"{report['steps']} steps, {report['seconds']:.1f} s"
    )
    print(f"  test log_prob {test['log_prob_nats']:.4f} nats, {test['bits_per_dim']:.4f} bits/dim")
    if "iw" in test:
        iw = test["iw"]
        print(
            f"  test IW bound (k={iw['k']}, {iw['examples']} examples) {iw['log_prob_nats']:.4f} nats, "
            f"{iw['bits_per_dim']:.4f} bits/dim (one-sample bound there: {iw['elbo_nats']:.4f})"
        )
    if "true_log_prob_nats" in test:
        print(f"  true test log-likelihood {test['true_log_prob_nats']:.4f} nats")
    print(f"wrote {out / 'metrics.json'}, {out / CHECKPOINT}" + "".join(f", {out / p}" for p in report["plots"]))


# --------------------------------------------------------------------------------- plots


def _plot(model: nn.Module, train: Tensor, input_type: InputType, out: Path, seed: int) -> list[str]:
    """The plots for the input's kind (2-D points, images, point clouds); file names written.

    A failure to plot is a warning, not an error: the metrics are still written.
    """
    shape = input_type.shape
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 5)
            generator = torch.Generator().manual_seed(seed + 6)
            if shape == (2,):
                return _plot_2d(model, train, input_type, out, generator)
            if len(shape) == 3:
                return _plot_images(model, input_type, out, generator)
            if len(shape) == 2 and shape[-1] == 2:
                return _plot_point_clouds(model, train, out, generator)
    except Exception as exc:  # noqa: BLE001 - plots are a bonus; the run's numbers stand
        print(f"survae-train: warning: no plots: {type(exc).__name__}: {exc}", file=sys.stderr)
    return []


def _save_figure(figure: Any, path: Path) -> None:
    """Render a matplotlib Figure to PNG and write it atomically."""
    from survae_dsl.compiler.files import write_atomic

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())


def _finite_rows(x: Tensor) -> Tensor:
    """The rows of ``x`` (``(B, ...)``) with only finite entries, as float."""
    x = x.float()
    return x[x.flatten(1).isfinite().all(dim=1)]


def _plot_2d(
    model: nn.Module, train: Tensor, input_type: InputType, out: Path, generator: torch.Generator
) -> list[str]:
    """density.png (data histogram | model density on a grid) and samples.png (data | samples)."""
    from matplotlib.figure import Figure

    data = train[:20_000].float()
    low, high = data.min(dim=0).values, data.max(dim=0).values
    margin = 0.1 * (high - low).clamp_min(1e-3)
    low, high = low - margin, high + margin
    steps = 200
    xs, ys = torch.linspace(low[0], high[0], steps), torch.linspace(low[1], high[1], steps)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    density = torch.cat([model.log_prob(chunk) for chunk in grid.split(EVAL_BATCH)]).exp().reshape(steps, steps)
    density = torch.nan_to_num(density, nan=0.0, posinf=0.0)
    extent = (low[0].item(), high[0].item(), low[1].item(), high[1].item())
    bound = " (exp of the one-sample bound)" if model.likelihood == "lower_bound" else ""

    figure = Figure(figsize=(10, 4.6))
    left, right = figure.subplots(1, 2)
    left.hist2d(data[:, 0].numpy(), data[:, 1].numpy(), bins=steps // 2, range=[extent[:2], extent[2:]], cmap="viridis")
    left.set_title(f"data ({data.shape[0]} points)")
    right.imshow(density.numpy(), origin="lower", extent=extent, aspect="auto", cmap="viridis")
    right.set_title(f"model density{bound}")
    _save_figure(figure, out / "density.png")

    count = min(5_000, data.shape[0])
    samples = _finite_rows(model.sample(count, generator=generator))
    figure = Figure(figsize=(10, 4.6))
    left, right = figure.subplots(1, 2, sharex=True, sharey=True)
    for axis, points, title in ((left, data[:count], "data"), (right, samples, "samples")):
        axis.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=1, alpha=0.4)
        axis.set_title(f"{title} ({points.shape[0]} points)")
        axis.set_xlim(extent[:2])
        axis.set_ylim(extent[2:])
    _save_figure(figure, out / "samples.png")
    return ["density.png", "samples.png"]


def _plot_images(model: nn.Module, input_type: InputType, out: Path, generator: torch.Generator) -> list[str]:
    """samples.png: an 8×8 grid of sampled images (int<K> scaled by K − 1, reals min-max)."""
    from matplotlib.figure import Figure

    samples = model.sample(64, generator=generator).float().nan_to_num(0.0)
    channels, height, width = input_type.shape
    if input_type.num_classes is not None:
        samples = samples / (input_type.num_classes - 1)
    else:
        flat = samples.flatten(1)
        low, high = flat.min(dim=1).values, flat.max(dim=1).values
        samples = (samples - low[:, None, None, None]) / (high - low).clamp_min(1e-8)[:, None, None, None]
    images = samples.clamp(0, 1)[:, :3] if channels >= 3 else samples.clamp(0, 1)[:, :1]
    images = torch.nn.functional.pad(images, (0, 1, 0, 1), value=1.0)  # a white line between images
    height, width = height + 1, width + 1
    rows = images.reshape(8, 8, images.shape[1], height, width).permute(0, 3, 1, 4, 2)
    tiled = rows.reshape(8 * height, 8 * width, images.shape[1])
    figure = Figure(figsize=(6, 6))
    axis = figure.subplots()
    axis.imshow(tiled.squeeze(-1).numpy() if images.shape[1] == 1 else tiled.numpy(), cmap="gray", vmin=0, vmax=1)
    axis.set_axis_off()
    axis.set_title("64 samples")
    _save_figure(figure, out / "samples.png")
    return ["samples.png"]


def _plot_point_clouds(model: nn.Module, train: Tensor, out: Path, generator: torch.Generator) -> list[str]:
    """samples.png: four training sets (top row) and four sampled sets (bottom row)."""
    from matplotlib.figure import Figure

    samples = model.sample(4, generator=generator).float()
    seen = train[:1_000].float().reshape(-1, 2)
    low, high = seen.min(dim=0).values, seen.max(dim=0).values
    margin = 0.1 * (high - low).clamp_min(1e-3)
    low, high = (low - margin).tolist(), (high + margin).tolist()
    figure = Figure(figsize=(10, 5))
    axes = figure.subplots(2, 4)
    for column in range(4):
        for row, sets, title in ((0, train, "data"), (1, samples, "sample")):
            points = sets[column % sets.shape[0]].float()
            points = points[points.isfinite().all(dim=1)]
            axis = axes[row, column]
            axis.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=6)
            axis.set_xlim(low[0], high[0])
            axis.set_ylim(low[1], high[1])
            axis.set_aspect("equal")
            axis.set_title(f"{title} {column + 1}", fontsize=9)
            axis.set_xticks([])
            axis.set_yticks([])
    _save_figure(figure, out / "samples.png")
    return ["samples.png"]


# ----------------------------------------------------------------------------- arguments


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


if __name__ == "__main__":
    sys.exit(main())
