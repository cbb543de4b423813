"""Train and held-out data for a run, loaded and checked against the model's input type."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .errors import TrainError
from .model_input import InputType

# Fraction of FILE.npy held out for testing when neither a test split nor --test is given,
# chosen by a fixed shuffle (seed SPLIT_SEED) so that runs with different --seed share it.
HELD_OUT_FRACTION = 0.1
SPLIT_SEED = 0


@dataclass
class Data:
    """Train ``(N, *shape)`` and held-out ``(M, *shape)`` tensors with where they came from."""

    train: Tensor
    test: Tensor
    name: str
    test_source: str
    closed_form: str | None  # the data set whose `log_density` is known, if any


def load_data(spec: str, test_file: str | None, input_type: InputType) -> Data:
    """Train and held-out data for ``--data``/``--test``, each checked against the input type
    (a FILE.npy as a whole, before the held-out part is split off)."""
    from survae_dsl import data as datasets

    test: Tensor | None = None
    test_source = test_file
    if spec.endswith(".npy") or os.sep in spec or Path(spec).is_file():
        name, closed_form = spec, None
        train = checked(load_file(spec, datasets), f"{spec}", input_type)
        if test_file is None:
            train, test = hold_out(train, spec)
            test_source = f"{HELD_OUT_FRACTION:.0%} of {spec} held out"
    elif spec in datasets.NAMES:
        name, closed_form = spec, (spec if datasets.has_log_density(spec) else None)
        try:
            train = checked(datasets.load(spec, split="train"), f"{spec} (train split)", input_type)
            if test_file is None:
                test_source = f"{spec} test split"
                test = checked(datasets.load(spec, split="test"), test_source, input_type)
        except ImportError as exc:
            raise TrainError(str(exc)) from None
    else:
        raise TrainError(f"unknown data set {spec!r}: expected a .npy file or one of {', '.join(datasets.NAMES)}")
    if test_file is not None:
        test = checked(load_file(test_file, datasets), f"held-out data {test_file}", input_type)
    assert test is not None and test_source is not None
    return Data(train, test, name, test_source, closed_form)


def checked(x: Tensor, label: str, input_type: InputType) -> Tensor:
    """``x`` in the model's dtype (int64 for ``int<K>``, else float32) once `check_data` accepts it."""
    from survae_dsl.data import check_data

    try:
        check_data(x, input_type)
    except ValueError as exc:
        raise TrainError(f"{label}: {exc}") from None
    return x.long() if input_type.domain.is_discrete else x.float()


def load_file(path: str, datasets: Any) -> Tensor:
    """A ``.npy`` array as a tensor, with a one-line error for a missing or unreadable file."""
    try:
        return torch.as_tensor(datasets.load_array(path))
    except FileNotFoundError:
        raise TrainError(f"no such data file: {path}") from None
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot read {path}: {exc}") from None


def hold_out(x: Tensor, path: str) -> tuple[Tensor, Tensor]:
    """Split ``x`` (``(N, ...)``) into (90%, 10%) of its rows by a shuffle with the fixed seed SPLIT_SEED."""
    if x.ndim == 0 or x.shape[0] < 2:
        raise TrainError(f"{path} holds fewer than 2 examples: nothing to hold out (pass --test FILE.npy)")
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = max(1, round(HELD_OUT_FRACTION * x.shape[0]))
    return x[order[n_test:]], x[order[:n_test]]
