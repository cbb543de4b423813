"""Evaluation of a trained model: mean log_prob and bits/dim, the IW bound, the true density."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .data_loading import Data
from .model_input import InputType

if TYPE_CHECKING:
    from survae_dsl.nn import Model

# `iw_log_prob` (k forward passes per example) runs on the first IW_EXAMPLES held-out examples.
IW_EXAMPLES = 500
# Train-set metrics are computed on at most this many training examples (the first ones).
TRAIN_EVAL_EXAMPLES = 20_000
# Examples per evaluation forward pass.
EVAL_BATCH = 1_024


@torch.no_grad()
def mean_log_prob(model: Model, x: Tensor, seed: int) -> float:
    """Mean log_prob in nats over ``x`` (``(N, *shape)``), in chunks; noise drawn from its own seeded stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.cat([model.log_prob(chunk) for chunk in torch.split(x, EVAL_BATCH)]).double().mean().item()


def evaluate(model: Model, data: Data, input_type: InputType, seed: int, iw_k: int) -> dict[str, Any]:
    """Train and held-out metrics: log_prob, bits/dim, the IW bound (``iw_k`` samples; 0 skips it)
    and the true density. Each figure draws its noise from a stream seeded by ``seed``."""
    from survae_dsl.nn import iw_log_prob

    bits = math.log(2) * input_type.size
    train_x = data.train[:TRAIN_EVAL_EXAMPLES]
    train_ll = mean_log_prob(model, train_x, seed=seed + 1)
    test_ll = mean_log_prob(model, data.test, seed=seed + 2)
    result: dict[str, Any] = {
        "train": {"examples": train_x.shape[0], "log_prob_nats": train_ll, "bits_per_dim": -train_ll / bits},
        "test": {"examples": data.test.shape[0], "log_prob_nats": test_ll, "bits_per_dim": -test_ll / bits},
    }
    if model.likelihood == "lower_bound" and iw_k > 0:
        subset = data.test[:IW_EXAMPLES]
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 3)
            iw = torch.cat([iw_log_prob(model, chunk, k=iw_k) for chunk in torch.split(subset, EVAL_BATCH)])
        iw_ll = iw.double().mean().item()
        result["test"]["iw"] = {
            "k": iw_k,
            "examples": subset.shape[0],
            "log_prob_nats": iw_ll,
            "bits_per_dim": -iw_ll / bits,
            # The one-sample bound on the same subset, to compare with.
            "elbo_nats": mean_log_prob(model, subset, seed=seed + 4),
        }
    if data.closed_form is not None:
        from survae_dsl.data import log_density

        true_ll = log_density(data.closed_form, data.test.double()).mean().item()
        result["test"]["true_log_prob_nats"] = true_ll
        result["test"]["true_bits_per_dim"] = -true_ll / bits
    return result
