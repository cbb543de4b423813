"""Model zoo, MNIST and sets group: the SurVAE Flows MNIST VAEs and SpatialMNIST flows at real size.

Each file of `examples/zoo` in this group must give the reference's parameter count to the unit
and the paper's likelihood class (`--check`, without torch), format canonically, render, and
its compiled classes must build, score a batch of 2 and sample 2 examples. SortFlow is exact
because it closes the sort with `sorted_to_real`; the reference's layout (a coupling right after
the sort) has the same count and is a lower bound by a fold leak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from survae_dsl.compiler.drivers.driver import check_source

from .common import (
    ZOO,
    Expected,
    assert_class_warnings_and_count,
    assert_file_holds_exactly_the_listed_models,
    assert_formatted_and_rendered,
    assert_public_check_agrees,
    build,
    files,
    initialize_and_score,
    sample,
)

if TYPE_CHECKING:
    from torch import Tensor

# The reference's parameters, to the unit; no warnings.
EXPECTED: dict[str, Expected] = {
    "MnistVae": Expected("mnist_vae.survae", "lower_bound", frozenset({"vae"}), (), 887_096),
    "MnistHvae": Expected("mnist_hvae.survae", "lower_bound", frozenset({"vae"}), (), 968_820),
    "SortFlow": Expected("spatial_mnist_sort_flow.survae", "exact", frozenset(), (), 3_240_096),
    "PermuteFlow": Expected(
        "spatial_mnist_permute_flow.survae", "lower_bound", frozenset({"stochastic_permutation"}), (), 3_214_496
    ),
}
FILES = files(EXPECTED)


@pytest.mark.parametrize("file", FILES)
def test_each_file_holds_exactly_the_listed_models(file: str) -> None:
    assert_file_holds_exactly_the_listed_models(EXPECTED, file)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_warnings_and_parameter_count(name: str) -> None:
    assert_class_warnings_and_count(EXPECTED, name)


@pytest.mark.parametrize("file", FILES)
def test_the_public_check_agrees(file: str) -> None:
    assert_public_check_agrees(EXPECTED, file)


def test_sort_flow_without_sorted_to_real_is_the_reference_layout_and_a_lower_bound() -> None:
    path = ZOO / EXPECTED["SortFlow"].file
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if "sorted_to_real(" not in line or line.lstrip().startswith("#")]
    assert len(kept) == len(lines) - 1
    (model,) = check_source("".join(kept), str(path)).models
    assert model.likelihood == "lower_bound"
    assert any("fold leak" in r.message for r in model.reasons)
    assert model.parameter_total == EXPECTED["SortFlow"].count


@pytest.mark.parametrize("file", FILES)
def test_formatted_and_rendered(file: str) -> None:
    assert_formatted_and_rendered(EXPECTED, file)


def _batch(name: str) -> Tensor:
    """A batch of 2 examples in the model's domain: binary images (2, 1, 28, 28) int64, or
    SpatialMNIST sets of 50 points (2, 50, 2) float32 in [0, 28]^2."""
    import torch

    generator = torch.Generator().manual_seed(1)
    if name.startswith("Mnist"):
        return torch.randint(0, 2, (2, 1, 28, 28), generator=generator)
    return torch.rand(2, 50, 2, generator=generator) * 28


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builds_scores_and_samples(name: str) -> None:
    model = build(EXPECTED, name)
    import torch

    x = _batch(name)
    initialize_and_score(model, x)
    s = sample(model, 2)
    assert s.shape == x.shape
    if name.startswith("Mnist"):
        assert s.dtype == torch.int64 and ((s == 0) | (s == 1)).all()
    else:
        assert s.dtype == torch.float32 and torch.isfinite(s).all()


def test_sort_flow_is_a_density_of_the_set() -> None:
    model = build(EXPECTED, "SortFlow")
    import torch

    x = _batch("SortFlow")
    initialize_and_score(model, x)
    permuted = x[:, torch.randperm(50, generator=torch.Generator().manual_seed(2))]
    with torch.no_grad():
        assert torch.allclose(model.log_prob(x), model.log_prob(permuted), atol=1e-3)
