"""`TrainState`: where training stands, the part of a checkpoint besides weights and optimizer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TrainState:
    """Where training stands: what a checkpoint holds besides the model and optimizer.

    The batch order of an epoch and the noise of a step are functions of (seed, epoch) and
    (seed, step, rank) (`distributed.epoch_order`, `distributed.noise_seed`), and the learning
    rate one of (step, epoch) (`schedule.Schedule`): these counters are all a resume needs.
    """

    epoch: int  # completed epochs
    step: int  # completed steps, all epochs
    batch_in_epoch: int  # completed steps of the current (unfinished) epoch
    loss_sum: float  # sum of the current epoch's batch losses so far (for its mean)
    grad_norm_sum: float  # sum of the current epoch's gradient norms (before clipping)
    seconds: float  # training time so far
    examples: int  # examples seen so far, all epochs, all processes
    initialized: bool
    history: list[dict[str, Any]]

    @classmethod
    def fresh(cls) -> TrainState:
        """A run that has not started."""
        return cls(0, 0, 0, 0.0, 0.0, 0.0, 0, False, [])

    def as_dict(self) -> dict[str, Any]:
        """The fields, for the checkpoint (``TrainState(**d)`` restores them)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
