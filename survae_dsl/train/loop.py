"""The training loop: epochs of Adam steps on −mean log_prob, with progress, history and checkpoints."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .checkpoints import save_checkpoint
from .config import TrainConfig
from .data_loading import Data
from .diagnose import diagnose, layer_line
from .errors import TrainError
from .evaluation import mean_log_prob
from .model_input import InputType
from .signals import StopRequest
from .state import TrainState

if TYPE_CHECKING:
    from survae_dsl.nn import Model


@dataclass(frozen=True)
class StepFunctions:
    """What one training step calls: the loss of a batch (−mean log_prob, a scalar) and the
    optimizer's update, either as they are or compiled by `torch.compile`."""

    loss: Callable[[Tensor], Tensor]
    update: Callable[[], Any]
    compiled: bool

    @classmethod
    def build(cls, model: Model, optimizer: torch.optim.Optimizer, use_compile: bool) -> StepFunctions:
        """The loss of ``model`` and ``optimizer``'s step, through `torch.compile` when ``use_compile``."""

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


def train_epochs(
    model: Model,
    optimizer: torch.optim.Optimizer,
    steps: StepFunctions,
    state: TrainState,
    data: Data,
    input_type: InputType,
    config: TrainConfig,
    identity: dict[str, Any],
    checkpoint_path: Path,
    stop: StopRequest,
) -> None:
    """Adam steps until ``config.epochs`` epochs or ``config.max_steps`` steps are done, or a signal
    asks to stop; the checkpoint (recording ``identity``) is written at every epoch's end and
    wherever training stops."""
    epochs, max_steps, batch_size = config.epochs, config.max_steps, config.batch_size
    x = data.train
    n = x.shape[0]
    per_epoch = math.ceil(n / batch_size)
    model.train()
    while state.epoch < epochs and not capped(state, max_steps) and stop.signum is None:
        order_gen = torch.Generator()
        order_gen.set_state(state.order_state)
        order = torch.randperm(n, generator=order_gen)
        if not state.initialized:
            model.initialize(x[order[:batch_size]])
            state.initialized = True
        with progress(per_epoch, state, epochs) as bar:
            start = time.perf_counter()
            while state.batch_in_epoch < per_epoch and not capped(state, max_steps) and stop.signum is None:
                index = order[state.batch_in_epoch * batch_size : (state.batch_in_epoch + 1) * batch_size]
                loss = take_step(model, steps, x[index], state, checkpoint_path)
                state.batch_in_epoch += 1
                state.step += 1
                state.examples += index.numel()
                state.loss_sum += loss
                seconds = state.seconds + time.perf_counter() - start
                show(bar, state, input_type, seconds)
            state.seconds += time.perf_counter() - start
        if state.batch_in_epoch == per_epoch:
            end_epoch(model, state, data, input_type, order_gen, per_epoch)
        save_checkpoint(checkpoint_path, model, optimizer, state, identity)


def capped(state: TrainState, max_steps: int | None) -> bool:
    """Whether ``--max-steps`` has been reached."""
    return max_steps is not None and state.step >= max_steps


def take_step(model: Model, steps: StepFunctions, batch: Tensor, state: TrainState, checkpoint: Path) -> float:
    """One Adam step on −mean log_prob of ``batch`` (``(B, *shape)``); returns the loss. A
    non-finite loss or gradient stops the run (TrainError naming the step and the layer)."""
    rng = torch.get_rng_state()
    loss: Tensor = steps.call(steps.loss, batch)
    value = loss.item()
    where = f"step {state.step + 1} (epoch {state.epoch + 1}, batch {state.batch_in_epoch + 1})"
    if not math.isfinite(value):
        raise TrainError(f"the loss is {value} at {where}{diagnose(model, batch, rng)}; {kept(checkpoint)}")
    model.zero_grad(set_to_none=True)
    steps.call(loss.backward)  # a compiled loss compiles its backward graph on this first call
    bad = next(
        (name for name, p in model.named_parameters() if p.grad is not None and not p.grad.isfinite().all()), None
    )
    if bad is not None:
        raise TrainError(
            f"the gradient of `{bad}` is not finite at {where}{layer_line(model, bad)}; {kept(checkpoint)}"
        )
    steps.call(steps.update)
    return value


def kept(checkpoint: Path) -> str:
    """The end of a divergence message: what happened to the checkpoint."""
    if checkpoint.exists():
        return f"stopped; the checkpoint {checkpoint} is left as it was"
    return "stopped; no checkpoint was written"


@contextmanager
def progress(total: int, state: TrainState, epochs: int) -> Iterator[Any]:
    """A tqdm bar for one epoch on stderr (off when stderr is not a terminal)."""
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        initial=state.batch_in_epoch,
        desc=f"epoch {state.epoch + 1}/{epochs}",
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


def show(bar: Any, state: TrainState, input_type: InputType, seconds: float) -> None:
    """Advance the bar; its postfix shows the epoch's mean loss (bits/dim for int data) and speed."""
    bar.update(1)
    mean = state.loss_sum / state.batch_in_epoch
    value = f"{mean / (math.log(2) * input_type.size):.3f} bpd" if input_type.domain.is_discrete else f"{mean:.3f} nats"
    rate = state.examples / seconds if seconds > 0 else 0.0
    bar.set_postfix_str(f"loss {value}, {rate:,.0f} ex/s", refresh=False)


def end_epoch(
    model: Model, state: TrainState, data: Data, input_type: InputType, order_gen: torch.Generator, per_epoch: int
) -> None:
    """Record the finished epoch (mean train loss, held-out log_prob) and start the next."""
    model.eval()
    test_ll = mean_log_prob(model, data.test, seed=state.epoch)
    model.train()
    train_nll = state.loss_sum / per_epoch
    state.history.append(
        {
            "epoch": state.epoch + 1,
            "step": state.step + 0,
            "train_loss_nats": train_nll,
            "test_log_prob_nats": test_ll,
            "test_bits_per_dim": -test_ll / (math.log(2) * input_type.size),
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
