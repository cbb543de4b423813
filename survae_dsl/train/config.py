"""`TrainConfig`: everything one training run takes (what the `survae-train` options set)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainConfig:
    """The options of one run; the defaults are the command line's.

    ``data`` is a bundled data set's name or a ``.npy`` file whose array is ``(N, *input shape)``;
    ``test`` a ``.npy`` file of held-out examples (default: the set's test split, or 10% of the
    file). ``out`` defaults to ``out/train/MODEL-DATA``. The options that must match to
    ``resume`` are listed in `checkpoints.RESUME_KEYS`.
    """

    model_file: str | Path
    data: str | Path
    model: str | None = None  # the model to train when the file holds several
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    out: str | Path | None = None
    iw_k: int = 100  # importance samples of the IW bound (lower-bound models); 0 skips it
    test: str | Path | None = None
    max_steps: int | None = None
    compile: bool = False  # run each step through torch.compile
    resume: bool = False  # continue from OUT/checkpoint.pt

    def __post_init__(self) -> None:
        # The command line checks these as it parses; a Python caller gets the same limits here.
        for name in ("epochs", "batch_size") + (("max_steps",) if self.max_steps is not None else ()):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"TrainConfig.lr must be positive, got {self.lr!r}")
        if not isinstance(self.iw_k, numbers.Integral) or self.iw_k < 0:
            raise ValueError(f"TrainConfig.iw_k must be an int >= 0, got {self.iw_k!r}")
