"""Checkpoints in OUT: atomic writes, the temporaries a killed run leaves, and resuming."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .errors import TrainError
from .state import TrainState

CHECKPOINT = "checkpoint.pt"
# The files written in OUT (through `write_atomic`: a temporary `.NAME.XXXXXXXX.tmp`, then a rename).
OUTPUTS = (CHECKPOINT, "metrics.json", "density.png", "samples.png")
# 2: the batch order and noise became functions of (seed, epoch) and (seed, step, rank).
CHECKPOINT_VERSION = 2
# Options that must be the same to --resume a checkpoint (epochs, max-steps, iw-k, device,
# workers, tensorboard and the number of processes may change). `compile` and `precision` too:
# compiled kernels and bf16 nets round differently; the schedule and clipping shape the steps.
# The number of processes is recorded (`world_size`) but may differ: the global batch order is
# the same for any number, so the run continues from the checkpoint (bit for bit only with the
# same number, whose sums of gradients over processes round the same way).
RESUME_KEYS = (
    "model",
    "data",
    "test",
    "batch_size",
    "lr",
    "seed",
    "compile",
    "precision",
    "dtype",
    "warmup",
    "decay",
    "gamma",
    "clip_grad",
)
# What a checkpoint written before an option existed is taken to have used.
_RESUME_DEFAULTS: dict[str, Any] = {
    "compile": False,
    "precision": "fp32",
    "dtype": "float32",
    "warmup": 0,
    "decay": "none",
    "gamma": 1.0,
    "clip_grad": None,
}


def run_identity(
    config: TrainConfig, model_name: str, data_name: str, test_source: str, world_size: int
) -> dict[str, Any]:
    """The options a checkpoint records (its ``config``), of which RESUME_KEYS must match to resume."""
    return {
        "model_file": str(Path(config.model_file).resolve()),
        "model": model_name,
        "data": data_name,
        "test": test_source,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "seed": config.seed,
        "compile": config.compile,
        "precision": config.precision,
        "dtype": config.dtype,
        "warmup": config.warmup,
        "decay": config.decay,
        "gamma": config.gamma,
        "clip_grad": config.clip_grad,
        "world_size": world_size,
    }


def save_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainState, identity: dict[str, Any]
) -> None:
    """Write the checkpoint atomically: a temporary file in OUT, then os.replace. ``model`` is the
    model itself (not its DistributedDataParallel wrapper); its tensors are saved as they are
    (on their device: `read_checkpoint` maps them to the CPU)."""
    from survae_dsl.compiler.core.files import write_atomic

    payload = {
        "version": CHECKPOINT_VERSION,
        "config": identity,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": {"torch": torch.get_rng_state()},
        "state": state.as_dict(),
        "torch": str(torch.__version__),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        write_atomic(path, buffer.getvalue())
    except OSError as exc:
        raise TrainError(f"cannot write the checkpoint {path}: {exc.strerror or exc}") from None


def remove_temporaries(out: Path) -> None:
    """Remove the temporary files (``.checkpoint.pt.XXXXXXXX.tmp`` and the like) that a run killed
    while writing leaves in OUT; the files they were to replace are whole and are kept."""
    from survae_dsl.trained import BUNDLE_FILES

    names = (*OUTPUTS, *BUNDLE_FILES)
    pattern = re.compile("|".join(rf"\.{re.escape(name)}\.\w+\.tmp" for name in names))
    removed = []
    for path in sorted(out.iterdir()):
        if pattern.fullmatch(path.name) and path.is_file():
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path.name)
    if removed:
        print(f"survae-train: removed {', '.join(removed)} in {out}, left by an interrupted run", file=sys.stderr)


def read_checkpoint(path: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint to resume from, refused if it was made with other options."""
    if not path.is_file():
        raise TrainError(f"--resume: there is no checkpoint at {path}")
    try:
        checkpoint: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise TrainError(f"--resume: cannot read the checkpoint {path}: {exc}") from None
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise TrainError(f"--resume: {path} was written by another version of survae-train")
    for key in RESUME_KEYS:
        made_with = checkpoint["config"].get(key, _RESUME_DEFAULTS.get(key))
        if made_with != identity[key]:
            raise TrainError(
                f"--resume: {path} was made with {key} = {made_with!r}, not {identity[key]!r}; "
                "pass the same options, or start again without --resume"
            )
    return checkpoint


def restore(checkpoint: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer) -> TrainState:
    """Load a checkpoint's weights and optimizer state (onto the model's device); return its
    training state. (The RNG state it records is for information: the noise of each step is
    seeded by (seed, step, rank), `distributed.noise_seed`.)"""
    try:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainError(f"--resume: the checkpoint does not fit the model (was it edited?): {first_line}") from None
    return TrainState(**checkpoint["state"])
