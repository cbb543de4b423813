"""The learning-rate schedule: linear warm-up, then no decay, exponential decay per epoch, or cosine.

The rate is a pure function of where training stands (steps and epochs completed, both in the
checkpoint) and of options that must match to resume, so a resumed run follows the same
schedule to the step; no scheduler state needs saving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import TrainConfig


@dataclass(frozen=True)
class Schedule:
    """``lr(step, epoch) = base · warm(step) · decay(step, epoch)``.

    - warm-up: ``(step + 1) / warmup`` for the first ``warmup`` steps (the first step is not at
      rate 0), then 1;
    - ``exponential``: ``gamma ** epoch`` (epochs completed), as the SurVAE paper's experiments
      decay the rate once per epoch;
    - ``cosine``: ``½(1 + cos(π·t/T))`` with t the steps after the warm-up and T those of the
      whole run as planned (``epochs`` × steps per epoch less the warm-up): 1 at the end of the
      warm-up, 0 at the last step of the last epoch. ``--max-steps`` only stops early.
    """

    base: float
    warmup: int
    decay: str
    gamma: float
    total_steps: int

    @classmethod
    def of(cls, config: TrainConfig, steps_per_epoch: int) -> Schedule:
        """The schedule of a run whose epochs have ``steps_per_epoch`` steps."""
        return cls(config.lr, config.warmup, config.decay, config.gamma, config.epochs * steps_per_epoch)

    def lr(self, step: int, epoch: int) -> float:
        """The rate of the step that follows ``step`` completed steps, in epoch ``epoch + 1``."""
        factor = min(1.0, (step + 1) / self.warmup) if self.warmup > 0 else 1.0
        if self.decay == "exponential":
            factor *= self.gamma**epoch
        elif self.decay == "cosine":
            length = max(1, self.total_steps - self.warmup)
            progress = min(1.0, max(0.0, (step - self.warmup) / length))
            factor *= 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.base * factor

    def describe(self) -> dict[str, object]:
        """What metrics.json records of it."""
        return {"warmup": self.warmup, "decay": self.decay, "gamma": self.gamma, "total_steps": self.total_steps}
