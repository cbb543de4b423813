"""Compiled models check what they are given against the declared types (docs/language.md,
The compiled module: input validation): static facts always, values in eager mode, and a −inf
density for out-of-domain examples while compiling."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402

import survae_dsl  # noqa: E402
import survae_dsl.nn as snn  # noqa: E402

IMAGES = """
model Images {
    input x: int<256>[3, 4, 4]
    h = dequantize(x)
    h = logit(h)
    h ~ normal()
}
"""
BOUNDED = """
model Bounded {
    input x: interval(-4, 4)[2]
    h = x |> scale(by=0.25) |> shift(by=1) |> scale(by=0.5) |> logit()
    h ~ normal()
}
"""
CONDITIONAL = """
model Conditional {
    context label: int<3>[1]
    input x: real[2]
    h = affine_coupling(x, net=mlp(hidden=[8]), context=label)
    h ~ normal(context=label, net=mlp(hidden=[8]))
}
"""


def _model(source: str, **kwargs: bool | None) -> snn.Model:
    torch.manual_seed(0)
    (cls,) = survae_dsl.compile_source(source).values()
    model: snn.Model = cls(**kwargs)
    return model


@pytest.fixture
def validation_default() -> Iterator[None]:
    """Restore the global switch whatever the test does with it."""
    before = snn.validation_enabled()
    yield
    snn.set_validation(before)


def _pixels(batch: int = 16) -> torch.Tensor:
    return torch.randint(0, 256, (batch, 3, 4, 4))


def test_integer_data_given_as_floats_is_refused_naming_the_input_and_its_type() -> None:
    model = _model(IMAGES)
    with pytest.raises(ValueError) as caught:
        model.log_prob(_pixels().float() / 255)  # what an image loader's ToTensor gives
    message = str(caught.value)
    assert message.startswith("x: expected int<256>[3, 4, 4], got float32 [16, 3, 4, 4]: ")
    assert "(x * 255).round().long()" in message


@pytest.mark.parametrize(("shift", "shown"), [(1000, "1000"), (-300, "-300")])
def test_integers_outside_the_classes_are_refused_with_an_example(shift: int, shown: str) -> None:
    model = _model(IMAGES)
    x = _pixels(4)
    x[2, 1, 0, 3] = shift
    with pytest.raises(ValueError) as caught:
        model.log_prob(x)
    assert str(caught.value).startswith(
        f"x: expected int<256>[3, 4, 4], but 1 entry in 1 of 4 rows lie outside {{0, …, 255}}, "
        f"e.g. {shown} at row 2, entry [1, 0, 3]"
    )


def test_reals_outside_the_declared_interval_are_refused() -> None:
    model = _model(BOUNDED)
    x = torch.tensor([[0.5, -1.0], [10.0, 0.0], [3.9, 4.5]])
    with pytest.raises(ValueError) as caught:
        model.log_prob(x)
    assert str(caught.value).startswith(
        "x: expected interval(-4, 4)[2], but 2 entries in 2 of 3 rows lie outside "
        "interval(-4, 4) (values in [-4, 4]), e.g. 10.0 at row 1, entry [0]"
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_real_input_refuses_nan_and_infinities(bad: float) -> None:
    model = _model(CONDITIONAL)
    x = torch.zeros(3, 2)
    x[1, 1] = bad
    with pytest.raises(ValueError, match=r"^x: expected real\[2\], but 1 entry in 1 of 3 rows lie outside real"):
        model.log_prob(x, label=torch.zeros(3, 1, dtype=torch.long))


def test_the_ends_of_a_continuous_domain_are_accepted() -> None:
    """A value rounded onto an end of an open interval is data, not an error (the runtime
    moves such points inside without adding mass)."""
    model = _model(BOUNDED)
    log_p = model.log_prob(torch.tensor([[-4.0, 4.0], [0.0, 0.0]]))
    assert log_p.shape == (2,)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (torch.zeros(2), "x: expected real[2] (batch first: [B, 2]), got float32 [2]"),
        (torch.zeros(5, 3), "x: expected real[2] (batch first: [B, 2]), got float32 [5, 3]"),
        (torch.zeros(5, 2, 1), "x: expected real[2] (batch first: [B, 2]), got float32 [5, 2, 1]"),
        (torch.zeros(5, 2, dtype=torch.long), "x: expected real[2], got int64 [5, 2]: real holds real numbers"),
    ],
)
def test_wrong_rank_shape_or_dtype_kind_names_the_input(x: torch.Tensor, expected: str) -> None:
    model = _model(CONDITIONAL)
    with pytest.raises(ValueError) as caught:
        model.log_prob(x, label=torch.zeros(x.shape[0] if x.dim() > 1 else 1, 1, dtype=torch.long))
    assert str(caught.value).startswith(expected)


def test_a_context_of_another_batch_size_is_refused() -> None:
    model = _model(CONDITIONAL)
    with pytest.raises(ValueError) as caught:
        model.log_prob(torch.zeros(5, 2), label=torch.zeros(4, 1, dtype=torch.long))
    assert str(caught.value) == "the inputs and contexts must share one batch size: x has 5, label has 4 rows"


def test_contexts_are_checked_like_inputs_in_log_prob_and_in_sample() -> None:
    model = _model(CONDITIONAL)
    with pytest.raises(ValueError, match=r"^Conditional is conditioned on the context `label`: pass label=\.\.\.$"):
        model.log_prob(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"^label: expected int<3>\[1\], got float32 \[2, 1\]"):
        model.log_prob(torch.zeros(2, 2), label=torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"^label: expected int<3>\[1\], but 1 entry in 1 of 2 rows lie outside"):
        model.sample(label=torch.tensor([[0], [3]]))
    assert model.sample(label=torch.tensor([[0], [2]])).shape == (2, 2)


def test_validation_switches_off_per_model_and_globally(validation_default: None) -> None:
    x = torch.tensor([[10.0, 0.0]])
    model = _model(BOUNDED, validate_args=False)
    assert model.log_prob(x).shape == (1,)  # unchecked: whatever the maths gives
    on = _model(BOUNDED)
    snn.set_validation(False)
    assert not on.validating
    assert on.log_prob(x).shape == (1,)
    snn.set_validation(True)
    with pytest.raises(ValueError):
        on.log_prob(x)
    forced = _model(BOUNDED, validate_args=True)
    snn.set_validation(False)
    with pytest.raises(ValueError):  # a model's own setting wins over the global one
        forced.log_prob(x)
    with pytest.raises(TypeError):
        snn.set_validation("no")  # type: ignore[arg-type]  # the error under test


def test_validation_does_not_change_a_valid_batch() -> None:
    torch.manual_seed(3)
    checked = _model(IMAGES)
    unchecked = _model(IMAGES, validate_args=False)
    unchecked.load_state_dict(checked.state_dict())
    x = _pixels(8)
    torch.manual_seed(4)
    a = checked.log_prob(x)
    torch.manual_seed(4)
    b = unchecked.log_prob(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_used_model_does_not_validate_what_its_user_gives_it() -> None:
    """An encoder model sees values inside the outer model (an int<K> context as floats)."""
    source = """
model Noise {
    context x: int<5>[2]
    input u: unit[2]
    h = logit(u)
    h ~ normal(context=x, net=mlp(hidden=[4]))
}
model Outer {
    input x: int<5>[2]
    h = dequantize(x, encoder=Noise)
    h = logit(h)
    h ~ normal()
}
"""
    outer = survae_dsl.compile_source(source, model="Outer")["Outer"]()
    assert torch.isfinite(outer.log_prob(torch.randint(0, 5, (6, 2)))).all()


@pytest.mark.slow
def test_compiled_log_prob_gives_minus_infinity_outside_the_domain_without_graph_breaks() -> None:
    model = _model(BOUNDED)
    x = torch.tensor([[0.5, -1.0], [10.0, 0.0], [3.9, -3.0], [float("nan"), 0.0]])
    compiled = torch.compile(model.log_prob, fullgraph=True)
    log_p = compiled(x)
    eager = model.log_prob(x[[0, 2]])
    torch.testing.assert_close(log_p[[0, 2]], eager)
    assert log_p[1] == -float("inf") and log_p[3] == -float("inf")
    # Static facts are still checked while compiling. Under fullgraph=True torch reports the
    # raise as its own error; a plain torch.compile runs the refusing frame eagerly.
    with pytest.raises(ValueError) as caught:
        torch.compile(model.log_prob)(torch.zeros(3))
    assert str(caught.value) == "x: expected interval(-4, 4)[2] (batch first: [B, 2]), got float32 [3]"
