"""Model zoo, MNIST and sets group: the SurVAE Flows MNIST VAEs and SpatialMNIST flows at real size.

Each file of `examples/zoo` in this group must give the reference's parameter count to the unit
and the paper's likelihood class (`--check`, without torch), format canonically, render, and
its compiled classes must build, score a batch of 2 and sample 2 examples. SortFlow is exact
because it closes the sort with `sorted_to_real`; the reference's layout (a coupling right after
the sort) has the same count and is a lower bound by a fold leak.
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
    "MnistVae": ("mnist_vae.survae", "lower_bound", {"vae"}, 887_096),
    "MnistHvae": ("mnist_hvae.survae", "lower_bound", {"vae"}, 968_820),
    "SortFlow": ("spatial_mnist_sort_flow.survae", "exact", set(), 3_240_096),
    "PermuteFlow": ("spatial_mnist_permute_flow.survae", "lower_bound", {"stochastic_permutation"}, 3_214_496),
}
FILES = sorted({file for file, *_ in EXPECTED.values()})


def _models(file: str):  # noqa: ANN202  # the checked models of a zoo file
    path = ZOO / file
    return check_source(path.read_text(encoding="utf-8"), str(path)).models


def _checked(name: str):  # noqa: ANN202  # a checked model of the compiler
    return next(m for m in _models(EXPECTED[name][0]) if m.name == name)


@pytest.mark.parametrize("file", FILES)
def test_each_file_holds_exactly_the_listed_models(file: str) -> None:
    names = {m.name for m in _models(file)}
    assert names == {name for name, (f, *_) in EXPECTED.items() if f == file}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_and_reference_parameter_count(name: str) -> None:
    file, likelihood, culprits, reference = EXPECTED[name]
    model = _checked(name)
    assert model.likelihood == likelihood
    assert {r.op for r in model.reasons} == culprits
    assert not model.warnings
    assert model.parameter_total == reference
    counts = file_parameter_counts(_models(file))
    assert total(counts[name]) == reference


def test_the_public_check_agrees() -> None:
    for name, (file, likelihood, _, reference) in EXPECTED.items():
        model = next(m for m in survae_dsl.check(ZOO / file).models if m.name == name)
        assert (model.likelihood, model.parameter_total) == (likelihood, reference)


def test_sort_flow_without_sorted_to_real_is_the_reference_layout_and_a_lower_bound() -> None:
    path = ZOO / EXPECTED["SortFlow"][0]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if "sorted_to_real(" not in line or line.lstrip().startswith("#")]
    assert len(kept) == len(lines) - 1
    (model,) = check_source("".join(kept), str(path)).models
    assert model.likelihood == "lower_bound"
    assert any("fold leak" in r.message for r in model.reasons)
    assert model.parameter_total == EXPECTED["SortFlow"][3]


@pytest.mark.parametrize("file", FILES)
def test_formatted_and_rendered(file: str) -> None:
    path = ZOO / file
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text
    for name, (f, *_) in EXPECTED.items():
        if f == file:
            dot = survae_dsl.render(path, model=name).source
            assert name in dot


def _batch(name: str):  # noqa: ANN202  # a batch of 2 examples in the model's domain
    import torch

    generator = torch.Generator().manual_seed(1)
    if name.startswith("Mnist"):
        return torch.randint(0, 2, (2, 1, 28, 28), generator=generator)
    return torch.rand(2, 50, 2, generator=generator) * 28  # SpatialMNIST points in [0, 28]^2


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builds_scores_and_samples(name: str) -> None:
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

    reference = EXPECTED[name][3]
    cls = survae_dsl.load(ZOO / EXPECTED[name][0], model=name)
    torch.manual_seed(0)
    model = cls()
    assert sum(p.numel() for p in model.parameters()) == reference
    x = _batch(name)
    model.initialize(x)
    model.eval()
    with torch.no_grad():
        lp = model.log_prob(x)
        assert lp.shape == (2,) and lp.dtype == torch.float32
        assert torch.isfinite(lp).all()
        s = model.sample(2)
    assert s.shape == x.shape
    if name.startswith("Mnist"):
        assert s.dtype == torch.int64 and ((s == 0) | (s == 1)).all()
    else:
        assert s.dtype == torch.float32 and torch.isfinite(s).all()


def test_sort_flow_is_a_density_of_the_set() -> None:
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

    cls = survae_dsl.load(ZOO / EXPECTED["SortFlow"][0], model="SortFlow")
    torch.manual_seed(0)
    model = cls()
    x = _batch("SortFlow")
    model.initialize(x)
    model.eval()
    permuted = x[:, torch.randperm(50, generator=torch.Generator().manual_seed(2))]
    with torch.no_grad():
        assert torch.allclose(model.log_prob(x), model.log_prob(permuted), atol=1e-3)
