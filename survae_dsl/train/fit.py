"""`fit(config)`: one training run from a `TrainConfig`, start to finish; what `survae-train` calls."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoints import CHECKPOINT, read_checkpoint, remove_temporaries, restore, run_identity, save_checkpoint
from .config import TrainConfig
from .data_loading import Data, load_data
from .devices import device_label, resolve_device
from .distributed import Cluster, environment, process_group
from .errors import Interrupted, Stopped, TrainError
from .evaluation import evaluate
from .loop import StepFunctions, Trainer, train_epochs
from .metrics import metrics_report, print_summary, write_metrics_json
from .model_input import ModelIO, model_io
from .plots import plot
from .schedule import Schedule
from .signals import StopRequest, signal_name, stop_requests
from .state import TrainState


def fit(config: TrainConfig) -> dict[str, Any]:
    """Compile, load and check the data, train (or resume), evaluate, write metrics and plots.

    Returns the metrics report, what OUT/metrics.json holds (there a non-finite number is null).
    Prints progress on stderr and a summary on stdout, as `survae-train` does. Raises `TrainError`
    for a problem with the model, the data, the files or the training; `Stopped` when Ctrl-C or
    SIGTERM stopped training at a step (its checkpoint written); a KeyboardInterrupt (`Interrupted`
    once the output folder is known) for a second Ctrl-C or one outside training.

    Started by ``torchrun`` (RANK and WORLD_SIZE in the environment), the processes train one
    model together: each returns once training is over, and only rank 0 evaluates, writes the
    outputs and returns the report; the others return ``{"rank": r, "world_size": n}``.
    """
    missing = [name for name in ("tqdm", "matplotlib", "numpy") if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainError(f"survae-train needs {', '.join(missing)}: pip install 'survae-dsl[train]'")
    if config.tensorboard is not None:
        from .tensorboard_log import require_tensorboard

        require_tensorboard()
    text, cls = compile_model(config.model_file, config.model)
    io = model_io(cls)
    data = load_data(config, io)
    out = Path(config.out) if config.out else Path("out") / "train" / f"{cls.model_name}-{Path(data.name).stem}"
    alone = environment()[1] == 1
    try:
        # Under torchrun the stop requests span the process group's teardown (see stop_requests).
        with stop_requests(second_stops_at_once=alone, restore=alone) as stop:
            with process_group(lambda local_rank: resolve_device(config.device, local_rank)) as (cluster, device):
                return _train_and_report(config, text, cls, io, data, out, cluster, device, stop)
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside training: say what was kept
        raise Interrupted(out / CHECKPOINT) from None


def compile_model(model_file: str | Path, model: str | None) -> tuple[str, type[Any]]:
    """The text of ``model_file``, read once, and the class compiled from that text (``model``
    picks one of several): the bundle holds exactly what was trained. A model that does not
    compile has its diagnostics printed on stderr and becomes a one-line TrainError."""
    import survae_dsl
    from survae_dsl.compiler.core.diagnostics import CompileError

    path = Path(model_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrainError(f"cannot read {model_file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TrainError(f"cannot read {model_file}: not UTF-8 text ({exc.reason})") from None
    try:
        classes = survae_dsl.compile_source(text, filename=str(path), model=model, search_path=[path.parent])
    except CompileError as exc:
        print(exc.render(), file=sys.stderr)
        errors = sum(d.is_error for d in exc.diagnostics)
        raise TrainError(f"{model_file} does not compile ({errors} error{'s' * (errors != 1)})") from None
    if len(classes) > 1:
        names = ", ".join(f"`{n}`" for n in classes)
        raise TrainError(f"{model_file} holds several models: {names}: pass --model NAME")
    return text, next(iter(classes.values()))


def _train_and_report(
    config: TrainConfig,
    text: str,
    cls: type[Any],
    io: ModelIO,
    data: Data,
    out: Path,
    cluster: Cluster,
    device: torch.device,
    stop: StopRequest,
) -> dict[str, Any]:
    """Everything `fit` does once the model and data are in hand, OUT is chosen and this
    process has its place in the run."""
    if cluster.world_size > min(config.batch_size, len(data.train)):
        smaller = "--batch-size" if config.batch_size < len(data.train) else "the training set"
        raise TrainError(
            f"{smaller} ({min(config.batch_size, len(data.train))} examples) is smaller than the "
            f"{cluster.world_size} processes: each process needs an example of every step"
        )
    checkpoint_path = out / CHECKPOINT
    identity = run_identity(config, cls.model_name, data.name, data.test_source, cluster.world_size)
    checkpoint = read_checkpoint(checkpoint_path, identity) if config.resume else None
    if cluster.is_main:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
        remove_temporaries(out)

    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    torch.manual_seed(config.seed)
    model = cls().to(dtype=dtype).to(device)  # the same initial weights in every process
    module: nn.Module = model
    if cluster.distributed:
        from torch.nn.parallel import DistributedDataParallel

        # No buffer broadcast before each forward: the buffers are constants (masks, permutations)
        # or statistics (batchnorm) that only rank 0 saves and evaluates with; one collective less.
        module = DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None, broadcast_buffers=False
        )
    schedule = Schedule.of(config, math.ceil(len(data.train) / config.batch_size))
    # With a varying rate, a compiled Adam reads it from a tensor (a float would recompile it).
    lr: float | torch.Tensor = torch.tensor(config.lr) if config.compile and _varies(config) else config.lr
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state = TrainState.fresh() if checkpoint is None else restore(checkpoint, model, optimizer)
    if checkpoint is not None and cluster.is_main:
        made_with = checkpoint["config"].get("world_size", 1)
        processes = f" (written by {made_with} processes, continued by {cluster.world_size})" * (
            made_with != cluster.world_size
        )
        print(f"resuming from {checkpoint_path}: epoch {state.epoch}, step {state.step}{processes}", file=sys.stderr)
    autocast = None
    if config.precision == "bf16":
        from survae_dsl.nn.precision import NetAutocast

        autocast = NetAutocast(model, device.type)
    log = None
    if config.tensorboard is not None and cluster.is_main:
        from .tensorboard_log import TensorBoardLog

        log = TensorBoardLog(Path(config.tensorboard), io.input_type.size)
    extra = {"config": identity, "device": device_label(device)}

    def save() -> None:
        extra_info = {**extra, "state": {"epoch": state.epoch, "step": state.step}, "history": state.history}
        save_checkpoint(checkpoint_path, model, optimizer, state, identity)
        write_bundle_of(out, text, config, cls, model, extra_info)

    trainer = Trainer(
        model=model,
        module=module,
        optimizer=optimizer,
        steps=StepFunctions.build(module, io, optimizer, config.compile),
        state=state,
        data=data,
        io=io,
        config=config,
        schedule=schedule,
        cluster=cluster,
        device=device,
        dtype=dtype,
        checkpoint_path=checkpoint_path,
        save=save,
        autocast=autocast,
        log=log,
    )
    try:
        signum = train_epochs(trainer, stop)
    finally:
        if log is not None:
            log.close()
        # The DDP wrapper holds the process group: drop it before the group is destroyed.
        del trainer, module
    if signum is not None:
        raise _stopped(signum, state, math.ceil(len(data.train) / config.batch_size), checkpoint_path)
    if not cluster.is_main:
        return {"rank": cluster.rank, "world_size": cluster.world_size}

    model.eval()
    evaluation = evaluate(model, data, io, config.seed, config.iw_k, device)
    plots = plot(model, data, io, out, config.seed, device)
    report = metrics_report(
        cls, model, data, io, config, state, evaluation, plots, cluster.world_size, device_label(device), schedule
    )
    write_metrics_json(out / "metrics.json", report)
    print_summary(report, out)
    return report


def write_bundle_of(
    out: Path, text: str, config: TrainConfig, cls: type[Any], model: nn.Module, extra_info: dict[str, Any]
) -> None:
    """The run folder as a trained-model bundle (`bundle.write_bundle`): the source text, the
    weights, the --info document and ``extra_info``; one-line errors."""
    from survae_dsl.compiler.core.diagnostics import CompileError

    from .bundle import write_bundle

    try:
        write_bundle(
            out,
            source_text=text,
            source_name=str(config.model_file),
            model_name=cls.model_name,
            model=model,
            extra_info=extra_info,
            search_path=[Path(config.model_file).parent],
        )
    except OSError as exc:
        raise TrainError(f"cannot write the bundle in {out}: {exc.strerror or exc}") from None
    except CompileError as exc:  # it compiled a moment ago: a changed user module on the path
        raise TrainError(f"cannot write the bundle in {out}: the model no longer compiles: {exc}") from None


def _varies(config: TrainConfig) -> bool:
    """Whether the schedule changes the learning rate during the run."""
    return config.warmup > 0 or config.decay == "cosine" or (config.decay == "exponential" and config.gamma != 1.0)


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
