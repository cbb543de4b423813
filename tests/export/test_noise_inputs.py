"""Every draw of the runtime goes through `survae_dsl.nn.noise`: fed the draws an eager run would
make, a program computes exactly that run's result, and it draws nothing from torch itself.
Eager only (no export), over every small example model, both directions."""

from __future__ import annotations

import pytest
import torch

from survae_dsl.export.program import Program, signature_of

from .helpers import SMALL_FILES, all_models, fresh

MODELS = all_models(SMALL_FILES)


def _outputs(value: object) -> list[torch.Tensor]:
    return list(value) if isinstance(value, tuple) else [value]  # type: ignore[list-item]


@pytest.mark.parametrize(("relative", "name"), MODELS, ids=[f"{r}:{n}" for r, n in MODELS])
def test_feeding_the_draws_of_an_eager_log_prob_reproduces_it(relative: str, name: str) -> None:
    model = fresh(relative, name)
    signature = signature_of(model, "log_prob")
    data = signature.example_data(5, torch.Generator().manual_seed(1))
    inputs = [d for d, spec in zip(data, signature.data, strict=True) if spec.role == "input"]
    contexts = {spec.name: d for d, spec in zip(data, signature.data, strict=True) if spec.role == "context"}
    torch.manual_seed(7)
    with torch.no_grad():
        eager = model.log_prob(*inputs, **contexts)
    # The same seed, drawn in the model's order with the signature's laws and shapes: the same draws.
    torch.manual_seed(7)
    noise = signature.example_noise(5, torch.default_generator)
    state = torch.get_rng_state()
    with torch.no_grad():
        fed = Program(model, signature)(*data, *noise)
    torch.testing.assert_close(fed, eager, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(torch.get_rng_state(), state), "a layer drew from torch instead of the feed"


@pytest.mark.parametrize(("relative", "name"), MODELS, ids=[f"{r}:{n}" for r, n in MODELS])
def test_feeding_the_draws_of_an_eager_sample_reproduces_it(relative: str, name: str) -> None:
    model = fresh(relative, name)
    signature = signature_of(model, "sample")
    contexts = signature.example_data(4, torch.Generator().manual_seed(1))
    named = {spec.name: value for spec, value in zip(signature.data, contexts, strict=True)}
    with torch.no_grad():
        eager = model.sample(None if named else 4, **named, generator=torch.Generator().manual_seed(3))
    noise = signature.example_noise(4, torch.Generator().manual_seed(3))
    state = torch.get_rng_state()
    with torch.no_grad():
        fed = Program(model, signature)(*contexts, *noise)
    for a, b in zip(_outputs(fed), _outputs(eager), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(torch.get_rng_state(), state), "a layer drew from torch instead of the feed"


def test_noise_inputs_are_named_after_their_layer_and_line() -> None:
    signature = signature_of(fresh("paper/digits_maxpool.survae", "MaxPoolFlow"), "sample")
    names = [n.name for n in signature.noise]
    # The latent draw of the prior (line 25), then max_pool's gaps and argmax positions (line 24).
    assert names == ["noise_0_normal_line25", "noise_1_max_pool_line24", "noise_2_max_pool_line24"]
    kinds = [(n.kind, n.shape, n.dtype, n.high) for n in signature.noise]
    assert kinds == [
        ("normal", (4, 2, 2), torch.float32, None),
        ("uniform", (12, 2, 2), torch.float64, None),
        ("integers", (4, 1, 2, 2), torch.int64, 4),
    ]
    lower_bound = signature_of(fresh("paper/digits_maxpool.survae", "MaxPoolFlow"), "log_prob")
    assert [n.name for n in lower_bound.noise] == ["noise_0_dequantize_line21"]


def test_an_exact_models_log_prob_has_no_noise_input() -> None:
    signature = signature_of(fresh("abs_flow.survae", "AbsFlow"), "log_prob")
    assert signature.noise == ()
    assert signature.outputs == ("log_prob",)
