"""The training loop: epochs of Adam steps on −mean log_prob, with progress, history and checkpoints.

One step, in every process of the run (one, or N under torchrun):

1. this process's share of the step's global batch, on the device (`distributed.ShardedBatches`);
2. the noise generators seeded by (seed, step, rank); the loss −Σ log_prob over the share;
3. one collective: the loss summed over the processes, and whether any process was asked to
   stop (so that all stop at the same step);
4. the gradient of (−Σ log_prob)·N/G (G the global batch's size): DistributedDataParallel's
   average over the processes makes it the gradient of the global batch's mean, whatever the
   shares' sizes; its norm, clipping (``--clip-grad``), the scheduled rate, Adam's update.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from .config import TrainConfig
from .data_loading import Data
from .diagnose import diagnose, layer_line
from .distributed import Cluster, ShardedBatches, is_peer_failure, noise_seed, peer_failure
from .errors import TrainError
from .evaluation import mean_log_prob
from .examples import collate, move
from .model_input import ModelIO
from .schedule import Schedule
from .signals import StopRequest
from .state import TrainState

if TYPE_CHECKING:
    from survae_dsl.nn import Model
    from survae_dsl.nn.precision import NetAutocast

    from .tensorboard_log import TensorBoardLog


@dataclass(frozen=True)
class StepFunctions:
    """What one training step calls: −Σ log_prob of a batch (a scalar) and the optimizer's
    update, either as they are or compiled by `torch.compile`."""

    loss: Callable[[dict[str, Tensor]], Tensor]
    update: Callable[[], Any]
    compiled: bool

    @classmethod
    def build(
        cls, module: nn.Module, io: ModelIO, optimizer: torch.optim.Optimizer, use_compile: bool
    ) -> StepFunctions:
        """The loss of ``module`` (the model, or its DistributedDataParallel wrapper) and
        ``optimizer``'s step, through `torch.compile` when ``use_compile``."""

        def loss(batch: dict[str, Tensor]) -> Tensor:
            return -io.log_prob(module, batch).sum()

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
            if is_peer_failure(exc):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise TrainError(
                f"torch.compile could not compile the training step ({type(exc).__name__}: {first[:300]}); "
                "run without --compile"
            ) from None


@dataclass
class Trainer:
    """A run's training part, built by `fit`: the model (``model``, and ``module``, the same or
    its DistributedDataParallel wrapper), the optimizer and step functions, the data, where
    training stands, and this process's place in the run. ``save`` writes the checkpoint (and
    bundle) on rank 0."""

    model: Model
    module: nn.Module
    optimizer: torch.optim.Optimizer
    steps: StepFunctions
    state: TrainState
    data: Data
    io: ModelIO
    config: TrainConfig
    schedule: Schedule
    cluster: Cluster
    device: torch.device
    dtype: torch.dtype
    checkpoint_path: Path
    save: Callable[[], None]
    autocast: NetAutocast | None = None
    log: TensorBoardLog | None = None

    @property
    def per_epoch(self) -> int:
        """Steps per epoch: global batches of ``batch_size``, the last one possibly smaller."""
        return math.ceil(len(self.data.train) / self.config.batch_size)

    def guard(self) -> AbstractContextManager[None]:
        """Around a forward pass: autocast for the nets (bf16) cannot outlive it."""
        return self.autocast.guard() if self.autocast is not None else nullcontext()


def train_epochs(trainer: Trainer, stop: StopRequest) -> int | None:
    """Adam steps until ``epochs`` epochs or ``max_steps`` steps are done, or a signal asks to
    stop; the checkpoint is written (rank 0) at every epoch's end and wherever training stops.

    Returns the signal that stopped training, as every process agreed on it (None: it ran to
    its end). A collective that fails because another process died is a TrainError.
    """
    try:
        return _train_epochs(trainer, stop)
    except Exception as exc:
        if trainer.cluster.distributed and is_peer_failure(exc):
            failure = peer_failure(exc, trainer.cluster)
            raise TrainError(f"{failure}; {kept(trainer.checkpoint_path)}") from None
        raise


def _train_epochs(trainer: Trainer, stop: StopRequest) -> int | None:
    state, config, cluster = trainer.state, trainer.config, trainer.cluster
    train = trainer.data.train
    sampler = ShardedBatches(len(train), config.batch_size, config.seed, cluster.rank, cluster.world_size)
    loader = torch.utils.data.DataLoader(
        train,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=config.workers,
        pin_memory=trainer.device.type == "cuda",
        persistent_workers=config.workers > 0,
    )
    agreed: int | None = None
    trainer.module.train()
    while state.epoch < config.epochs and not capped(state, config.max_steps) and agreed is None:
        sampler.set_epoch(state.epoch, state.batch_in_epoch)
        if not state.initialized:
            initialize(trainer, sampler)
        with progress(trainer.per_epoch, state, config.epochs, cluster.is_main) as bar:
            start = time.perf_counter()
            batches = iter(loader)
            while state.batch_in_epoch < trainer.per_epoch and not capped(state, config.max_steps) and agreed is None:
                batch = move(next(batches), trainer.device, trainer.dtype)
                size = len(sampler.global_batch(state.batch_in_epoch))
                weight = 0.0 if sampler.padding(state.batch_in_epoch) else 1.0
                loss, agreed = take_step(trainer, batch, size, stop, weight)
                state.batch_in_epoch += 1
                state.step += 1
                state.examples += size
                state.loss_sum += loss
                show(bar, state, trainer.io, state.seconds + time.perf_counter() - start)
            del batches  # its worker processes stop here, not at the next epoch's start
            state.seconds += time.perf_counter() - start
        if state.batch_in_epoch == trainer.per_epoch:
            end_epoch(trainer)
        if cluster.is_main:
            trainer.save()
    if agreed is None and cluster.distributed:
        # A signal that came after the last step's collective: stop every process the same way.
        agreed, _ = cluster.agree_stop(stop.signum)
    elif not cluster.distributed:
        agreed = stop.signum
    cluster.barrier()  # nobody exits (or is stopped by torchrun) before rank 0 has saved
    return agreed


def initialize(trainer: Trainer, sampler: ShardedBatches) -> None:
    """Data-dependent initialisation (``actnorm``) from the first global batch of the run, each
    process passing its share and the statistics summed over all of them."""
    from survae_dsl.nn.actnorm import statistics_summed_by

    cluster = trainer.cluster
    share = sampler.global_batch(0).tensor_split(cluster.world_size)[cluster.rank].tolist()
    batch = move(trainer.data.train.__getitems__(share), trainer.device, trainer.dtype)
    torch.manual_seed(noise_seed(trainer.config.seed, -1, cluster.rank))
    with statistics_summed_by(cluster.sum_tensor), trainer.guard():
        trainer.model.initialize(batch[trainer.io.input_name], **trainer.io.context_of(batch))
    trainer.state.initialized = True


def capped(state: TrainState, max_steps: int | None) -> bool:
    """Whether ``--max-steps`` has been reached."""
    return max_steps is not None and state.step >= max_steps


def take_step(
    trainer: Trainer, batch: dict[str, Tensor], global_size: int, stop: StopRequest, weight: float = 1.0
) -> tuple[float, int | None]:
    """One Adam step on this process's ``batch`` (its share of a global batch of ``global_size``
    examples; ``weight`` 0 for the stand-in of an empty share, which adds nothing); returns the
    global batch's mean loss and the stop signal the processes agreed on. A non-finite loss or
    gradient stops the run (TrainError naming the step and the layer)."""
    state, config, cluster, model = trainer.state, trainer.config, trainer.cluster, trainer.model
    seed = noise_seed(config.seed, state.step, cluster.rank)
    torch.manual_seed(seed)  # every device's generator: the noise of this step, on any device
    with trainer.guard():
        neg_sum: Tensor = trainer.steps.call(trainer.steps.loss, batch)
    if weight != 1.0:
        neg_sum = neg_sum * weight
    local = neg_sum.item()
    agreed, (total,) = cluster.agree_stop(stop.signum, local)
    value = total / global_size
    where = f"step {state.step + 1} (epoch {state.epoch + 1}, batch {state.batch_in_epoch + 1})"
    if not math.isfinite(value):
        if math.isfinite(local):
            reason = f"; this process's share is finite (process {cluster.rank}): see the others' messages"
        else:
            reason = diagnose(model, trainer.io, batch, seed)
        raise TrainError(f"the loss is {value} at {where}{reason}; {kept(trainer.checkpoint_path)}")
    trainer.module.zero_grad(set_to_none=True)
    loss = neg_sum * (cluster.world_size / global_size)
    trainer.steps.call(loss.backward)  # a compiled loss compiles its backward graph on this first call
    parameters = [p for p in model.parameters() if p.grad is not None]
    total_norm = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
    norm = float(total_norm)
    if not math.isfinite(norm):
        bad = next(
            (name for name, p in model.named_parameters() if p.grad is not None and not p.grad.isfinite().all()), None
        )
        if bad is not None:
            where += layer_line(model, bad)
            raise TrainError(f"the gradient of `{bad}` is not finite at {where}; {kept(trainer.checkpoint_path)}")
    if config.clip_grad is not None:
        torch.nn.utils.clip_grads_with_norm_(parameters, config.clip_grad, total_norm)
    lr = trainer.schedule.lr(state.step, state.epoch)
    for group in trainer.optimizer.param_groups:
        if isinstance(group["lr"], Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr
    trainer.steps.call(trainer.steps.update)
    state.grad_norm_sum += norm
    if trainer.log is not None:
        trainer.log.step(state.step + 1, value, lr, norm)
    return value, agreed


def kept(checkpoint: Path) -> str:
    """The end of a divergence message: what happened to the checkpoint."""
    if checkpoint.exists():
        return f"stopped; the checkpoint {checkpoint} is left as it was"
    return "stopped; no checkpoint was written"


@contextmanager
def progress(total: int, state: TrainState, epochs: int, shown: bool) -> Iterator[Any]:
    """A tqdm bar for one epoch on stderr (off when stderr is not a terminal, and off in all
    processes but rank 0)."""
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        initial=state.batch_in_epoch,
        desc=f"epoch {state.epoch + 1}/{epochs}",
        file=sys.stderr,
        disable=None if shown else True,
        leave=True,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    try:
        yield bar
    finally:
        bar.close()


def show(bar: Any, state: TrainState, io: ModelIO, seconds: float) -> None:
    """Advance the bar; its postfix shows the epoch's mean loss (bits/dim for int data) and speed."""
    bar.update(1)
    mean = state.loss_sum / state.batch_in_epoch
    input_type = io.input_type
    value = f"{mean / (math.log(2) * input_type.size):.3f} bpd" if input_type.domain.is_discrete else f"{mean:.3f} nats"
    rate = state.examples / seconds if seconds > 0 else 0.0
    bar.set_postfix_str(f"loss {value}, {rate:,.0f} ex/s", refresh=False)


def end_epoch(trainer: Trainer) -> None:
    """Record the finished epoch (mean train loss, gradient norm, rate; on rank 0 the held-out
    log_prob, and the TensorBoard figures) and start the next."""
    state, io, cluster = trainer.state, trainer.io, trainer.cluster
    per_epoch = trainer.per_epoch
    train_nll = state.loss_sum / per_epoch
    entry: dict[str, Any] = {
        "epoch": state.epoch + 1,
        "step": state.step + 0,
        "train_loss_nats": train_nll,
        "lr": trainer.schedule.lr(state.step - 1, state.epoch),
        "grad_norm": state.grad_norm_sum / per_epoch,
    }
    if cluster.is_main:  # the others do not wait for it: they meet rank 0 at the next step
        trainer.model.eval()
        test_ll = mean_log_prob(trainer.model, trainer.data.test, io, state.epoch, trainer.device)
        trainer.model.train()
        bits = -test_ll / (math.log(2) * io.input_type.size)
        entry.update({"test_log_prob_nats": test_ll, "test_bits_per_dim": bits})
        print(
            f"epoch {state.epoch + 1}: train loss {train_nll:.4f} nats, test log_prob {test_ll:.4f} nats "
            f"({bits:.4f} bits/dim)",
            file=sys.stderr,
        )
        if trainer.log is not None:
            trainer.log.epoch(state.step, bits, sample_grid(trainer))
    state.history.append(entry)
    state.epoch += 1
    state.batch_in_epoch = 0
    state.loss_sum = 0.0
    state.grad_norm_sum = 0.0


def sample_grid(trainer: Trainer) -> Tensor | None:
    """The epoch's image of samples for TensorBoard (`plots.sample_grid`), or None."""
    from . import plots

    grid_of = getattr(plots, "sample_grid", None)
    if grid_of is None:
        return None
    trainer.model.eval()
    try:
        grid: Tensor | None = grid_of(trainer.model, trainer.io, trainer.data, trainer.config.seed, trainer.device)
    except Exception as exc:  # noqa: BLE001 - a picture is a bonus; the run goes on
        print(f"survae-train: warning: no sample grid: {type(exc).__name__}: {exc}", file=sys.stderr)
        grid = None
    finally:
        trainer.model.train()
    return grid
