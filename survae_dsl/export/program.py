"""What an exported program computes, and its inputs: the model's data, then every draw.

A dry run of the model (twice, at two batch sizes) records each random draw: its kind, dtype,
shape past the batch axis, and the layer that made it. Those draws become explicit inputs of
the program, after the data, in the order the model makes them; ``Program`` runs the model
with them fed in (``survae_dsl.nn.noise``), so it is a deterministic function of its inputs
whose batch size can stay symbolic.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..nn.model import Model
from ..nn.noise import DrawKind
from ..types import TensorType
from .errors import ExportError
from .inputs import example_value
from .locate import OpSites, Site, site_of_traceback
from .noise_feed import Draw, Feed, Recorder, noise_from

__all__ = ["DataInput", "NoiseInput", "Program", "Signature", "What", "run_model", "signature_of"]

What = Literal["log_prob", "sample"]

# The batch sizes of the dry runs: two, so that what grows with the batch is told apart.
_DRY_BATCHES = (2, 3)


@dataclass(frozen=True)
class DataInput:
    """A declared input or context of the model, ``(B, *declared.shape)``."""

    name: str
    role: Literal["input", "context"]
    declared: TensorType

    def describe(self) -> str:
        return f"{self.name}: {self.declared} ({self.role})"


@dataclass(frozen=True)
class NoiseInput:
    """One random draw made explicit: ``(B, *shape)`` of ``dtype`` — U[0, 1) entries
    (``uniform``), N(0, 1) entries (``normal``) or integers in {0, …, high − 1}
    (``integers``) — drawn by the layer at ``site``."""

    name: str
    kind: DrawKind
    shape: tuple[int, ...]
    dtype: torch.dtype
    high: int | None
    site: Site

    def example(self, batch: int, generator: torch.Generator) -> Tensor:
        """A fresh ``(batch, *shape)`` draw of this input's law."""
        size = (batch, *self.shape)
        if self.kind == "uniform":
            return torch.rand(size, generator=generator, dtype=self.dtype)
        if self.kind == "normal":
            return torch.randn(size, generator=generator, dtype=self.dtype)
        assert self.high is not None
        return torch.randint(0, self.high, size, generator=generator, dtype=self.dtype)

    def describe(self) -> str:
        law = {"uniform": "U[0, 1)", "normal": "N(0, 1)", "integers": f"integers in [0, {self.high})"}[self.kind]
        dtype = str(self.dtype).removeprefix("torch.")
        return f"{self.name}: {dtype} [B, {', '.join(map(str, self.shape))}] of {law}, drawn by {self.site.describe()}"


@dataclass(frozen=True)
class Signature:
    """The inputs and outputs of one exported program of ``model_name``: ``what`` it computes,
    the data (for ``sample``, the contexts only), then the noise; ``outputs`` are named
    ``log_prob`` (``(B,)``) or after the model's inputs (a draw of each)."""

    model_name: str
    what: What
    data: tuple[DataInput, ...]
    noise: tuple[NoiseInput, ...]
    outputs: tuple[str, ...]
    temperature: float
    dtype: torch.dtype
    # The first layer to run each torch op in the dry run ("aten.sort.stable" -> its site).
    op_sites: tuple[tuple[str, Site], ...] = ()

    def site_of_op(self, name: str) -> Site | None:
        """The layer that runs the op ``name`` (``aten.sort.stable``), if the dry run saw it."""
        return dict(self.op_sites).get(name)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.data) + tuple(n.name for n in self.noise)

    def example_data(self, batch: int, generator: torch.Generator) -> list[Tensor]:
        return [example_value(d.declared, batch, generator, self.dtype) for d in self.data]

    def example_noise(self, batch: int, generator: torch.Generator) -> list[Tensor]:
        return [n.example(batch, generator) for n in self.noise]

    def example_inputs(self, batch: int, seed: int = 0) -> list[Tensor]:
        """Data then noise for ``batch`` examples, from a generator seeded with ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        return self.example_data(batch, generator) + self.example_noise(batch, generator)

    def to_json(self) -> dict[str, Any]:
        """The signature as plain data: what each input is (its law, for noise) and each output."""
        return {
            "model": self.model_name,
            "what": self.what,
            "temperature": self.temperature,
            "inputs": [
                *({"name": d.name, "role": d.role, "type": str(d.declared)} for d in self.data),
                *(
                    {
                        "name": n.name,
                        "role": "noise",
                        "law": n.kind,
                        "high": n.high,
                        "shape": ["B", *n.shape],
                        "dtype": str(n.dtype).removeprefix("torch."),
                        "layer": n.site.layer,
                        "where": n.site.where,
                    }
                    for n in self.noise
                ),
            ],
            "outputs": list(self.outputs),
        }

    def describe(self) -> list[str]:
        """One line per input and output, for the command's report."""
        lines = [f"input  {d.describe()}" for d in self.data]
        lines += [f"input  {n.describe()}" for n in self.noise]
        lines += [f"output {name}" for name in self.outputs]
        return lines


def run_model(
    model: Model,
    what: What,
    data: Sequence[DataInput],
    values: Sequence[Tensor],
    *,
    num_samples: int | None = None,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Any:
    """``model.log_prob(inputs, contexts)`` or ``model.sample(...)`` on ``values`` (one per
    ``data`` entry); a ``sample`` without contexts draws ``num_samples``."""
    inputs = [v for d, v in zip(data, values, strict=True) if d.role == "input"]
    contexts = {d.name: v for d, v in zip(data, values, strict=True) if d.role == "context"}
    if what == "log_prob":
        return model.log_prob(*inputs, **contexts)
    count = None if contexts else num_samples
    return model.sample(count, **contexts, temperature=temperature, generator=generator)


class Program(nn.Module):
    """``forward(*data, *noise)``: the model's ``log_prob`` or ``sample`` with its draws fed
    from ``noise``; the module the exporters trace."""

    def __init__(self, model: Model, signature: Signature) -> None:
        super().__init__()
        self.model = model
        self.signature = signature

    def forward(self, *args: Tensor) -> Any:
        signature = self.signature
        count = len(signature.data)
        data, noise = args[:count], args[count:]
        feed = Feed(noise)
        # A sample without contexts draws as many examples as the noise has rows.
        num_samples = noise[0].shape[0] if noise else None
        with noise_from(feed):
            out = run_model(
                self.model,
                signature.what,
                signature.data,
                data,
                num_samples=num_samples,
                temperature=signature.temperature,
            )
        feed.check_used_up()
        return out


def data_inputs(cls: type[Model], what: What) -> tuple[DataInput, ...]:
    """The model's declared inputs and contexts, in order (contexts only for ``sample``)."""
    inputs = [DataInput(n, "input", cls.input_types[n]) for n in cls.input_names] if what == "log_prob" else []
    return tuple(inputs + [DataInput(n, "context", cls.context_types[n]) for n in cls.context_names])


def _noise_name(index: int, site: Site) -> str:
    """``noise_0_dequantize_line12``: position, op and line (what is known of them)."""
    name = f"noise_{index}"
    if site.op is not None:
        name += f"_{site.op}"
    line = re.match(r"[^:]+:(\d+)", site.where or "")
    return name + (f"_line{line[1]}" if line else "")


def _dry_run(
    model: Model,
    what: What,
    data: tuple[DataInput, ...],
    batch: int,
    temperature: float,
    dtype: torch.dtype,
    sites: OpSites | None = None,
) -> list[Draw]:
    """The draws of one eager run on ``batch`` examples of valid data (noting which layer
    runs each op in ``sites``, if given)."""
    generator = torch.Generator().manual_seed(batch)
    values = [example_value(d.declared, batch, generator, dtype) for d in data]
    recorder = Recorder()
    try:
        with noise_from(recorder), torch.no_grad(), sites if sites is not None else contextlib.nullcontext():
            run_model(model, what, data, values, num_samples=batch, temperature=temperature, generator=generator)
    except ExportError:
        raise
    except Exception as exc:  # the model's own failure, named at its layer
        site = site_of_traceback(exc.__traceback__)
        raise ExportError(f"{what} fails in eager mode at {site.describe()}: {_first_line(exc)}") from None
    return recorder.draws


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def signature_of(model: Model, what: What, temperature: float = 1.0) -> Signature:
    """Dry-run ``model`` at two batch sizes and return the program's inputs and outputs.

    Every draw must be ``(B, ...)`` with only the batch axis depending on the batch, and the
    two runs must draw alike; otherwise the model cannot have a batch-symbolic program and an
    ExportError names the layer.
    """
    cls = type(model)
    data = data_inputs(cls, what)
    dtype = model._anchor.dtype
    sites = OpSites()
    runs = [
        _dry_run(model, what, data, batch, temperature, dtype, sites if batch == 2 else None) for batch in _DRY_BATCHES
    ]
    first, second = runs
    if len(first) != len(second):
        raise ExportError(f"{what} draws {len(first)} times on a batch of 2 but {len(second)} on a batch of 3")
    noise = []
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        same = a.kind == b.kind and a.dtype == b.dtype and a.shape[1:] == b.shape[1:]
        if not same or (a.shape[:1], b.shape[:1]) != ((2,), (3,)):
            raise ExportError(
                f"the random draw of {a.site.describe()} does not follow the batch (shape {a.shape} on a batch "
                f"of 2, {b.shape} on a batch of 3): it cannot be an input of a batch-symbolic program"
            )
        noise.append(NoiseInput(_noise_name(index, a.site), a.kind, a.shape[1:], a.dtype, a.high, a.site))
    if what == "sample" and not noise and not cls.context_names:
        raise ExportError(f"`{cls.__name__}`.sample draws nothing, so its program would have no batch size")
    outputs = ("log_prob",) if what == "log_prob" else tuple(cls.input_names)
    name = getattr(cls, "model_name", cls.__name__)
    return Signature(name, what, data, tuple(noise), outputs, temperature, dtype, tuple(sites.sites.items()))
