"""The model to export: from a `.survae` file (fresh weights) or a trained run folder."""

from __future__ import annotations

from pathlib import Path

import torch

from ..nn.model import Model
from .errors import ExportError

__all__ = ["load_model"]


def load_model(source: str | Path, model_name: str | None = None, seed: int = 0) -> Model:
    """A model instance: a trained bundle (a ``survae-train`` output folder or its packed
    ``.zip``, read by ``survae_dsl.trained.load_trained``) or a ``.survae`` file compiled with
    fresh weights, initialised from ``seed``."""
    path = Path(source)
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
        return _trained(path, model_name)
    if not path.is_file():
        raise ExportError(f"{path}: no such file or run folder")
    return _fresh(path, model_name, seed)


def _trained(bundle: Path, model_name: str | None) -> Model:
    """The trained model of a bundle; its loader's errors are one line already."""
    try:
        from ..trained import load_trained
    except ImportError:  # an installation without the trainer's bundles
        raise ExportError(f"{bundle} is a trained bundle, but this installation cannot read bundles") from None
    try:
        model: Model = load_trained(bundle, device="cpu", model=model_name)
    except ValueError as exc:  # BundleError: which file and what, in one line
        raise ExportError(str(exc)) from None
    except OSError as exc:
        raise ExportError(f"cannot read the bundle {bundle}: {exc.strerror or exc}") from None
    return model


def _fresh(path: Path, model_name: str | None, seed: int) -> Model:
    from ..compiler.core.diagnostics import CompileError
    from ..compiler.drivers.api import load

    try:
        cls = load(path, model=model_name)
    except CompileError as exc:
        several = next((d for d in exc.diagnostics if d.code == "E213"), None)
        if several is not None:
            raise ExportError(f"{several.message}: pass --model NAME") from None
        errors = [d for d in exc.diagnostics if d.is_error]
        first = errors[0].message if errors else "it does not compile"
        raise ExportError(f"{path} does not compile: {first} (survae-compile --check {path} shows why)") from None
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: Model = cls()
    return model
