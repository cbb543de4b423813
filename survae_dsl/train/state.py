"""`TrainState`: where training stands, the part of a checkpoint besides weights and optimizer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass
class TrainState:
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
    def fresh(cls, seed: int) -> TrainState:
        """A run that has not started: the batch order is seeded by ``seed``."""
        order_state = torch.Generator().manual_seed(seed).get_state()
        return cls(0, 0, 0, order_state, 0.0, 0.0, 0, False, [])

    def as_dict(self) -> dict[str, Any]:
        """The fields, for the checkpoint (``TrainState(**d)`` restores them)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
