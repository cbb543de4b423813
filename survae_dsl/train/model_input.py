"""The model to train: its compiled class, its one input and its contexts (`ModelIO`), the
types that the data must fit."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from survae_dsl.types import TensorType, parse_type

from .errors import TrainError

# The model's input type: its domain, shape and `size` (the D of bits/dim).
InputType = TensorType

# A context `int<K>[1]` with at most this many classes is drawn as one row per class.
MAX_CLASS_ROWS = 32


@dataclass(frozen=True)
class ModelIO:
    """What a model reads: its one input and its contexts (declared order; empty when the model
    is unconditional), with their types. A batch is a dict of ``(B, *shape)`` tensors by name."""

    model_name: str
    input_name: str
    input_type: InputType
    contexts: dict[str, InputType]

    @property
    def names(self) -> tuple[str, ...]:
        """The input's name, then the contexts' names: the keys of a batch."""
        return (self.input_name, *self.contexts)

    @property
    def types(self) -> dict[str, InputType]:
        """Every name of `names` with its declared type."""
        return {self.input_name: self.input_type, **self.contexts}

    def log_prob(self, model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        """``model``'s log_prob ``(B,)`` of the batch's input given its contexts. It calls the
        module (a compiled model's ``forward`` is its ``log_prob``), so that a model wrapped in
        DistributedDataParallel synchronises its gradients."""
        log_p: Tensor = model(batch[self.input_name], **self.context_of(batch))
        return log_p

    def context_of(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The batch's contexts by name (empty for an unconditional model)."""
        return {name: batch[name] for name in self.contexts}

    @property
    def class_context(self) -> tuple[str, int] | None:
        """``(name, K)`` when the model has exactly one context and it is a class label
        ``int<K>[1]`` with K ≤ MAX_CLASS_ROWS (plots draw one row per class); else None."""
        if len(self.contexts) != 1:
            return None
        name, declared = next(iter(self.contexts.items()))
        if declared.domain.is_discrete and declared.shape == (1,) and declared.domain.classes <= MAX_CLASS_ROWS:
            return name, declared.domain.classes
        return None

    def describe(self) -> str:
        """``x: int<17>[1, 8, 8] given label: int<10>[1]`` — for messages."""
        given = ", ".join(f"{name}: {declared}" for name, declared in self.contexts.items())
        return f"{self.input_name}: {self.input_type}" + (f" given {given}" if given else "")


def model_io(cls: type[Any]) -> ModelIO:
    """The `ModelIO` of a compiled class; a model with several inputs is refused (one line)."""
    if len(cls.input_names) != 1:
        inputs = ", ".join(f"`{i}`" for i in cls.input_names)
        raise TrainError(f"model `{cls.model_name}` has several inputs ({inputs}): survae-train takes one input only")
    name = cls.input_names[0]
    contexts = {c: input_type(cls.context_types[c]) for c in cls.context_names}
    return ModelIO(cls.model_name, name, input_type(cls.input_types[name]), contexts)


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
    """The model's one input type; models with contexts or several inputs are refused (the
    check of an unconditional trainer; `model_io` accepts contexts)."""
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
