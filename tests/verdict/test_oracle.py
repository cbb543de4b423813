"""The oracle's own correctness: hand-written normalised densities integrate to 1 on every
domain in 1-D to 4-D (and discrete and mixed inputs), and the same densities scaled by 0.9 or
1.1 are caught — an oracle that passes everything would test nothing."""

import math

import pytest
import torch
from torch import distributions as D

from .oracle import (
    F64,
    InputSpec,
    Target,
    integrate,
    parse_spec,
    t_to_x,
    verdict_holds,
    x_to_t,
)

REAL, POSITIVE, UNIT = (-math.inf, math.inf), (0.0, math.inf), (0.0, 1.0)


def _spec(name, shape, bounds):
    return InputSpec(name, shape, "interval", *bounds)


def _normal(loc, scale):
    return D.Normal(torch.tensor(loc, dtype=F64), torch.tensor(scale, dtype=F64))


# Each case: (specs, log-density of the inputs list, sampler or None). Densities are products
# of independent parts or explicit mixtures; samplers are used only to place grids.
def _real_mixture_1d():
    parts = D.MixtureSameFamily(D.Categorical(torch.tensor([0.3, 0.7], dtype=F64)), _normal([-3.0, 2.0], [0.4, 1.5]))
    return [_spec("x", (1,), REAL)], lambda xs: parts.log_prob(xs[0][:, 0]), lambda n: [parts.sample((n, 1))]


def _edge_unit_1d():
    # A logit-normal whose mass sits at 1e-12: only a log/logit change of variables sees it.
    base = _normal(math.log(1e-12), 0.5)

    def log_p(xs):
        x = xs[0][:, 0]
        return base.log_prob(torch.logit(x)) - torch.log(x) - torch.log1p(-x)

    return [_spec("u", (1,), UNIT)], log_p, lambda n: [torch.sigmoid(base.sample((n, 1)))]


def _gamma_positive_1d():
    gamma = D.Gamma(torch.tensor(0.7, dtype=F64), torch.tensor(2.0, dtype=F64))  # infinite at 0
    return [_spec("p", (1,), POSITIVE)], lambda xs: gamma.log_prob(xs[0][:, 0]), None


def _real_by_positive_2d():
    a, b = _normal(0.5, 2.0), D.LogNormal(torch.tensor(-1.0, dtype=F64), torch.tensor(0.8, dtype=F64))
    specs = [_spec("x", (1,), REAL), _spec("p", (1,), POSITIVE)]
    return specs, lambda xs: a.log_prob(xs[0][:, 0]) + b.log_prob(xs[1][:, 0]), None


def _correlated_2d():
    cov = torch.tensor([[1.0, 0.95], [0.95, 1.0]], dtype=F64)
    mvn = D.MultivariateNormal(torch.tensor([1.0, -1.0], dtype=F64), cov)
    return [_spec("x", (2,), REAL)], lambda xs: mvn.log_prob(xs[0]), lambda n: [mvn.sample((n,))]


def _far_narrow_mode_2d():
    # 5% of the mass 300σ away: both grid scales miss it alike; the importance-sampling
    # cross-check, fitted to samples, overrules the grid.
    loc = torch.tensor([[0.0, 0.0], [300.0, -300.0]], dtype=F64)
    parts = D.MixtureSameFamily(
        D.Categorical(torch.tensor([0.95, 0.05], dtype=F64)), D.Independent(D.Normal(loc, torch.ones_like(loc)), 1)
    )
    return [_spec("x", (2,), REAL)], lambda xs: parts.log_prob(xs[0]), lambda n: [parts.sample((n,))]


def _unit_by_interval_2d():
    beta = D.Beta(torch.tensor(2.0, dtype=F64), torch.tensor(0.5, dtype=F64))  # infinite at 1
    specs = [_spec("u", (1,), UNIT), _spec("v", (1,), (-4.0, 4.0))]

    def log_p(xs):
        return beta.log_prob(xs[0][:, 0]) + beta.log_prob((xs[1][:, 0] + 4) / 8) - math.log(8)

    return specs, log_p, None


def _mvn_3d():
    cov = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 0.5]], dtype=F64)
    mvn = D.MultivariateNormal(torch.tensor([0.0, 3.0, -2.0], dtype=F64), cov)
    return [_spec("x", (3,), REAL)], lambda xs: mvn.log_prob(xs[0]), lambda n: [mvn.sample((n,))]


def _mixed_domains_3d():
    a, b = _normal(0.0, 1.0), D.Gamma(torch.tensor(3.0, dtype=F64), torch.tensor(1.0, dtype=F64))
    beta = D.Beta(torch.tensor(2.0, dtype=F64), torch.tensor(3.0, dtype=F64))
    specs = [_spec("x", (1,), REAL), _spec("p", (1,), POSITIVE), _spec("u", (1,), UNIT)]

    def log_p(xs):
        return a.log_prob(xs[0][:, 0]) + b.log_prob(xs[1][:, 0]) + beta.log_prob(xs[2][:, 0])

    def sample(n):
        return [a.sample((n, 1)), b.sample((n, 1)), beta.sample((n, 1))]

    return specs, log_p, sample


def _mixture_4d():
    loc = torch.tensor([[2.0, 0.0, 0.0, 1.0], [-2.0, 1.0, 0.5, -1.0]], dtype=F64)
    parts = D.MixtureSameFamily(
        D.Categorical(torch.tensor([0.5, 0.5], dtype=F64)), D.Independent(D.Normal(loc, torch.full_like(loc, 0.7)), 1)
    )
    specs = [_spec("x", (2, 2), REAL)]
    return specs, lambda xs: parts.log_prob(xs[0].reshape(-1, 4)), lambda n: [parts.sample((n,)).reshape(n, 2, 2)]


def _positive_4d_no_sampler():
    lognormal = D.LogNormal(torch.tensor(0.0, dtype=F64), torch.tensor(0.5, dtype=F64))
    return [_spec("p", (4,), POSITIVE)], lambda xs: lognormal.log_prob(xs[0]).sum(dim=1), None


def _categorical_discrete():
    probs = torch.tensor([[0.1, 0.6, 0.3], [0.2, 0.2, 0.6]], dtype=F64)
    spec = InputSpec("k", (2,), "int", classes=3)
    return [spec], lambda xs: torch.log(probs[[0, 1], xs[0]]).sum(dim=1), None


def _discrete_and_continuous():
    # k ∈ {0, 1}; x | k ~ N(3k, 1); a mixture: sum over k of ∫ p(k, x) dx.
    spec_k, spec_x = InputSpec("k", (1,), "int", classes=2), _spec("x", (1,), REAL)

    def log_p(xs):
        k = xs[0][:, 0]
        return torch.log(torch.where(k == 1, 0.25, 0.75).to(F64)) + _normal(0.0, 1.0).log_prob(xs[1][:, 0] - 3.0 * k)

    return [spec_k, spec_x], log_p, None


CASES = {
    "1d-real-mixture": _real_mixture_1d,
    "1d-unit-mass-at-1e-12": _edge_unit_1d,
    "1d-positive-gamma-infinite-at-0": _gamma_positive_1d,
    "2d-real-x-positive": _real_by_positive_2d,
    "2d-correlated": _correlated_2d,
    "2d-unit-x-interval": _unit_by_interval_2d,
    "2d-far-narrow-mode": _far_narrow_mode_2d,
    "3d-correlated": _mvn_3d,
    "3d-real-positive-unit": _mixed_domains_3d,
    "4d-mixture": _mixture_4d,
    "4d-positive-no-sampler": _positive_4d_no_sampler,
    "discrete": _categorical_discrete,
    "discrete-and-continuous": _discrete_and_continuous,
}


def _target(case, factor=1.0, random=False):
    specs, log_p, sample = CASES[case]()

    def scaled(xs):
        value = log_p(xs) + math.log(factor)
        if random:  # a noisy bound: log_prob minus |noise|, so exp(mean) is below the density
            value = value - torch.randn(value.shape, dtype=F64).abs()
        return value

    return Target(specs, scaled, sample, random=random)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.slow
def test_normalised_density_integrates_to_one(case):
    torch.manual_seed(0)
    estimate = integrate(_target(case))
    assert verdict_holds("exact", estimate), f"{case}: {estimate}"
    assert verdict_holds("lower_bound", estimate), f"{case}: {estimate}"


@pytest.mark.parametrize("factor", [0.9, 1.1])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.slow
def test_scaled_density_is_caught(case, factor):
    torch.manual_seed(0)
    estimate = integrate(_target(case, factor))
    assert not verdict_holds("exact", estimate), f"{case} × {factor}: {estimate}"
    assert verdict_holds("lower_bound", estimate) == (factor < 1), f"{case} × {factor}: {estimate}"


@pytest.mark.parametrize("case", ["1d-real-mixture", "2d-correlated", "discrete"])
@pytest.mark.slow
def test_random_log_prob_is_averaged_in_log_space(case):
    # log p − |ε|: exp(mean over draws) < p, so the integral is a bound below 1, and averaging
    # in log space (not in probability space) is what the oracle promises.
    estimate = integrate(_target(case, random=True), draws=8)
    assert estimate.value < 1 - 0.3, estimate
    assert verdict_holds("lower_bound", estimate)


def test_changes_of_variables_round_trip():
    lo = torch.tensor([-math.inf, 0.0, 0.0, -4.0, 1.0, -math.inf], dtype=F64)
    hi = torch.tensor([math.inf, math.inf, 1.0, 4.0, math.inf, 2.0], dtype=F64)
    t = torch.randn(100, 6, dtype=F64) * 3
    x, log_jac = t_to_x(t, lo, hi)
    torch.testing.assert_close(x_to_t(x, lo, hi), t)

    def x_of(row):
        return t_to_x(row[None], lo, hi)[0][0]

    jac = torch.stack([torch.autograd.functional.jacobian(x_of, row).det() for row in t[:5]])
    torch.testing.assert_close(log_jac[:5], jac.abs().log())


def test_types_are_read_as_the_compiled_class_spells_them():
    assert parse_spec("x", "real[2, 3]") == InputSpec("x", (2, 3), "interval")
    assert parse_spec("u", "unit[1]") == InputSpec("u", (1,), "interval", 0.0, 1.0)
    assert parse_spec("p", "positive[4]") == InputSpec("p", (4,), "interval", 0.0, math.inf)
    assert parse_spec("v", "interval(-4, 4.5)[2]") == InputSpec("v", (2,), "interval", -4.0, 4.5)
    assert parse_spec("k", "int<17>[1, 8, 8]") == InputSpec("k", (1, 8, 8), "int", classes=17)
