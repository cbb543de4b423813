import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as D

import survae_dsl.nn as snn
from survae_dsl.nn.distributions import (
    Bernoulli,
    Categorical,
    HalfNormal,
    LogitNormal,
    Normal,
    TruncatedNormal,
)
from survae_dsl.nn.nets import MLP, ConvNet

from .helpers import compiled_fullgraph, random_mlp

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


# --- Truncated normal: N(loc, σ²) restricted to x ≥ 0 ----------------------------------------


def _erfc_log_ndtr(a):
    """log Φ(a) through erfc: Φ(a) = erfc(−a/√2)/2, accurate in float64 for a down to about
    −37 (independent of the runtime's log_ndtr)."""
    return torch.log(0.5 * torch.special.erfc(-a / math.sqrt(2.0)))


def _log_mass_above_zero(loc, scale):
    """log Φ(loc/σ) = log P(N(loc, σ²) ≥ 0)."""
    return _erfc_log_ndtr(loc / scale)


def _far_left_log_ndtr(a):
    """log Φ(a) for a ≤ −30 from the asymptotic series Φ(a) = φ(a)/|a|·(1 − 1/a² + 3/a⁴ − 15/a⁶
    + …); the first omitted term, 105/a⁸, is below 2e-10 there. erfc underflows past a ≈ −37."""
    a = torch.as_tensor(a, dtype=F64)
    series = 1 - a**-2 + 3 * a**-4 - 15 * a**-6
    return -0.5 * a.square() - torch.log(-a) - 0.5 * math.log(2 * math.pi) + torch.log(series)


class _TruncatedNormalReference:
    """Entrywise log-density of N(loc, σ²) restricted to x ≥ 0 and renormalised:
    log N(x; loc, σ) − log Φ(loc/σ) from torch.distributions and erfc, −inf below zero."""

    def __init__(self, loc, scale):
        self.loc, self.scale = loc, scale

    def log_prob(self, x):
        inside = D.Normal(self.loc, self.scale).log_prob(x) - _log_mass_above_zero(self.loc, self.scale)
        return torch.where(x >= 0, inside, -math.inf)


def _truncated_normal(loc, log_scale):
    """An unconditional float64 truncated normal on shape ``(len(loc),)`` with these parameters."""
    truncated = TruncatedNormal((len(loc),)).double()
    with torch.no_grad():
        truncated.loc.copy_(torch.tensor(loc, dtype=F64))
        truncated.log_scale.copy_(torch.tensor(log_scale, dtype=F64))
    return truncated


def _ks_distance(samples, cdf):
    """Kolmogorov–Smirnov distance sup_x |F_n(x) − F(x)| per column of ``samples`` ``(n, k)``;
    ``cdf`` maps the sorted ``(n, k)`` samples to the analytic CDF."""
    x, _ = samples.sort(dim=0)
    n = x.shape[0]
    f = cdf(x)
    rank = torch.arange(1, n + 1, dtype=F64).unsqueeze(1)
    return torch.maximum((rank / n - f).amax(0), (f - (rank - 1) / n).amax(0))


def _truncated_normal_cdf(loc, scale):
    """F(x) = (Φ((x − loc)/σ) − Φ(−loc/σ))/Φ(loc/σ) = 1 − Φ((loc − x)/σ)/Φ(loc/σ), the survival
    ratio through erfc so that it keeps its digits when Φ(loc/σ) is small."""

    def cdf(x):
        root2 = math.sqrt(2.0)
        return 1 - torch.special.erfc((x - loc) / (scale * root2)) / torch.special.erfc(-loc / (scale * root2))

    return cdf


# With n = 100 000 draws, P(KS distance > 0.01) ≈ 2·exp(−2n·0.01²) = 4e-9 for a correct sampler.
KS_DRAWS, KS_TOLERANCE = 100_000, 0.01


def test_truncated_normal_log_prob_matches_the_renormalised_normal():
    truncated = TruncatedNormal((3, 4)).double()
    with torch.no_grad():
        truncated.loc.normal_(0.0, 2.0)
        truncated.loc[0].copy_(torch.tensor([-3.0, -1.0, 1.0, 2.5]))  # both signs, for sure
        truncated.log_scale.uniform_(-1.0, 1.0)
    x = torch.rand(6, 3, 4, dtype=F64) * 4
    reference = _TruncatedNormalReference(truncated.loc.detach(), truncated.log_scale.detach().exp())
    torch.testing.assert_close(truncated.log_prob(x), _reference_sum(reference.log_prob(x)))


@pytest.mark.parametrize("loc, log_scale", [(-30.0, 0.0), (-80.0, math.log(2.0)), (-120.0, math.log(3.0))])
def test_truncated_normal_log_prob_stays_accurate_far_in_the_left_tail(loc, log_scale):
    # loc/σ = −30 and −40: Φ(loc/σ) is 5e-198 and 4e-350 (below float64's range), yet the
    # renormalised density is O(1) near zero.
    truncated = _truncated_normal([loc], [log_scale])
    loc, scale = torch.tensor(loc, dtype=F64), torch.tensor(log_scale, dtype=F64).exp()
    x = torch.tensor([[0.0], [0.01], [0.05], [0.2]], dtype=F64)
    expected = D.Normal(loc, scale).log_prob(x[:, 0]) - _far_left_log_ndtr(loc / scale)
    torch.testing.assert_close(truncated.log_prob(x), expected, rtol=0, atol=1e-8)
    assert (truncated.log_prob(x) > -10).all()


def test_truncated_normal_is_zero_below_zero_and_finite_at_zero():
    truncated = _truncated_normal([1.0, -2.0], [0.0, -0.5])
    below = torch.tensor([[-1e-9, 1.0], [1.0, -0.5], [-2.0, -3.0]], dtype=F64)
    assert (truncated.log_prob(below) == -math.inf).all()
    at_zero = torch.zeros(1, 2, dtype=F64)
    reference = _TruncatedNormalReference(truncated.loc.detach(), truncated.log_scale.detach().exp())
    torch.testing.assert_close(truncated.log_prob(at_zero), _reference_sum(reference.log_prob(at_zero)))
    assert torch.isfinite(truncated.log_prob(at_zero)).all()


@pytest.mark.parametrize(
    "loc, scale",
    [(0.0, 1.0), (2.0, 0.7), (3.0, 0.5), (-1.0, 1.5), (-2.0, 0.5), (-10.0, 1.0), (-5.0, 0.5)],
)
def test_truncated_normal_density_integrates_to_one_on_a_grid(loc, scale):
    truncated = _truncated_normal([loc], [math.log(scale)])
    # Midpoint rule on [0, max(loc, 0) + 12σ]: the mass beyond is below Φ(−12)/Φ(loc/σ) < 1e-11
    # for these (the left-tail ones decay faster). h = width/200 000 keeps the rule's error,
    # h²/24·|f'(0)|, near 2e-8 even at loc/σ = −10, where f(x) ≈ (10/σ)·exp(−10x/σ).
    width = max(loc, 0.0) + 12 * scale
    steps = 200_000
    h = width / steps
    x = ((torch.arange(steps, dtype=F64) + 0.5) * h).unsqueeze(1)
    total = truncated.log_prob(x).exp().sum() * h
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=F64), rtol=0, atol=1e-6)


def test_truncated_normal_starts_as_the_unit_half_normal():
    x = torch.cat([torch.rand(5, 2, 3, dtype=F64) * 3, torch.zeros(1, 2, 3, dtype=F64)])
    fresh = TruncatedNormal((2, 3)).double()
    half = HalfNormal((2, 3)).double()
    torch.testing.assert_close(fresh.log_prob(x), half.log_prob(x))
    torch.testing.assert_close(fresh.log_prob(x), _reference_sum(D.HalfNormal(1.0).log_prob(x)))
    negative = x.clone()
    negative[0, 1, 2] = -0.5
    assert fresh.log_prob(negative)[0] == -math.inf and half.log_prob(negative)[0] == -math.inf


def test_truncated_normal_samples_follow_the_analytic_cdf():
    # loc/σ = 2, 0, −3 and −10 (the inversion branch): Φ(loc/σ) from about 1 down to 8e-24.
    loc = torch.tensor([2.0, 0.0, -1.5, -10.0], dtype=F64)
    scale = torch.tensor([1.0, 0.7, 0.5, 1.0], dtype=F64)
    truncated = _truncated_normal(loc.tolist(), scale.log().tolist())
    x = truncated.sample(KS_DRAWS, generator=_generator())
    assert x.shape == (KS_DRAWS, 4) and x.dtype == F64
    assert torch.isfinite(x).all() and (x >= 0).all()
    distance = _ks_distance(x, _truncated_normal_cdf(loc, scale))
    assert (distance < KS_TOLERANCE).all(), distance


def test_truncated_normal_samples_far_in_the_left_tail():
    # loc/σ = −36 (still inverted) and −38, −40, −40 with σ = 2 (Φ(loc/σ) < e^−700: the
    # exponential fallback). The survival ratio Φ((loc − x)/σ)/Φ(loc/σ) comes from the
    # asymptotic series, as erfc underflows there.
    loc = torch.tensor([-36.0, -38.0, -40.0, -80.0], dtype=F64)
    scale = torch.tensor([1.0, 1.0, 1.0, 2.0], dtype=F64)
    truncated = _truncated_normal(loc.tolist(), scale.log().tolist())
    x = truncated.sample(KS_DRAWS, generator=_generator())
    assert torch.isfinite(x).all() and (x >= 0).all()

    def cdf(x):
        return 1 - torch.exp(_far_left_log_ndtr((loc - x) / scale) - _far_left_log_ndtr(loc / scale))

    distance = _ks_distance(x, cdf)
    assert (distance < KS_TOLERANCE).all(), distance
    # The mean σ·(a + φ(a)/Φ(a)) with a = loc/σ is σ·(1/|a| − 2/|a|³ + O(|a|⁻⁵)), about
    # σ²/|loc| = 0.025 for loc = −40, σ = 1 (0.05 with σ = 2); the standard error is 0.3%.
    a = loc / scale
    mean = scale * (1 / a.abs() - 2 / a.abs() ** 3)
    torch.testing.assert_close(x.mean(0), mean, rtol=0.02, atol=0)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_truncated_normal_temperature_multiplies_the_scale_before_truncating(temperature):
    loc, log_scale = [1.0, -0.5, -3.0, -40.0], [0.0, 0.3, -0.2, 0.0]
    tempered = _truncated_normal(loc, log_scale)
    widened = _truncated_normal(loc, [s + math.log(temperature) for s in log_scale])
    x = tempered.sample(1000, temperature=temperature, generator=_generator())
    torch.testing.assert_close(x, widened.sample(1000, generator=_generator()))
    # Not the untempered draws: the truncation point moves in units of σ.
    assert not torch.allclose(x, tempered.sample(1000, generator=_generator()))


def test_truncated_normal_temperature_zero_gives_the_mode():
    truncated = _truncated_normal([1.5, 0.0, -2.0, 0.3], [0.2, -1.0, 0.5, 0.0])
    x = truncated.sample(3, temperature=0.0, generator=_generator())
    assert torch.equal(x, torch.tensor([[1.5, 0.0, 0.0, 0.3]] * 3, dtype=F64))


def test_truncated_normal_gradients_match_the_analytic_ones():
    # ∂/∂loc log p = (x − loc)/σ² − λ/σ and ∂/∂log σ log p = ((x − loc)/σ)² − 1 + a·λ, with
    # a = loc/σ and λ = φ(a)/Φ(a) (Φ through erfc, independent of the runtime).
    loc = torch.tensor([1.0, 0.0, -2.0, -30.0], dtype=F64)
    log_scale = torch.tensor([0.0, 0.4, -0.5, 0.0], dtype=F64)
    truncated = _truncated_normal(loc.tolist(), log_scale.tolist())
    x = torch.tensor([[0.3, 1.2, 0.05, 0.02], [2.0, 0.7, 0.4, 0.1]], dtype=F64)
    truncated.log_prob(x).sum().backward()
    scale = log_scale.exp()
    a = loc / scale
    mills = torch.exp(-0.5 * a.square() - 0.5 * math.log(2 * math.pi) - _erfc_log_ndtr(a))
    standardized = (x - loc) / scale
    expected_loc = (standardized / scale - mills / scale).sum(0)
    expected_log_scale = (standardized.square() - 1 + a * mills).sum(0)
    assert torch.isfinite(truncated.loc.grad).all() and torch.isfinite(truncated.log_scale.grad).all()
    torch.testing.assert_close(truncated.loc.grad, expected_loc)
    torch.testing.assert_close(truncated.log_scale.grad, expected_log_scale)


def test_truncated_normal_in_float32_stays_finite_far_in_the_left_tail():
    # A float32 Φ(a) is 0 below a ≈ −14 (so u·Φ(a) too, and its Φ⁻¹ is −∞): log_prob must
    # still be normalised by it, and the draws made where it is not 0.
    loc, log_scale = [2.0, -3.0, -20.0, -40.0], [0.0, -0.5, 0.0, 0.0]
    single = _truncated_normal(loc, log_scale).float()
    x, log_prob = single.sample_with_log_prob(1000, generator=_generator())
    assert x.dtype == torch.float32 and log_prob.dtype == torch.float32
    assert torch.isfinite(x).all() and (x >= 0).all() and torch.isfinite(log_prob).all()
    double = _truncated_normal(loc, log_scale)
    torch.testing.assert_close(log_prob.double(), double.log_prob(x.double()), rtol=1e-5, atol=1e-3)


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
    snn.TruncatedNormal,
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


# Fresh parameters: the truncated normal has loc 0, where its draws are σ·|ε| as for the half-normal.
@pytest.mark.parametrize("make", [snn.StandardNormal, snn.Normal, snn.HalfNormal, snn.TruncatedNormal])
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


# --- Conditional families and the discrete and logit-normal distributions -------------------

CONTEXT_FEATURES = 3


def _logit_normal_reference(loc, scale):
    return D.TransformedDistribution(D.Normal(loc, scale), [D.SigmoidTransform()])


def _unit_data(batch, shape):
    return torch.rand(batch, *shape, dtype=F64) * 0.98 + 0.01


def test_logit_normal_log_prob():
    logit_normal = _randomise(LogitNormal((2, 3)).double())
    u = _unit_data(5, (2, 3))
    reference = _logit_normal_reference(logit_normal.loc.detach(), logit_normal.log_scale.detach().exp())
    torch.testing.assert_close(logit_normal.log_prob(u), _reference_sum(reference.log_prob(u)))


def test_logit_normal_is_finite_on_the_closed_interval_and_zero_outside():
    logit_normal = LogitNormal((2,)).double()
    closed = torch.tensor([[0.0, 1.0], [0.5, 1.0]], dtype=F64)
    assert torch.isfinite(logit_normal.log_prob(closed)).all()
    outside = torch.tensor([[-0.1, 0.5], [0.5, 1.1]], dtype=F64)
    assert (logit_normal.log_prob(outside) == -math.inf).all()


def test_logit_normal_density_integrates_to_one_on_a_grid():
    logit_normal = LogitNormal((1,)).double()
    with torch.no_grad():
        logit_normal.loc.fill_(0.4)
        logit_normal.log_scale.fill_(-0.3)
    steps = 20000
    u = ((torch.arange(steps, dtype=F64) + 0.5) / steps).unsqueeze(1)
    total = logit_normal.log_prob(u).exp().sum() / steps
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=F64), rtol=0, atol=1e-5)


@pytest.mark.parametrize("index_dtype", [torch.long, torch.int32, F64])
def test_categorical_log_prob_takes_integers_of_any_dtype(index_dtype):
    categorical = _randomise(Categorical((2, 3), num_classes=4).double())
    x = torch.randint(0, 4, (5, 2, 3))
    reference = D.Categorical(logits=categorical.logits.detach().movedim(0, -1))
    expected = _reference_sum(reference.log_prob(x))
    torch.testing.assert_close(categorical.log_prob(x.to(index_dtype)), expected)


def test_categorical_rejects_fewer_than_two_classes():
    with pytest.raises(ValueError, match="num_classes"):
        Categorical((2,), num_classes=1)


@pytest.mark.parametrize("index_dtype", [torch.long, torch.bool, F64])
def test_bernoulli_log_prob(index_dtype):
    bernoulli = _randomise(Bernoulli((2, 3)).double())
    x = torch.randint(0, 2, (5, 2, 3))
    expected = _reference_sum(D.Bernoulli(logits=bernoulli.logits.detach()).log_prob(x.double()))
    torch.testing.assert_close(bernoulli.log_prob(x.to(index_dtype)), expected)


def _standard_log_prob(name, shape, x):
    """The standard point of each family, computed independently of the runtime."""
    if name == "normal":
        return _reference_sum(D.Normal(0.0, 1.0).log_prob(x))
    if name in ("half_normal", "truncated_normal"):
        # The truncated normal starts at loc 0, σ = 1: N(0, 1) restricted to x ≥ 0.
        return _reference_sum(D.HalfNormal(1.0).log_prob(x))
    if name == "logit_normal":
        return _reference_sum(_logit_normal_reference(0.0, 1.0).log_prob(x))
    numel = math.prod(shape)
    classes = 4 if name == "categorical" else 2
    return torch.full((x.shape[0],), -numel * math.log(classes), dtype=F64)


# name → (constructor, parameters per entry P, data on the support).
def _real_data(batch, shape):
    return torch.randn(batch, *shape, dtype=F64)


def _positive_data(batch, shape):
    return torch.rand(batch, *shape, dtype=F64) * 3


def _class_data(batch, shape):
    return torch.randint(0, 4, (batch, *shape))


def _bit_data(batch, shape):
    return torch.randint(0, 2, (batch, *shape))


FAMILIES = {
    "normal": (lambda shape, net=None: Normal(shape, net=net), 2, _real_data),
    "half_normal": (lambda shape, net=None: HalfNormal(shape, net=net), 1, _positive_data),
    "truncated_normal": (lambda shape, net=None: TruncatedNormal(shape, net=net), 2, _positive_data),
    "logit_normal": (lambda shape, net=None: LogitNormal(shape, net=net), 2, _unit_data),
    "categorical": (lambda shape, net=None: Categorical(shape, 4, net=net), 4, _class_data),
    "bernoulli": (lambda shape, net=None: Bernoulli(shape, net=net), 1, _bit_data),
}


def _conditional(name, shape, random=True):
    make, count, _ = FAMILIES[name]
    out = count * math.prod(shape)
    net = random_mlp(CONTEXT_FEATURES, out) if random else MLP(CONTEXT_FEATURES, out, hidden=(8,)).double()
    return make(shape, net=net).double()


def _conditional_reference(name, parameters):
    """torch.distributions built from ``(B, P, *shape)`` parameters, one per example."""
    if name == "normal":
        return D.Normal(parameters[:, 0], parameters[:, 1].exp())
    if name == "half_normal":
        return D.HalfNormal(parameters[:, 0].exp())
    if name == "truncated_normal":
        return _TruncatedNormalReference(parameters[:, 0], parameters[:, 1].exp())
    if name == "logit_normal":
        return _logit_normal_reference(parameters[:, 0], parameters[:, 1].exp())
    if name == "categorical":
        return D.Categorical(logits=parameters.movedim(1, -1))
    return D.Bernoulli(logits=parameters[:, 0])


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
@pytest.mark.parametrize("name", FAMILIES)
def test_conditional_log_prob_reads_the_net_output_parameter_major(name, shape):
    distribution = _conditional(name, shape)
    _, count, data = FAMILIES[name]
    x, context = data(5, shape), torch.randn(5, CONTEXT_FEATURES, dtype=F64)
    with torch.no_grad():
        parameters = distribution.net(context).reshape(5, count, *shape)
    reference = _conditional_reference(name, parameters)
    expected = _reference_sum(reference.log_prob(x.double() if name == "bernoulli" else x))
    torch.testing.assert_close(distribution.log_prob(x, context), expected)


def test_conditional_normal_per_channel_reads_two_parameters_per_channel():
    net = random_mlp(CONTEXT_FEATURES, 2 * 2)
    normal = Normal((2, 3, 4), per="channel", net=net).double()
    x, context = torch.randn(5, 2, 3, 4, dtype=F64), torch.randn(5, CONTEXT_FEATURES, dtype=F64)
    with torch.no_grad():
        parameters = net(context).reshape(5, 2, 2, 1, 1)
    expected = _reference_sum(D.Normal(parameters[:, 0], parameters[:, 1].exp()).log_prob(x))
    torch.testing.assert_close(normal.log_prob(x, context), expected)
    assert normal.sample(5, context, generator=_generator()).shape == (5, 2, 3, 4)


def test_conditional_normal_reads_a_conv_net_output_channel_blocks_as_parameters():
    # A conv net gives (B, P·C, H, W): channel p·C + c is parameter p of channel c.
    net = ConvNet(1, 2 * 2, hidden=4, spatial_dims=2).double()
    with torch.no_grad():
        net.layers[-1].weight.normal_(0.0, 0.5)
        net.layers[-1].bias.normal_(0.0, 0.5)
    normal = Normal((2, 3, 4), net=net).double()
    x, context = torch.randn(5, 2, 3, 4, dtype=F64), torch.randn(5, 1, 3, 4, dtype=F64)
    with torch.no_grad():
        out = net(context)
    expected = _reference_sum(D.Normal(out[:, :2], out[:, 2:].exp()).log_prob(x))
    torch.testing.assert_close(normal.log_prob(x, context), expected)


@pytest.mark.parametrize("name", FAMILIES)
def test_zero_net_output_and_fresh_parameters_give_the_standard_distribution(name):
    shape = (2, 3)
    make, _, data = FAMILIES[name]
    x, context = data(5, shape), torch.randn(5, CONTEXT_FEATURES, dtype=F64)
    expected = _standard_log_prob(name, shape, x.double())
    torch.testing.assert_close(_conditional(name, shape, random=False).log_prob(x, context), expected)
    torch.testing.assert_close(make(shape).double().log_prob(x), expected)


@pytest.mark.parametrize("name", FAMILIES)
def test_conditional_distributions_need_a_context(name):
    distribution = _conditional(name, (2,))
    _, _, data = FAMILIES[name]
    class_name = type(distribution).__name__
    with pytest.raises(ValueError, match=class_name):
        distribution.log_prob(data(3, (2,)))
    with pytest.raises(ValueError, match=class_name):
        distribution.sample(3)


@pytest.mark.parametrize("name", FAMILIES)
def test_conditional_sampling_draws_one_per_context_row(name):
    distribution = _conditional(name, (2, 3))
    context = torch.randn(4, CONTEXT_FEATURES, dtype=F64)
    x, log_prob = distribution.sample_with_log_prob(4, context, generator=_generator())
    assert x.shape == (4, 2, 3) and log_prob.shape == (4,) and torch.isfinite(log_prob).all()
    torch.testing.assert_close(log_prob, distribution.log_prob(x, context))
    with pytest.raises(ValueError, match="num_samples"):
        distribution.sample(3, context)


DISCRETE = [lambda shape: Categorical(shape, 5), Bernoulli]


@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    index=st.integers(0, len(DISCRETE) - 1),
    num_samples=st.integers(1, 5),
)
def test_discrete_samples_are_long_and_in_range(shape, index, num_samples):
    distribution = _randomise(DISCRETE[index](shape).double())
    x, log_prob = distribution.sample_with_log_prob(num_samples, generator=_generator())
    classes = 5 if index == 0 else 2
    assert x.shape == (num_samples, *shape) and x.dtype == torch.long
    assert ((x >= 0) & (x < classes)).all()
    assert log_prob.dtype == F64 and torch.isfinite(log_prob).all()


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), num_samples=st.integers(1, 5))
def test_logit_normal_samples_lie_in_the_open_interval(shape, num_samples):
    logit_normal = LogitNormal(shape)
    with torch.no_grad():
        logit_normal.loc.fill_(30.0)  # float32 sigmoid rounds this to 1 without the clamp
    x, log_prob = logit_normal.sample_with_log_prob(num_samples, generator=_generator())
    assert x.shape == (num_samples, *shape) and x.dtype == torch.float32
    assert ((x > 0) & (x < 1)).all() and torch.isfinite(log_prob).all()


def test_logit_normal_samples_have_the_learned_moments():
    logit_normal = LogitNormal((2,)).double()
    with torch.no_grad():
        logit_normal.loc.copy_(torch.tensor([1.0, -2.0]))
        logit_normal.log_scale.copy_(torch.tensor([0.0, math.log(3.0)]))
    y = torch.logit(logit_normal.sample(40000, generator=_generator()))
    assert torch.allclose(y.mean(0), logit_normal.loc.detach(), atol=4 * 3.0 / 200)
    assert torch.allclose(y.std(0), torch.tensor([1.0, 3.0], dtype=F64), rtol=0.02)


def test_half_normal_conditional_samples_have_the_net_scale():
    net = random_mlp(CONTEXT_FEATURES, 2)
    half = HalfNormal((2,), net=net).double()
    context = torch.randn(1, CONTEXT_FEATURES, dtype=F64).expand(40000, -1)
    x = half.sample(40000, context, generator=_generator())
    with torch.no_grad():
        scale = net(context[:1]).reshape(2).exp()
    # E|N(0, σ²)| = σ·√(2/π); its standard error is below σ/200 here.
    torch.testing.assert_close(x.mean(0), scale * math.sqrt(2 / math.pi), rtol=0, atol=4 * scale.max().item() / 200)


def _conditional_truncated_normal():
    """A conditional truncated normal on shape (2,) whose net output, read as (B, 2, 2), has
    locations near 1.5 and −2 (one on each side of zero) plus a context-dependent part."""
    net = random_mlp(CONTEXT_FEATURES, 2 * 2, scale=0.3)
    with torch.no_grad():
        net.layers[-1].bias.copy_(torch.tensor([1.5, -2.0, -0.3, 0.2]))
    return TruncatedNormal((2,), net=net).double()


def test_truncated_normal_conditional_samples_follow_the_net_parameters_of_their_row():
    truncated = _conditional_truncated_normal()
    rows = torch.randn(2, CONTEXT_FEATURES, dtype=F64)
    context = rows.repeat(KS_DRAWS, 1)  # rows alternate: draw i belongs to context row i mod 2
    x = truncated.sample(2 * KS_DRAWS, context, generator=_generator())
    assert x.shape == (2 * KS_DRAWS, 2) and torch.isfinite(x).all() and (x >= 0).all()
    with torch.no_grad():
        parameters = truncated.net(rows).reshape(2, 2, 2)  # (row, parameter, entry)
    for row in range(2):
        loc, scale = parameters[row, 0], parameters[row, 1].exp()
        distance = _ks_distance(x[row::2], _truncated_normal_cdf(loc, scale))
        assert (distance < KS_TOLERANCE).all(), (row, distance)


def test_truncated_normal_conditional_temperature_zero_gives_each_rows_mode():
    truncated = _conditional_truncated_normal()
    context = torch.randn(5, CONTEXT_FEATURES, dtype=F64)
    with torch.no_grad():
        loc = truncated.net(context).reshape(5, 2, 2)[:, 0]
        x = truncated.sample(5, context, temperature=0.0, generator=_generator())
    assert (loc[:, 0] > 0).all() and (loc[:, 1] < 0).all()  # both sides of the clamp are exercised
    assert torch.equal(x, loc.clamp_min(0.0))


def test_truncated_normal_conditional_needs_a_context_and_one_draw_per_row():
    truncated = _conditional_truncated_normal()
    with pytest.raises(ValueError, match="TruncatedNormal"):
        truncated.sample(3)
    with pytest.raises(ValueError, match="TruncatedNormal"):
        truncated.log_prob(torch.rand(3, 2, dtype=F64))
    with pytest.raises(ValueError, match="num_samples"):
        truncated.sample(4, torch.randn(3, CONTEXT_FEATURES, dtype=F64))
    assert not any(name in ("loc", "log_scale") for name, _ in truncated.named_parameters())


def test_truncated_normal_conditional_gradients_reach_the_net_and_match_the_unconditional_ones():
    # The net's output is (loc, log σ) read as (B, 2, 2), and ∂out/∂(last bias) = I: for one
    # example, the last bias's gradient is an unconditional module's (loc, log σ) gradient at
    # the same parameter values.
    truncated = _conditional_truncated_normal()
    context, x = torch.randn(1, CONTEXT_FEATURES, dtype=F64), torch.tensor([[0.4, 0.9]], dtype=F64)
    with torch.no_grad():
        parameters = truncated.net(context).reshape(2, 2)
    plain = _truncated_normal(parameters[0].tolist(), parameters[1].tolist())
    truncated.log_prob(x, context).sum().backward()
    plain.log_prob(x).sum().backward()
    expected = torch.cat([plain.loc.grad, plain.log_scale.grad])
    torch.testing.assert_close(truncated.net.layers[-1].bias.grad, expected)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in truncated.parameters())


def test_categorical_sample_frequencies_follow_the_softmax():
    categorical = Categorical((1,), num_classes=3).double()
    with torch.no_grad():
        categorical.logits.copy_(torch.tensor([[0.0], [1.0], [-1.0]]))
    x = categorical.sample(40000, generator=_generator())
    frequencies = torch.bincount(x.reshape(-1), minlength=3).double() / 40000
    # Each frequency within 4 standard errors (√(p(1−p)/n) ≤ 0.0025).
    torch.testing.assert_close(frequencies, torch.softmax(categorical.logits.detach()[:, 0], 0), rtol=0, atol=0.01)


def test_categorical_temperature_divides_the_logits():
    logits = torch.tensor([[0.0], [1.0], [-1.0]], dtype=F64)
    net = MLP(CONTEXT_FEATURES, 3, hidden=(4,)).double()
    with torch.no_grad():
        net.layers[-1].bias.copy_(logits[:, 0])
    categorical = Categorical((1,), num_classes=3, net=net).double()
    context = torch.zeros(40000, CONTEXT_FEATURES, dtype=F64)
    x = categorical.sample(40000, context, temperature=2.0, generator=_generator())
    frequencies = torch.bincount(x.reshape(-1), minlength=3).double() / 40000
    torch.testing.assert_close(frequencies, torch.softmax(logits[:, 0] / 2.0, 0), rtol=0, atol=0.01)
    mode = categorical.sample(5, context[:5], temperature=0.0, generator=_generator())
    assert torch.equal(mode, torch.ones(5, 1, dtype=torch.long))


def test_bernoulli_sample_frequencies_and_temperature():
    bernoulli = Bernoulli((2,)).double()
    with torch.no_grad():
        bernoulli.logits.copy_(torch.tensor([1.5, -0.5]))
    logits = bernoulli.logits.detach()
    for temperature in (1.0, 2.0):
        x = bernoulli.sample(40000, temperature=temperature, generator=_generator())
        torch.testing.assert_close(x.double().mean(0), torch.sigmoid(logits / temperature), rtol=0, atol=0.01)
    mode = bernoulli.sample(3, temperature=0.0, generator=_generator())
    assert torch.equal(mode, torch.tensor([[1, 0]] * 3))


def test_logit_normal_temperature_multiplies_the_standard_deviation_before_the_sigmoid():
    logit_normal = _randomise(LogitNormal((50,)).double())
    loc = logit_normal.loc.detach()
    cold = torch.logit(logit_normal.sample(1, temperature=0.5, generator=_generator()))
    warm = torch.logit(logit_normal.sample(1, generator=_generator()))
    torch.testing.assert_close(cold - loc, 0.5 * (warm - loc))


@pytest.mark.parametrize("name", FAMILIES)
def test_conditional_log_prob_trains_the_net(name):
    distribution = _conditional(name, (2,))
    _, _, data = FAMILIES[name]
    distribution.log_prob(data(4, (2,)), torch.randn(4, CONTEXT_FEATURES, dtype=F64)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in distribution.parameters())


def test_conditional_distributions_have_no_unconditional_parameters():
    normal = _conditional("normal", (2,))
    assert all(name.startswith("net.") for name, _ in normal.named_parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", FAMILIES)
def test_new_families_follow_the_module_dtype(name, dtype):
    make, count, _ = FAMILIES[name]
    for distribution in (make((2, 3)), make((2, 3), net=MLP(CONTEXT_FEATURES, count * 6))):
        distribution = distribution.to(dtype)
        context = torch.randn(3, CONTEXT_FEATURES, dtype=dtype)
        x, log_prob = distribution.sample_with_log_prob(3, context, generator=_generator())
        assert log_prob.dtype == dtype
        assert x.dtype == (torch.long if name in ("categorical", "bernoulli") else dtype)


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("name", FAMILIES)
def test_log_prob_compiles_without_graph_breaks(name, conditional):
    make, _, data = FAMILIES[name]
    distribution = _conditional(name, (2, 3)) if conditional else _randomise(make((2, 3)).double())
    x, context = data(4, (2, 3)), torch.randn(4, CONTEXT_FEATURES, dtype=F64)
    torch.testing.assert_close(compiled_fullgraph(distribution.log_prob)(x, context), distribution.log_prob(x, context))


def test_truncated_normal_sample_is_finite_when_the_uniform_draw_is_zero(monkeypatch):
    """torch.rand can return exactly 0 (about 2⁻⁵³ per float64 draw): every branch must still
    give a finite draw on the support."""
    truncated = snn.TruncatedNormal((3,)).double()
    with torch.no_grad():
        truncated.loc.copy_(torch.tensor([1.0, -2.0, -40.0]))

    def zeros(size, **kwargs):
        return torch.zeros(size, dtype=kwargs.get("dtype"))

    monkeypatch.setattr(torch, "rand", zeros)
    draws = truncated.sample(4)
    assert torch.isfinite(draws).all() and (draws >= 0).all()
    assert torch.isfinite(truncated.log_prob(draws)).all()
