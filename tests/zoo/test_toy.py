"""Model zoo, toy group: the SurVAE Flows toy models and MAF(5) on POWER at their real sizes.

Each file of `examples/zoo` in this group must give the reference's parameter count to the unit
and the paper's likelihood class (`--check`, without torch), format canonically, render, and
its compiled classes must build, score a batch of 2 and sample 2 examples.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import survae_dsl
from survae_dsl.compiler.backends.param_count import file_parameter_counts, total
from survae_dsl.compiler.drivers.driver import check_source
from survae_dsl.compiler.frontend.format import format_source

ROOT = Path(__file__).resolve().parent.parent.parent
ZOO = ROOT / "examples" / "zoo"

# model -> (file, likelihood class, ops named by the reasons for a bound, reference parameters)
EXPECTED: dict[str, tuple[str, str, set[str], int]] = {
    "AbsFlow": ("toy_abs_flow.survae", "exact", set(), 808),
    "AbsFlowSoftplus": ("toy_abs_flow.survae", "exact", set(), 808),
    "ToyFlow": ("toy_flow.survae", "exact", set(), 82_824),
    "AugFlow": ("toy_aug_flow.survae", "lower_bound", {"augment"}, 1_416),
    "MafPower": ("maf_power.survae", "exact", set(), 60_060),
}
FILES = sorted({file for file, *_ in EXPECTED.values()})
# (batch of 2, features) inputs, kept inside the declared domains (AbsFlow's is (-4, 4)).
FEATURES = {"AbsFlow": 2, "AbsFlowSoftplus": 2, "ToyFlow": 2, "AugFlow": 2, "MafPower": 6}


def _checked(name: str):  # noqa: ANN202  # a checked model of the compiler
    file = EXPECTED[name][0]
    path = ZOO / file
    models = {m.name: m for m in check_source(path.read_text(encoding="utf-8"), str(path)).models}
    return models[name]


@pytest.mark.parametrize("file", FILES)
def test_each_file_holds_exactly_the_listed_models(file: str) -> None:
    path = ZOO / file
    names = {m.name for m in check_source(path.read_text(encoding="utf-8"), str(path)).models}
    assert names == {name for name, (f, *_) in EXPECTED.items() if f == file}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_and_reference_parameter_count(name: str) -> None:
    _, likelihood, culprits, reference = EXPECTED[name]
    model = _checked(name)
    assert model.likelihood == likelihood
    assert {r.op for r in model.reasons} == culprits
    assert not model.warnings
    assert model.parameter_total == reference
    path = ZOO / EXPECTED[name][0]
    counts = file_parameter_counts(check_source(path.read_text(encoding="utf-8"), str(path)).models)
    assert total(counts[name]) == reference


def test_the_public_check_agrees() -> None:
    for name, (file, likelihood, _, reference) in EXPECTED.items():
        model = next(m for m in survae_dsl.check(ZOO / file).models if m.name == name)
        assert (model.likelihood, model.parameter_total) == (likelihood, reference)


@pytest.mark.parametrize("file", FILES)
def test_formatted_and_rendered(file: str) -> None:
    path = ZOO / file
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text
    for name, (f, *_) in EXPECTED.items():
        if f == file:
            dot = survae_dsl.render(path, model=name).source
            assert name in dot


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builds_scores_and_samples(name: str) -> None:
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

    _, _, _, reference = EXPECTED[name]
    cls = survae_dsl.load(ZOO / EXPECTED[name][0], model=name)
    torch.manual_seed(0)
    model = cls()
    assert sum(p.numel() for p in model.parameters()) == reference
    d = FEATURES[name]
    x = (torch.rand(2, d) * 2 - 1) * 3.5  # inside (-4, 4)
    model.initialize(x)
    with torch.no_grad():
        lp = model.log_prob(x)
        assert lp.shape == (2,) and lp.dtype == torch.float32
        assert torch.isfinite(lp).all()
        s = model.sample(2)
    assert s.shape == (2, d) and s.dtype == torch.float32
    assert torch.isfinite(s).all()
    if name == "AbsFlow":
        assert (s.abs() < 4).all()
