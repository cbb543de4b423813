"""`fit(config)`: one training run from a `TrainConfig`, start to finish; what `survae-train` calls."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import torch

from .checkpoints import CHECKPOINT, read_checkpoint, remove_temporaries, restore, run_identity
from .config import TrainConfig
from .data_loading import Data, load_data
from .errors import Interrupted, Stopped, TrainError
from .evaluation import evaluate
from .loop import StepFunctions, train_epochs
from .metrics import metrics_report, print_summary, write_metrics_json
from .model_input import InputType, load_model_class, single_input
from .plots import plot
from .signals import signal_name, stop_requests
from .state import TrainState


def fit(config: TrainConfig) -> dict[str, Any]:
    """Compile, load and check the data, train (or resume), evaluate, write metrics and plots.

    Returns the metrics report, what OUT/metrics.json holds (there a non-finite number is null).
    Prints progress on stderr and a summary on stdout, as `survae-train` does. Raises `TrainError`
    for a problem with the model, the data, the files or the training; `Stopped` when Ctrl-C or
    SIGTERM stopped training at a step (its checkpoint written); a KeyboardInterrupt (`Interrupted`
    once the output folder is known) for a second Ctrl-C or one outside training.
    """
    missing = [name for name in ("tqdm", "matplotlib", "numpy") if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainError(f"survae-train needs {', '.join(missing)}: pip install 'survae-dsl[train]'")
    cls = load_model_class(config.model_file, config.model)
    input_type = single_input(cls)
    data = load_data(str(config.data), None if config.test is None else str(config.test), input_type)
    out = Path(config.out) if config.out else Path("out") / "train" / f"{cls.model_name}-{Path(data.name).stem}"
    try:
        return _train_and_report(config, cls, input_type, data, out)
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside training: say what was kept
        raise Interrupted(out / CHECKPOINT) from None


def _train_and_report(
    config: TrainConfig, cls: type[Any], input_type: InputType, data: Data, out: Path
) -> dict[str, Any]:
    """Everything `fit` does once the model and data are in hand and OUT is chosen."""
    checkpoint_path = out / CHECKPOINT
    identity = run_identity(config, cls.model_name, data.name, data.test_source)
    checkpoint = read_checkpoint(checkpoint_path, identity) if config.resume else None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    remove_temporaries(out)

    torch.manual_seed(config.seed)
    model = cls().float()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    state = TrainState.fresh(config.seed) if checkpoint is None else restore(checkpoint, model, optimizer)
    if checkpoint is not None:
        print(f"resuming from {checkpoint_path}: epoch {state.epoch}, step {state.step}", file=sys.stderr)
    steps = StepFunctions.build(model, optimizer, config.compile)
    with stop_requests() as stop:
        train_epochs(model, optimizer, steps, state, data, input_type, config, identity, checkpoint_path, stop)
    if stop.signum is not None:
        raise _stopped(stop.signum, state, math.ceil(data.train.shape[0] / config.batch_size), checkpoint_path)

    model.eval()
    evaluation = evaluate(model, data, input_type, config.seed, config.iw_k)
    plots = plot(model, data.train, input_type, out, config.seed)
    report = metrics_report(cls, model, data, input_type, config, state, evaluation, plots)
    write_metrics_json(out / "metrics.json", report)
    print_summary(report, out)
    return report


def _stopped(signum: int, state: TrainState, per_epoch: int, checkpoint_path: Path) -> Stopped:
    """The exception for a run that a signal stopped at a step boundary: where, and what was kept."""
    if state.batch_in_epoch:
        where = f"batch {state.batch_in_epoch} of {per_epoch} in epoch {state.epoch + 1}"
    else:
        where = f"the end of epoch {state.epoch}" if state.epoch else "before the first step"
    return Stopped(
        signum,
        f"stopped by {signal_name(signum)} at step {state.step} ({where}); "
        f"the checkpoint {checkpoint_path} holds the run up to there",
    )
