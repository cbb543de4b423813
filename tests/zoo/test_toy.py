"""Model zoo, toy group: the SurVAE Flows toy models and MAF(5) on POWER at their real sizes.

Each file of `examples/zoo` in this group must give the reference's parameter count to the unit
and the paper's likelihood class (`--check`, without torch), format canonically, render, and
its compiled classes must build, score a batch of 2 and sample 2 examples.
"""

from __future__ import annotations

import pytest

from .common import (
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

# The reference's parameters, to the unit; no warnings.
EXPECTED: dict[str, Expected] = {
    "AbsFlow": Expected("toy_abs_flow.survae", "exact", frozenset(), (), 808),
    "AbsFlowSoftplus": Expected("toy_abs_flow.survae", "exact", frozenset(), (), 808),
    "ToyFlow": Expected("toy_flow.survae", "exact", frozenset(), (), 82_824),
    "AugFlow": Expected("toy_aug_flow.survae", "lower_bound", frozenset({"augment"}), (), 1_416),
    "MafPower": Expected("maf_power.survae", "exact", frozenset(), (), 60_060),
}
FILES = files(EXPECTED)
# (batch of 2, features) inputs, kept inside the declared domains (AbsFlow's is (-4, 4)).
FEATURES = {"AbsFlow": 2, "AbsFlowSoftplus": 2, "ToyFlow": 2, "AugFlow": 2, "MafPower": 6}


@pytest.mark.parametrize("file", FILES)
def test_each_file_holds_exactly_the_listed_models(file: str) -> None:
    assert_file_holds_exactly_the_listed_models(EXPECTED, file)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_warnings_and_parameter_count(name: str) -> None:
    assert_class_warnings_and_count(EXPECTED, name)


@pytest.mark.parametrize("file", FILES)
def test_the_public_check_agrees(file: str) -> None:
    assert_public_check_agrees(EXPECTED, file)


@pytest.mark.parametrize("file", FILES)
def test_formatted_and_rendered(file: str) -> None:
    assert_formatted_and_rendered(EXPECTED, file)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builds_scores_and_samples(name: str) -> None:
    model = build(EXPECTED, name)
    import torch

    d = FEATURES[name]
    x = (torch.rand(2, d) * 2 - 1) * 3.5  # inside (-4, 4)
    initialize_and_score(model, x)
    s = sample(model, 2)
    assert s.shape == (2, d) and s.dtype == torch.float32
    assert torch.isfinite(s).all()
    if name == "AbsFlow":
        assert (s.abs() < 4).all()
