"""The harness the model-zoo group tests share: what a zoo model must give, the per-layer count
formulas every group uses, each file's checked models (parsed once per session), the checks
each group runs on its files and models, and building and scoring a compiled model.

A group module (`test_*.py` here) declares `EXPECTED: dict[str, Expected]`, model name → what
`--check` must say of it, and calls these functions from thin tests parametrized by model name
or file. `test_coverage.py` finds the group modules by their `EXPECTED`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import survae_dsl
from survae_dsl.compiler.backends.param_count import file_parameter_counts, total
from survae_dsl.compiler.catalogue import Count
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.frontend.format import format_source
from survae_dsl.compiler.ir.checked import CheckedModel

if TYPE_CHECKING:  # torch is imported only by the tests that build a model
    from torch import Tensor

    from survae_dsl.nn.model import Model

ROOT = Path(__file__).resolve().parent.parent.parent
ZOO = ROOT / "examples" / "zoo"
DIAGRAMS = ROOT / "docs" / "zoo"  # the rendered diagram of each zoo file, `<stem>.svg`


@dataclass(frozen=True)
class Expected:
    """What `--check` must say of one zoo model.

    `culprits`: the ops named by the reasons for a bound (empty for an exact model);
    `warnings`: the warning codes, in order (each one given on purpose, said where it is listed);
    `count`: the parameter total, to the unit; `layers`: layer attribute → parameters of every
    layer that has some, written from the published architecture (None: the group checks the
    total only).
    """

    file: str
    likelihood: str
    culprits: frozenset[str]
    warnings: tuple[str, ...]
    count: int
    layers: Mapping[str, int] | None = None


Group = Mapping[str, Expected]  # a group module's EXPECTED: model name → what it must give


# --- count formulas, written from the architectures (not the compiler's own formulas) ----------
def conv(c_in: int, c_out: int, k: int) -> int:
    """A k×k convolution with a bias."""
    return k * k * c_in * c_out + c_out


def dense(n_in: int, n_out: int) -> int:
    """A fully connected layer with a bias."""
    return n_in * n_out + n_out


# --- a group's files and their checked models ---------------------------------------------------
def files(group: Group) -> list[str]:
    """The zoo files a group lists, sorted (the ids of its per-file tests)."""
    return sorted({entry.file for entry in group.values()})


def listed_in(group: Group, file: str) -> set[str]:
    """The models a group lists in `file`."""
    return {name for name, entry in group.items() if entry.file == file}


@cache
def checked_models(file: str) -> tuple[CheckedModel, ...]:
    """The checked models of the zoo file `file` (a name in examples/zoo), parsed once a session."""
    path = ZOO / file
    return tuple(check_source(path.read_text(encoding="utf-8"), str(path)).models)


@cache
def layer_counts(file: str) -> Mapping[str, list[tuple[str, Count]]]:
    """Model name → (layer attribute, parameters) of each of its layers, for a zoo file."""
    return file_parameter_counts(list(checked_models(file)))


def checked(group: Group, name: str) -> CheckedModel:
    """The checked model `name` of the group."""
    return next(m for m in checked_models(group[name].file) if m.name == name)


# --- the checks every group runs ----------------------------------------------------------------
def assert_file_holds_exactly_the_listed_models(group: Group, file: str) -> None:
    assert {m.name for m in checked_models(file)} == listed_in(group, file)


def assert_class_warnings_and_count(group: Group, name: str) -> None:
    """Likelihood class, the reasons' ops, the warning codes and the parameter total of `--check`;
    the per-layer table gives the same total and, where the group wrote one, the same layers."""
    entry = group[name]
    model = checked(group, name)
    assert model.likelihood == entry.likelihood
    assert {r.op for r in model.reasons} == entry.culprits
    assert [w.code for w in model.warnings] == list(entry.warnings)
    assert model.parameter_total == entry.count
    table = layer_counts(entry.file)[name]
    assert total(table) == entry.count
    if entry.layers is not None:
        assert sum(entry.layers.values()) == entry.count
        assert {attr: n for attr, n in table if n} == dict(entry.layers)


def assert_public_check_agrees(group: Group, file: str) -> None:
    """`survae_dsl.check` on the file gives each listed model's class and parameter total."""
    found = {m.name: (m.likelihood, m.parameter_total) for m in survae_dsl.check(ZOO / file).models}
    assert found == {name: (group[name].likelihood, group[name].count) for name in listed_in(group, file)}


def assert_formatted_and_rendered(group: Group, file: str) -> None:
    """The file is in canonical format, each listed model renders a diagram naming it, and the
    docs hold the file's rendered diagram."""
    path = ZOO / file
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text
    for name in sorted(listed_in(group, file)):
        assert name in survae_dsl.render(path, model=name).source
    assert (DIAGRAMS / file.replace(".survae", ".svg")).is_file()


# --- building and scoring (torch) ---------------------------------------------------------------
def build(group: Group, name: str) -> Model:
    """The compiled class of `name`, built under seed 0; it must hold the expected parameters."""
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

    cls = survae_dsl.load(ZOO / group[name].file, model=name)
    torch.manual_seed(0)
    model: Model = cls()
    assert sum(p.numel() for p in model.parameters()) == group[name].count
    return model


def initialize_and_score(
    model: Model, x: Tensor, contexts: Mapping[str, Tensor] | None = None, *, eval_mode: bool = True
) -> Tensor:
    """Initialise `model` on the batch `x` (2, ...), switch it to eval mode (unless `eval_mode`
    is False: batch norms then score with the batch's statistics) and score `x`: the log
    densities (2,) must be float32 and finite. Returns them."""
    import torch

    given = dict(contexts or {})
    model.initialize(x, **given)
    if eval_mode:
        model.eval()
    with torch.no_grad():
        lp: Tensor = model.log_prob(x, **given)
    assert lp.shape == (2,) and lp.dtype == torch.float32
    assert torch.isfinite(lp).all()
    return lp


def sample(model: Model, n: int, contexts: Mapping[str, Tensor] | None = None) -> Tensor:
    """`n` samples of `model` without gradients: (n, ...) in the data's shape."""
    import torch

    with torch.no_grad():
        s: Tensor = model.sample(n, **dict(contexts or {}))
    return s
