"""`TrainConfig`: everything one training run takes (what the `survae-train` options set)."""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path

DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
PRECISIONS = ("fp32", "bf16")
DTYPES = ("float32", "float64")
DECAYS = ("none", "exponential", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """The options of one run; the defaults are the command line's.

    ``data`` is a bundled data set's name, a ``.npy`` file whose array is ``(N, *input shape)``
    (memory-mapped), a ``.npz`` holding one array per input and context name, or a folder of
    images; ``test`` held-out examples in the same forms (default: the set's test split, or 10%
    of the file). ``out`` defaults to ``out/train/MODEL-DATA``. The options that must match to
    ``resume`` are listed in `checkpoints.RESUME_KEYS`.

    ``batch_size`` is the global batch: under ``torchrun`` each of the N processes takes its
    share (about batch_size / N examples) of every step's batch.
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
    device: str = "auto"  # auto|cpu|cuda|cuda:N (auto: CUDA when available)
    precision: str = "fp32"  # fp32|bf16 (bf16: the nets under autocast; densities stay float32)
    dtype: str = "float32"  # the model's parameters and densities: float32|float64
    workers: int = 0  # DataLoader worker processes
    context: str | Path | None = None  # --context FILE.npy: the context of a one-context model
    test_context: str | Path | None = None  # --test-context FILE.npy, with --test
    tensorboard: str | Path | None = None  # a folder for TensorBoard event files (rank 0)
    warmup: int = 0  # linear warm-up steps
    decay: str = "none"  # none|exponential (×gamma per epoch)|cosine (to 0 over --epochs)
    gamma: float = 1.0  # per-epoch factor of exponential decay
    clip_grad: float | None = None  # max global gradient norm; None: no clipping

    def __post_init__(self) -> None:
        # The command line checks these as it parses; a Python caller gets the same limits here.
        for name in ("epochs", "batch_size") + (("max_steps",) if self.max_steps is not None else ()):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"TrainConfig.lr must be positive, got {self.lr!r}")
        for name in ("iw_k", "workers", "warmup"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"TrainConfig.{name} must be an int >= 0, got {value!r}")
        if not isinstance(self.device, str) or not DEVICE.fullmatch(self.device):
            raise ValueError(f"TrainConfig.device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        for name, choices in (("precision", PRECISIONS), ("dtype", DTYPES), ("decay", DECAYS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"TrainConfig.{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if not (0 < self.gamma <= 1):
            raise ValueError(f"TrainConfig.gamma must be in (0, 1], got {self.gamma!r}")
        if self.clip_grad is not None and not (self.clip_grad > 0 and math.isfinite(self.clip_grad)):
            raise ValueError(f"TrainConfig.clip_grad must be positive, got {self.clip_grad!r}")
        if self.precision == "bf16" and self.dtype == "float64":
            raise ValueError("TrainConfig.precision bf16 runs float32 models; it cannot go with dtype float64")
        if self.test_context is not None and self.test is None:
            raise ValueError("TrainConfig.test_context goes with test (the held-out file it is the context of)")
