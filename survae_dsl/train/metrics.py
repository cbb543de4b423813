"""The metrics report: its contents, OUT/metrics.json, and the summary printed at the end."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoints import CHECKPOINT
from .config import TrainConfig
from .data_loading import Data
from .model_input import ModelIO
from .schedule import Schedule
from .state import TrainState


def metrics_report(
    cls: type[Any],
    model: nn.Module,
    data: Data,
    io: ModelIO,
    config: TrainConfig,
    state: TrainState,
    evaluation: dict[str, Any],
    plots: Any,
    world_size: int,
    device: str,
    schedule: Schedule,
) -> dict[str, Any]:
    """The contents of metrics.json. ``world_size`` is the number of processes that trained
    (the last part of a resumed run), ``device`` where (rank 0's device)."""
    return {
        "model": cls.model_name,
        "model_file": str(config.model_file),
        "likelihood": cls.likelihood,
        "input_type": str(io.input_type),
        "contexts": {name: str(declared) for name, declared in io.contexts.items()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {
            "name": data.name,
            "train_examples": len(data.train),
            "test": data.test_source,
            "test_examples": len(data.test),
        },
        "seed": config.seed,
        "epochs": config.epochs,
        "epochs_completed": state.epoch,
        "steps": state.step,
        "max_steps": config.max_steps,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "compile": config.compile,
        "world_size": world_size,
        "device": device,
        "precision": config.precision,
        "dtype": config.dtype,
        "workers": config.workers,
        "schedule": schedule.describe(),
        "clip_grad": config.clip_grad,
        "seconds": state.seconds,
        "examples_per_second": state.examples / state.seconds if state.seconds > 0 else None,
        **evaluation,
        "history": state.history,
        "plots": plots,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
    }


def write_metrics_json(path: Path, report: dict[str, Any]) -> None:
    """metrics.json, atomically; a non-finite number is written as null (with a warning)."""
    from survae_dsl.compiler.core.files import write_atomic

    def clean(value: Any, where: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            print(f"survae-train: warning: {where} is {value}; written as null", file=sys.stderr)
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{where}.{k}" if where else k) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    text = json.dumps(clean(report, ""), indent=2, allow_nan=False) + "\n"
    write_atomic(path, text.encode("utf-8"))


def print_summary(report: dict[str, Any], out: Path) -> None:
    """A few lines on stdout: the held-out numbers and where the outputs are."""
    test = report["test"]
    print(
        f"{report['model']} ({report['likelihood']}) on {report['data']['name']}: "
        f"{report['steps']} steps, {report['seconds']:.1f} s"
    )
    print(f"  test log_prob {test['log_prob_nats']:.4f} nats, {test['bits_per_dim']:.4f} bits/dim")
    if "iw" in test:
        iw = test["iw"]
        print(
            f"  test IW bound (k={iw['k']}, {iw['examples']} examples) {iw['log_prob_nats']:.4f} nats, "
            f"{iw['bits_per_dim']:.4f} bits/dim (one-sample bound there: {iw['elbo_nats']:.4f})"
        )
    if "true_log_prob_nats" in test:
        print(f"  true test log-likelihood {test['true_log_prob_nats']:.4f} nats")
    print(f"wrote {out / 'metrics.json'}, {out / CHECKPOINT}" + "".join(f", {out / p}" for p in report["plots"]))
