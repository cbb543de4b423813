import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as D

import survae_dsl.nn as snn

F64 = torch.float64


def _generator(seed=1):
    return torch.Generator().manual_seed(seed)


def _randomise(distribution):
    with torch.no_grad():
        for parameter in distribution.parameters():
            parameter.normal_(0.0, 0.5)
    return distribution


def _reference_sum(log_prob):
    return log_prob.reshape(log_prob.shape[0], -1).sum(1)


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_standard_normal_log_prob(shape):
    x = torch.randn(4, *shape, dtype=F64)
    expected = _reference_sum(D.Normal(0.0, 1.0).log_prob(x))
    torch.testing.assert_close(snn.StandardNormal(shape).double().log_prob(x), expected)


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_normal_per_element_log_prob(shape):
    normal = _randomise(snn.Normal(shape).double())
    x = torch.randn(4, *shape, dtype=F64)
    reference = D.Normal(normal.loc.detach(), normal.log_scale.detach().exp())
    torch.testing.assert_close(normal.log_prob(x), _reference_sum(reference.log_prob(x)))


def test_normal_per_channel_shares_parameters_over_the_other_axes():
    normal = _randomise(snn.Normal((2, 3, 4), per="channel").double())
    assert normal.loc.shape == (2,) and normal.log_scale.shape == (2,)
    x = torch.randn(5, 2, 3, 4, dtype=F64)
    loc = normal.loc.detach().reshape(2, 1, 1)
    scale = normal.log_scale.detach().exp().reshape(2, 1, 1)
    expected = _reference_sum(D.Normal(loc, scale).log_prob(x))
    torch.testing.assert_close(normal.log_prob(x), expected)
    assert normal.sample(7, generator=_generator()).shape == (7, 2, 3, 4)


def test_normal_starts_standard():
    x = torch.randn(4, 2, 3, dtype=F64)
    expected = snn.StandardNormal((2, 3)).double().log_prob(x)
    for per in ("element", "channel"):
        torch.testing.assert_close(snn.Normal((2, 3), per=per).double().log_prob(x), expected)


def test_normal_rejects_an_unknown_per():
    with pytest.raises(ValueError, match="per"):
        snn.Normal((2,), per="row")


def test_half_normal_log_prob():
    half = _randomise(snn.HalfNormal((2, 3)).double())
    x = torch.rand(4, 2, 3, dtype=F64) * 3
    reference = D.HalfNormal(half.log_scale.detach().exp())
    torch.testing.assert_close(half.log_prob(x), _reference_sum(reference.log_prob(x)))


def test_half_normal_is_zero_below_zero():
    half = snn.HalfNormal((2,)).double()
    log_prob = half.log_prob(torch.tensor([[-0.1, 1.0], [0.0, 0.0]], dtype=F64))
    assert log_prob[0] == -math.inf and torch.isfinite(log_prob[1])


def test_half_normal_density_integrates_to_one_on_a_grid():
    half = snn.HalfNormal((2,)).double()
    with torch.no_grad():
        half.log_scale.copy_(torch.tensor([0.3, -0.4]))
    # Midpoint rule on [0, 8]² (beyond 5.5 standard deviations of the wider axis).
    steps, width = 800, 8.0
    h = width / steps
    axis = (torch.arange(steps, dtype=F64) + 0.5) * h
    grid = torch.cartesian_prod(axis, axis)
    total = half.log_prob(grid).exp().sum() * h * h
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=F64), rtol=0, atol=1e-4)


def test_standard_uniform_log_prob_on_the_closed_cube():
    uniform = snn.StandardUniform((2,)).double()
    inside = torch.tensor([[0.0, 1.0], [0.3, 0.7]], dtype=F64)
    outside = torch.tensor([[-0.1, 0.5], [0.5, 1.1]], dtype=F64)
    assert torch.equal(uniform.log_prob(inside), torch.zeros(2, dtype=F64))
    assert (uniform.log_prob(outside) == -math.inf).all()
    x = torch.rand(5, 2, dtype=F64)
    expected = _reference_sum(D.Uniform(0.0, 1.0).log_prob(x).double())
    torch.testing.assert_close(uniform.log_prob(x), expected)


DISTRIBUTIONS = [
    snn.StandardNormal,
    snn.Normal,
    lambda shape: snn.Normal(shape, per="channel"),
    snn.HalfNormal,
    snn.StandardUniform,
]


@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    index=st.integers(0, len(DISTRIBUTIONS) - 1),
    num_samples=st.integers(1, 5),
)
def test_sample_shapes_and_log_probs(shape, index, num_samples):
    distribution = DISTRIBUTIONS[index](shape).double()
    x, log_prob = distribution.sample_with_log_prob(num_samples, generator=_generator())
    assert x.shape == (num_samples, *shape) and x.dtype == F64
    assert log_prob.shape == (num_samples,) and torch.isfinite(log_prob).all()
    torch.testing.assert_close(log_prob, distribution.log_prob(x))


@pytest.mark.parametrize("make", [snn.StandardNormal, snn.Normal, snn.HalfNormal])
def test_temperature_multiplies_the_standard_deviation(make):
    distribution = make((20000,)).double()
    cold = distribution.sample(1, temperature=0.5, generator=_generator())
    warm = distribution.sample(1, generator=_generator())
    torch.testing.assert_close(cold, 0.5 * warm)


def test_uniform_ignores_temperature():
    uniform = snn.StandardUniform((3,)).double()
    a = uniform.sample(2, temperature=0.1, generator=_generator())
    assert torch.equal(a, uniform.sample(2, generator=_generator()))


def test_normal_samples_have_the_learned_moments():
    normal = snn.Normal((2,)).double()
    with torch.no_grad():
        normal.loc.copy_(torch.tensor([1.0, -2.0]))
        normal.log_scale.copy_(torch.tensor([0.0, math.log(3.0)]))
    x = normal.sample(40000, generator=_generator())
    # Sample mean within 4 standard errors (σ/200), sample std within 2%.
    assert torch.allclose(x.mean(0), normal.loc.detach(), atol=4 * 3.0 / 200)
    assert torch.allclose(x.std(0), torch.tensor([1.0, 3.0], dtype=F64), rtol=0.02)


def test_context_is_accepted_and_ignored():
    normal = snn.Normal((2,)).double()
    x = torch.randn(3, 2, dtype=F64)
    context = torch.randn(3, 5, dtype=F64)
    assert torch.equal(normal.log_prob(x, context), normal.log_prob(x))
    assert normal.sample(3, context, generator=_generator()).shape == (3, 2)
