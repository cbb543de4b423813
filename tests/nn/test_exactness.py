"""Hand-assembled models: exact ones are normalised densities, bounds are ordered.

Exact models (abs, max_pool, sort + sorted_to_real, slice) must integrate to 1 (a midpoint
grid in 2-D, importance-sampled Monte Carlo in 4-D). For the bound layers (dequantize,
augment, vae, stochastic_permutation) the mean one-sample ELBO lies below the mean
importance-weighted bound with k = 100, which lies below the exact log-likelihood, computed
here in closed form or by quadrature; where the variational distribution is the true
posterior, every one-sample estimate equals the exact value.
"""

import itertools
import math

import pytest
import torch
from torch import distributions as D

from survae_dsl.nn.distributions import (
    Bernoulli,
    HalfNormal,
    LogitNormal,
    Normal,
    StandardNormal,
    TruncatedNormal,
)
from survae_dsl.nn.elementwise import Logit, SoftplusInv
from survae_dsl.nn.nets import MLP
from survae_dsl.nn.ordered import SortedToReal
from survae_dsl.nn.stochastic import VAE, StochasticPermutation
from survae_dsl.nn.surjections import Abs, Augment, Dequantize, MaxPool, Slice, Sort

from .helpers import random_mlp

F64 = torch.float64


def _randomised(distribution, scale=0.3):
    """A distribution whose learned parameters are away from the standard point."""
    with torch.no_grad():
        for parameter in distribution.parameters():
            parameter.normal_(0.0, scale)
    return distribution.double()


def _linear(in_features, out_features, weight, bias):
    """A net that is a single linear map with the given weight and bias."""
    net = MLP(in_features, out_features, hidden=())
    with torch.no_grad():
        net.layers[-1].weight.copy_(torch.tensor(weight))
        net.layers[-1].bias.copy_(torch.tensor(bias))
    return net.double()


# ---------------------------------------------------------------- exact models integrate to 1


def _grid_integral(log_density, half_width=10.0, steps=800):
    """∫ exp(log_density) over [−w, w]² by the midpoint rule; ``log_density`` maps (N, 2) → (N,)."""
    edges = torch.linspace(-half_width, half_width, steps + 1, dtype=F64)
    centres = (edges[:-1] + edges[1:]) / 2
    xx, yy = torch.meshgrid(centres, centres, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    with torch.no_grad():
        density = torch.exp(log_density(points))
    return (density.sum() * (2 * half_width / steps) ** 2).item()


@pytest.mark.parametrize("sign", ["uniform", "learned"])
def test_abs_then_softplus_inv_then_normal_integrates_to_one(sign):
    net = random_mlp(2, 2, scale=1.0) if sign == "learned" else None
    fold = Abs((2,), sign=sign, net=net).double()
    unfold = SoftplusInv((2,)).double()
    base = _randomised(Normal((2,)))

    def log_density(x):
        z, ldj_fold = fold(x)
        y, ldj_unfold = unfold(z)
        return ldj_fold + ldj_unfold + base.log_prob(y)

    assert abs(_grid_integral(log_density) - 1.0) < 0.01


@pytest.mark.parametrize("conditional", [False, True])
def test_max_pool_with_half_normal_gaps_integrates_to_one(conditional):
    decoder = HalfNormal((1, 1), net=random_mlp(1, 1, scale=0.3)) if conditional else HalfNormal((1, 1))
    pool = MaxPool((1, 2), kernel=2, decoder=_randomised(decoder)).double()
    base = _randomised(Normal((1, 1)))

    def log_density(x):
        z, ldj = pool(x.reshape(-1, 1, 2))
        return ldj + base.log_prob(z)

    assert abs(_grid_integral(log_density) - 1.0) < 0.01


@pytest.mark.parametrize("decoder", ["learned", "shifted", "conditional"])
def test_max_pool_with_truncated_normal_gaps_integrates_to_one(decoder):
    if decoder == "conditional":
        gaps = _randomised(TruncatedNormal((1, 1), net=random_mlp(1, 2, scale=0.3)))
    else:
        gaps = _randomised(TruncatedNormal((1, 1)))
    if decoder == "shifted":  # the gap's mode well inside (0, ∞), and a narrow one
        with torch.no_grad():
            gaps.loc.fill_(1.5)
            gaps.log_scale.fill_(-0.5)
    pool = MaxPool((1, 2), kernel=2, decoder=gaps).double()
    base = _randomised(Normal((1, 1)))

    def log_density(x):
        z, ldj = pool(x.reshape(-1, 1, 2))
        return ldj + base.log_prob(z)

    assert abs(_grid_integral(log_density) - 1.0) < 0.01


def test_max_pool_with_truncated_normal_gaps_has_the_density_of_its_sampler():
    # Generative side: m ~ base, gap ~ decoder(· | m), the maximum at a uniform position. The
    # forward log-density at those draws is then log base(m) − log 2 + log p(gap | m), built
    # here from the drawn values without the layer.
    gaps = TruncatedNormal((1, 1), net=random_mlp(1, 2, scale=0.5)).double()
    pool = MaxPool((1, 2), kernel=2, decoder=gaps).double()
    base = _randomised(Normal((1, 1)))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        z = base.sample(500, generator=generator)
        x = pool.inverse(z, generator=generator)
        pooled, ldj = pool(x)
        gap = (x.amax(dim=2) - x.amin(dim=2)).reshape(500, 1, 1)
        loc, log_scale = gaps.net(z).reshape(500, 2).unbind(1)
    torch.testing.assert_close(pooled, z)
    scale = log_scale.exp()
    normal = D.Normal(loc, scale)
    expected = -math.log(2) + normal.log_prob(gap.reshape(500)) - torch.log(1 - normal.cdf(torch.zeros_like(loc)))
    torch.testing.assert_close(ldj, expected)


def test_max_pool_over_a_2x2_window_integrates_to_one():
    # 4-D, so importance sampling: E_q[p/q] = ∫p. q draws a maximum m ~ N(0.3, 1.2²), its
    # position uniformly and three Exp(1) gaps below it; x ↦ (m, position, gaps) has unit
    # Jacobian, so q(x) = N(m)·(1/4)·Π Exp(gap_j), written here without the layer.
    decoder = HalfNormal((3, 1, 1), net=random_mlp(1, 3, scale=0.2))
    pool = MaxPool((1, 2, 2), kernel=2, decoder=decoder).double()
    base = Normal((1, 1, 1)).double()
    with torch.no_grad():
        base.loc.fill_(0.3)
        base.log_scale.fill_(-0.2)
    n = 200_000
    top, gaps = D.Normal(0.3, 1.2).sample((n,)).double(), D.Exponential(1.0).sample((n, 3)).double()
    position = torch.randint(0, 4, (n,))
    x = top[:, None].repeat(1, 4)
    for p in range(4):
        rows = position == p
        x[rows.nonzero()[:, 0, None], [[i for i in range(4) if i != p]]] = top[rows, None] - gaps[rows]
    log_q = D.Normal(0.3, 1.2).log_prob(top) - math.log(4) + D.Exponential(1.0).log_prob(gaps).sum(dim=1)
    with torch.no_grad():
        z, ldj = pool(x.reshape(n, 1, 2, 2))
        ratio = torch.exp(ldj + base.log_prob(z) - log_q)
    torch.testing.assert_close(z.reshape(n), top)
    assert ratio.std().item() / math.sqrt(n) < 0.0025 and abs(ratio.mean().item() - 1.0) < 0.01


@pytest.mark.parametrize("shape", [(2,), (1, 2)])
def test_sort_then_sorted_to_real_integrates_to_one(shape):
    dim = len(shape) - 1
    sort = Sort(shape, dim=dim).double()
    unfold = SortedToReal(shape, dim=dim).double()
    base = Normal(shape).double()
    with torch.no_grad():  # the gap is lognormal: a small log-scale keeps it inside the grid
        base.loc.copy_(torch.tensor([0.2, 0.3]).reshape(shape))
        base.log_scale.copy_(torch.tensor([0.1, -0.5]).reshape(shape))

    def log_density(x):
        z, ldj_sort = sort(x.reshape(-1, *shape))
        y, ldj_unfold = unfold(z)
        return ldj_sort + ldj_unfold + base.log_prob(y)

    assert abs(_grid_integral(log_density) - 1.0) < 0.01


def test_slice_with_a_conditional_decoder_integrates_to_one():
    decoder = Normal((1,), net=random_mlp(1, 2, scale=0.3))
    cut = Slice((2,), keep=1, decoder=decoder).double()
    base = _randomised(Normal((1,)))

    def log_density(x):
        z, ldj = cut(x)
        return ldj + base.log_prob(z)

    assert abs(_grid_integral(log_density) - 1.0) < 0.01


# ---------------------------------------------------------------- bounds are ordered


def _repeat(one_sample, x, copies):
    """``copies`` independent one-sample estimates for each example: ``(copies, B)``."""
    tiled = x.repeat(copies, *([1] * (x.dim() - 1)))
    with torch.no_grad():
        return one_sample(tiled).reshape(copies, x.shape[0])


def _elbo_and_iw(one_sample, x, k=100, repeats=40):
    """Means and standard errors of the one-sample ELBO and of the k-sample iw bound, per
    example, from independent draws: (elbo, elbo_se, iw, iw_se), each ``(B,)``."""
    elbo = _repeat(one_sample, x, k * repeats)
    groups = _repeat(one_sample, x, k * repeats).reshape(repeats, k, x.shape[0])
    iw = torch.logsumexp(groups, dim=1) - math.log(k)
    return elbo.mean(0), elbo.std(0) / math.sqrt(k * repeats), iw.mean(0), iw.std(0) / math.sqrt(repeats)


def _assert_ordered(one_sample, x, exact):
    """ELBO ≤ iw(k=100) ≤ exact for every example up to four standard errors of Monte Carlo
    noise, and the iw bound strictly above the ELBO on average over the examples."""
    elbo, elbo_se, iw, iw_se = _elbo_and_iw(one_sample, x)
    noise = torch.sqrt(elbo_se**2 + iw_se**2)
    assert (elbo <= iw + 4 * noise).all()
    assert (iw <= exact + 4 * iw_se + 1e-9).all()
    assert (iw - elbo).mean() > 4 * noise.square().sum().sqrt() / len(noise)


def _logit_normal_cell_log_prob(x, num_classes, base):
    """log P(x) of the categorical that dequantization of a logit-normal density induces:
    Σ_d log[Φ((logit((x+1)/K) − μ)/σ) − Φ((logit(x/K) − μ)/σ)]."""
    loc, scale = base.loc.detach(), base.log_scale.detach().exp()
    upper = torch.special.ndtr((torch.logit((x + 1.0) / num_classes) - loc) / scale)
    lower = torch.special.ndtr((torch.logit(x / num_classes) - loc) / scale)
    return torch.log(upper - lower).sum(dim=1)


@pytest.mark.parametrize("variational", [False, True])
def test_dequantize_bounds_a_known_categorical(variational):
    k = 4
    encoder = LogitNormal((2,), net=random_mlp(2, 4)) if variational else None
    dequantize = Dequantize((2,), num_classes=k, encoder=encoder).double()
    logit = Logit((2,)).double()
    base = Normal((2,)).double()
    with torch.no_grad():
        base.loc.copy_(torch.tensor([0.8, -1.0]))
        base.log_scale.copy_(torch.tensor([-0.7, 0.3]))

    def one_sample(x):
        z, ldj_dequantize = dequantize(x)
        y, ldj_logit = logit(z)
        return ldj_dequantize + ldj_logit + base.log_prob(y)

    x = torch.tensor(list(itertools.product(range(k), repeat=2)))
    exact = _logit_normal_cell_log_prob(x.double(), k, base)
    torch.testing.assert_close(exact.exp().sum(), torch.tensor(1.0, dtype=F64))
    _assert_ordered(one_sample, x, exact)


def _augmented_gaussian(encoder, mixing):
    """h ∈ R → augment a → (h, a + c·h) ~ N(0, I): the marginal of h is N(0, 1) for every c."""
    augment = Augment((1,), size=1, encoder=encoder).double()
    base = StandardNormal((2,)).double()

    def one_sample(h):
        z, ldj = augment(h)
        mixed = torch.cat([z[:, :1], z[:, 1:] + mixing * z[:, :1]], dim=1)
        return ldj + base.log_prob(mixed)

    return one_sample


def test_augment_with_the_true_posterior_is_exact_for_every_sample():
    h = torch.linspace(-3, 3, 7, dtype=F64).unsqueeze(1)
    values = _repeat(_augmented_gaussian(StandardNormal((1,)), 0.0), h, 50)
    exact = D.Normal(0.0, 1.0).log_prob(h[:, 0])
    torch.testing.assert_close(values, exact.expand(50, 7))


@pytest.mark.parametrize("conditional", [False, True])
def test_augment_bounds_the_gaussian_marginal(conditional):
    encoder = Normal((1,), net=random_mlp(1, 2, scale=0.3)) if conditional else StandardNormal((1,))
    one_sample = _augmented_gaussian(encoder, 1.5)
    h = torch.tensor([[-2.0], [-0.7], [0.8], [2.5]], dtype=F64)
    exact = D.Normal(0.0, 1.0).log_prob(h[:, 0])
    _assert_ordered(one_sample, h, exact)
    if not conditional:
        # q = N(0, 1) against the true posterior N(−c·h, 1): the gap is KL = c²h²/2.
        elbo = _repeat(one_sample, h, 20_000)
        analytic = exact - 1.5**2 * h[:, 0] ** 2 / 2
        assert ((elbo.mean(0) - analytic).abs() < 4 * elbo.std(0) / math.sqrt(20_000)).all()


def _linear_gaussian_vae(encoder_net):
    """z ~ N(0, 1), h | z ~ N(w·z + b, σ²) with w = 2, b = 0.5, σ = 0.5: h ~ N(b, w² + σ²)."""
    decoder = Normal((1,), net=_linear(1, 2, [[2.0], [0.0]], [0.5, math.log(0.5)]))
    vae = VAE((1,), (1,), encoder=Normal((1,), net=encoder_net), decoder=decoder).double()
    prior = StandardNormal((1,)).double()

    def one_sample(h):
        z, ldj = vae(h)
        return ldj + prior.log_prob(z)

    return one_sample


_VAE_H = torch.tensor([[-3.0], [-1.0], [0.5], [2.0], [4.0]], dtype=F64)
_VAE_EXACT = D.Normal(0.5, math.sqrt(4.25)).log_prob(_VAE_H[:, 0])


def test_vae_with_the_true_posterior_is_exact_for_every_sample():
    # z | h ~ N(w(h − b)/(w² + σ²), σ²/(w² + σ²)) = N((2h − 1)/4.25, 0.25/4.25).
    posterior = _linear(1, 2, [[2.0 / 4.25], [0.0]], [-1.0 / 4.25, 0.5 * math.log(0.25 / 4.25)])
    values = _repeat(_linear_gaussian_vae(posterior), _VAE_H, 50)
    torch.testing.assert_close(values, _VAE_EXACT.expand(50, 5))


def test_vae_bounds_the_linear_gaussian_marginal():
    _assert_ordered(_linear_gaussian_vae(MLP(1, 2)), _VAE_H, _VAE_EXACT)


def test_vae_on_binary_data_bounds_the_quadrature_marginal():
    weight, bias = [[1.5], [-2.0], [0.5]], [0.3, -0.4, 1.0]
    decoder = Bernoulli((3,), net=_linear(1, 3, weight, bias))
    encoder = Normal((1,), net=random_mlp(3, 2, scale=0.3))
    vae = VAE((3,), (1,), encoder=encoder, decoder=decoder, num_classes=2).double()
    prior = StandardNormal((1,)).double()

    def one_sample(h):
        z, ldj = vae(h)
        return ldj + prior.log_prob(z)

    h = torch.tensor(list(itertools.product(range(2), repeat=3)))
    # P(h) = ∫ N(z) Π_d Bernoulli(h_d | σ(w_d z + b_d)) dz by the trapezoid rule on [−12, 12].
    z = torch.linspace(-12, 12, 24_001, dtype=F64)
    logits = torch.tensor(weight, dtype=F64)[:, 0] * z[:, None] + torch.tensor(bias, dtype=F64)
    signs = 2.0 * h.double() - 1.0
    log_joint = torch.nn.functional.logsigmoid(signs[:, None, :] * logits[None]).sum(-1)
    log_joint = log_joint + D.Normal(0.0, 1.0).log_prob(z)
    exact = torch.log(torch.trapezoid(log_joint.exp(), z, dim=1))
    torch.testing.assert_close(exact.exp().sum(), torch.tensor(1.0, dtype=F64))
    _assert_ordered(one_sample, h, exact)


def test_stochastic_permutation_bounds_the_symmetrised_density():
    layer = StochasticPermutation((1, 3), dim=1).double()
    base = Normal((1, 3)).double()
    with torch.no_grad():
        base.loc.copy_(torch.tensor([[-1.0, 0.0, 1.5]]))
        base.log_scale.copy_(torch.tensor([[0.0, -0.3, 0.2]]))

    def one_sample(x):
        z, ldj = layer(x)
        return ldj + base.log_prob(z)

    x = torch.tensor([[[0.5, -1.2, 1.0]], [[2.0, 0.0, -1.0]], [[-0.3, 0.1, 0.4]]], dtype=F64)
    # p(x) = (1/3!) Σ_π p_base(π·x): the generative side permutes a base draw uniformly.
    with torch.no_grad():
        terms = torch.stack([base.log_prob(x[:, :, list(perm)]) for perm in itertools.permutations(range(3))])
    exact = torch.logsumexp(terms, dim=0) - math.log(6)
    _assert_ordered(one_sample, x, exact)
