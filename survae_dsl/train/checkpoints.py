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
CHECKPOINT_VERSION = 1
# Options that must be the same to --resume a checkpoint (epochs, max-steps, iw-k may change).
# `compile` too: compiled kernels round differently and draw their noise from another stream.
RESUME_KEYS = ("model", "data", "test", "batch_size", "lr", "seed", "compile")
# What a checkpoint written before an option existed is taken to have used.
_RESUME_DEFAULTS: dict[str, Any] = {"compile": False}


def run_identity(config: TrainConfig, model_name: str, data_name: str, test_source: str) -> dict[str, Any]:
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
    }


def save_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainState, identity: dict[str, Any]
) -> None:
    """Write the checkpoint atomically: a temporary file in OUT, then os.replace."""
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
    pattern = re.compile("|".join(rf"\.{re.escape(name)}\.\w+\.tmp" for name in OUTPUTS))
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
    """Load a checkpoint's weights, optimizer and RNG state; return its training state."""
    try:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainError(f"--resume: the checkpoint does not fit the model (was it edited?): {first_line}") from None
    torch.set_rng_state(checkpoint["rng"]["torch"])
    return TrainState(**checkpoint["state"])
