"""The model to train: its compiled class, and the one input type that the data must fit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from survae_dsl.types import TensorType, parse_type

from .errors import TrainError

# The model's input type: its domain, shape and `size` (the D of bits/dim).
InputType = TensorType


def load_model_class(model_file: str | Path, model: str | None) -> type[Any]:
    """The compiled class of ``model_file`` (``model`` picks one of several); a model that does
    not compile has its diagnostics printed on stderr and becomes a one-line TrainError."""
    import survae_dsl
    from survae_dsl.compiler.core.diagnostics import CompileError

    try:
        return survae_dsl.load(model_file, model=model)
    except CompileError as exc:
        several = next((d for d in exc.diagnostics if d.code == "E213"), None)
        if several is not None:  # load()'s hint names its keyword; ours is the option
            raise TrainError(f"{several.message}: pass --model NAME") from None
        print(exc.render(), file=sys.stderr)
        errors = sum(d.is_error for d in exc.diagnostics)
        raise TrainError(f"{model_file} does not compile ({errors} error{'s' * (errors != 1)})") from None
    except OSError as exc:
        raise TrainError(f"cannot read {model_file}: {exc.strerror or exc}") from None


def single_input(cls: type[Any]) -> InputType:
    """The model's one input type; models with contexts or several inputs are refused."""
    if cls.context_names:
        contexts = ", ".join(f"`{c}`" for c in cls.context_names)
        raise TrainError(
            f"model `{cls.model_name}` is conditioned on {contexts}: survae-train does not train conditional models yet"
        )
    if len(cls.input_names) != 1:
        inputs = ", ".join(f"`{i}`" for i in cls.input_names)
        raise TrainError(f"model `{cls.model_name}` has several inputs ({inputs}): survae-train takes one input only")
    return input_type(cls.input_types[cls.input_names[0]])


def input_type(value: object) -> InputType:
    """An entry of a compiled class's `input_types`: a `survae_dsl.types.TensorType`. A module
    compiled with `--standalone` holds its own copy of that class, read back through its text."""
    if isinstance(value, TensorType):
        return value
    try:
        return parse_type(str(value))
    except ValueError as exc:
        raise TrainError(str(exc)) from None
