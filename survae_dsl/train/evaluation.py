"""Evaluation of a trained model: mean log_prob and bits/dim, the IW bound, the true density.

Every figure is computed on ``device`` with the unwrapped model (rank 0 of a distributed run
calls these alone), the examples' contexts passed with their inputs, in chunks of EVAL_BATCH.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .data_loading import Data
from .examples import ExampleSet, move
from .model_input import ModelIO

if TYPE_CHECKING:
    from survae_dsl.nn import Model

# `iw_log_prob` (k forward passes per example) runs on the first IW_EXAMPLES held-out examples.
IW_EXAMPLES = 500
# Train-set metrics are computed on at most this many training examples (the first ones).
TRAIN_EVAL_EXAMPLES = 20_000
# Examples per evaluation forward pass.
EVAL_BATCH = 1_024


def float_dtype_of(model: nn.Module) -> torch.dtype:
    """The dtype of ``model``'s floating parameters (float32 for a model without any)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


@contextmanager
def seeded(seed: int, device: torch.device | str) -> Iterator[None]:
    """Draw noise from a stream seeded by ``seed`` (on the CPU and, for a CUDA ``device``, on it),
    leaving the caller's random state as it was."""
    target = torch.device(device)
    devices: list[int] = []
    if target.type == "cuda":
        devices = [target.index if target.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)  # seeds the CUDA generators too
        yield


@torch.no_grad()
def mean_log_prob(
    model: Model, examples: ExampleSet, io: ModelIO, seed: int, device: torch.device | str, *, limit: int | None = None
) -> float:
    """Mean log_prob in nats over ``examples`` (the first ``limit`` of them), each input given
    its contexts, on ``device``; noise drawn from its own stream seeded by ``seed``."""
    dtype = float_dtype_of(model)
    with seeded(seed, device):
        values = [
            model.log_prob(batch[io.input_name], **io.context_of(batch)).double().cpu()
            for batch in (move(b, device, dtype) for b in examples.batches(EVAL_BATCH, limit))
        ]
    return torch.cat(values).mean().item()


def evaluate(model: Model, data: Data, io: ModelIO, seed: int, iw_k: int, device: torch.device | str) -> dict[str, Any]:
    """Train and held-out metrics: log_prob, bits/dim, the IW bound (``iw_k`` samples; 0 skips it)
    and the true density. Each figure draws its noise from a stream seeded by ``seed``."""
    bits = math.log(2) * io.input_type.size
    n_train = min(TRAIN_EVAL_EXAMPLES, len(data.train))
    train_ll = mean_log_prob(model, data.train, io, seed + 1, device, limit=n_train)
    test_ll = mean_log_prob(model, data.test, io, seed + 2, device)
    result: dict[str, Any] = {
        "train": {"examples": n_train, "log_prob_nats": train_ll, "bits_per_dim": -train_ll / bits},
        "test": {"examples": len(data.test), "log_prob_nats": test_ll, "bits_per_dim": -test_ll / bits},
    }
    if model.likelihood == "lower_bound" and iw_k > 0:
        n_iw = min(IW_EXAMPLES, len(data.test))
        iw_ll = _mean_iw(model, data.test, io, iw_k, n_iw, seed + 3, device)
        result["test"]["iw"] = {
            "k": iw_k,
            "examples": n_iw,
            "log_prob_nats": iw_ll,
            "bits_per_dim": -iw_ll / bits,
            # The one-sample bound on the same subset, to compare with.
            "elbo_nats": mean_log_prob(model, data.test, io, seed + 4, device, limit=n_iw),
        }
    if data.closed_form is not None:
        from survae_dsl.data import log_density

        inputs = torch.cat([batch[io.input_name] for batch in data.test.batches(EVAL_BATCH)])
        true_ll = log_density(data.closed_form, inputs.double()).mean().item()
        result["test"]["true_log_prob_nats"] = true_ll
        result["test"]["true_bits_per_dim"] = -true_ll / bits
    return result


@torch.no_grad()
def _mean_iw(
    model: Model, examples: ExampleSet, io: ModelIO, k: int, limit: int, seed: int, device: torch.device | str
) -> float:
    """Mean `iw_log_prob` (``k`` samples) over the first ``limit`` examples, given their contexts."""
    from survae_dsl.nn import iw_log_prob

    dtype = float_dtype_of(model)
    with seeded(seed, device):
        values = [
            iw_log_prob(model, batch[io.input_name], k=k, **io.context_of(batch)).double().cpu()
            for batch in (move(b, device, dtype) for b in examples.batches(EVAL_BATCH, limit))
        ]
    return torch.cat(values).mean().item()
